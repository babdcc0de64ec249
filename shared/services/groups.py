"""Groups and members: POST /api/groups makes one Kaizala group per request identity.

The life of a creation:
1. The identity: the `Idempotency-Key` header, else the regarding record, else the content.
   An insert-only claim row (`groups` table, `creating`) is taken before any Kaizala call; a
   repeat loses the insert and is answered from the row (200, no Kaizala call), a different
   request under an explicit key is a 409.
2. `CreateGroup` with the first 100 numbers (Kaizala's documented limit per call), the group id
   noted on the claim at once, then `AddMembers` in batches of 100 for the rest.
3. The group is registered (so the hourly webhook sync keeps its subscription), the claim
   completed, and the bridge's webhook subscription created on it (201).

Failures: Kaizala refused the create (4xx, throttled, not onboarded) -> the claim is dropped and
a retry starts afresh. Outcome unknown (timeout, 5xx) -> the claim stays `creating`; a retry
after `STALE_CREATING_SECONDS` looks for an unregistered group of that name among the
connector's groups and adopts it (one), creates it (none), or refuses (several), so a group is
never created twice. A failure after Kaizala created the group (members, storage) leaves the
group id on the claim and marks it resumable: the retry goes on from there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from shared.adapters.kaizala import (
    KaizalaClient,
    KaizalaError,
    KaizalaNotFoundError,
    KaizalaServerError,
    KaizalaTransportError,
)
from shared.clock import Clock, now_ms, wall
from shared.config import Settings
from shared.domain.actions import SkippedMember
from shared.domain.groups import (
    MEMBERS_PER_CALL,
    CreateGroupRequest,
    GroupCreatedOut,
    GroupType,
    MemberOut,
    MembersAdded,
    MembersOut,
    batches,
    group_key,
)
from shared.errors import ConflictError, NotFoundError, UnavailableError, UpstreamError
from shared.logsafe import log_value
from shared.services.subscriptions import CallbackTokenSource, subscribe_group
from shared.stores.groups import GroupClaim, GroupRecord, GroupStore

log = logging.getLogger(__name__)

STALE_CREATING_SECONDS = 120.0  # longer than one Kaizala call may take (60 s read timeout)
DUPLICATE_WAIT_SECONDS = 10.0
DUPLICATE_POLL_SECONDS = 0.1
DEFAULT_GROUP_TYPE: GroupType = "Group"

Ready = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class GroupOutcome:
    http_status: int
    body: GroupCreatedOut
    record: GroupRecord


class GroupService:
    def __init__(
        self,
        store: GroupStore,
        kaizala: KaizalaClient,
        callbacks: CallbackTokenSource,
        settings: Settings,
        *,
        clock: Clock = wall,
        ready: Ready | None = None,
    ) -> None:
        self._store = store
        self._kaizala = kaizala
        self._callbacks = callbacks
        self._settings = settings
        self._clock = clock
        # The access token first: a token-service failure then is known to have created nothing.
        self._ready = ready

    async def create(
        self,
        req: CreateGroupRequest,
        idempotency_key: str | None,
        *,
        conversation: bool | None = None,
        skipped: Sequence[SkippedMember] = (),
        any_request: bool = False,
    ) -> GroupOutcome:
        """POST /api/groups. `any_request`: whatever holds the key is this group (a record's
        one group, whoever asked first); `conversation` defaults to "has a regarding record"."""
        # Subscribing is part of creating: without a callback URL nothing is created at all.
        self._settings.require("WEBHOOK_CALLBACK_URL")
        key, rhash, explicit = group_key(req, idempotency_key)
        if conversation is None:
            conversation = req.regarding is not None
        job = _Job(req, key, conversation, tuple(skipped))
        deadline = self._clock() + DUPLICATE_WAIT_SECONDS
        while True:
            if await self._store.claim(key, rhash, now_ms(self._clock)):
                claim = await self._store.get_claim(key)
                if claim is not None:
                    return await self._run(job, claim, recover=False)
                continue
            claim = await self._store.get_claim(key)
            if claim is None:
                continue  # dropped after a refused create: try the claim again
            if explicit and not any_request and claim.request_hash != rhash:
                raise ConflictError(
                    "This key (or regarding record) already belongs to a different group request.",
                    extra={"groupId": claim.group_id} if claim.group_id else None,
                )
            if claim.status == "created":
                return await self._replay(job, claim)
            if self._clock() - claim.created_ms / 1000 >= STALE_CREATING_SECONDS:
                taken = await self._store.take_over(claim, now_ms(self._clock))
                if taken is not None:
                    return await self._run(job, taken, recover=not taken.group_id)
                continue
            if self._clock() > deadline:
                raise UnavailableError("The group is still being created; retry.", retry_after=5)
            await asyncio.sleep(DUPLICATE_POLL_SECONDS)

    async def _replay(self, job: _Job, claim: GroupClaim) -> GroupOutcome:
        record = await self._store.find(claim.group_id) or GroupRecord(claim.group_id, job.req.name)
        body = GroupCreatedOut(groupId=claim.group_id, name=record.name, members=job.count)
        return GroupOutcome(200, body, record)

    async def _run(self, job: _Job, claim: GroupClaim, *, recover: bool) -> GroupOutcome:
        numbers = job.req.numbers()
        group_id = claim.group_id
        adopted = None if group_id or not recover else await self._adopt(job)
        if group_id:
            # Resumed: the create (with the first batch) went through; the batches may not have.
            rest = numbers[MEMBERS_PER_CALL:]
        elif adopted:
            group_id = adopted
            claim = await self._note(claim, group_id)
            rest = numbers  # which numbers the unconfirmed create added is unknown: all again
        else:
            group_id = await self._create(job, claim, numbers[:MEMBERS_PER_CALL])
            rest = numbers[MEMBERS_PER_CALL:]
        regarding = job.req.regarding
        record = GroupRecord(
            group_id=group_id,
            name=job.req.name,
            regarding_entity=regarding.entityType if regarding else "",
            regarding_id=regarding.id if regarding else "",
            conversation=job.conversation,
            created_ms=now_ms(self._clock),
            skipped=job.skipped,
        )
        try:
            for batch in batches(rest):
                await self._kaizala.add_members(group_id, batch)
            await self._store.register(record)
            await self._store.complete_claim(job.key, group_id)
        except Exception:
            # Kaizala holds the group: mark the claim resumable, so that the next attempt goes
            # on from here at once (never a second group).
            fresh = await self._store.get_claim(job.key)
            if fresh is not None and fresh.status == "creating":
                await self._store.take_over(fresh, 0)
            raise
        log.info("group %s created (%d members)", log_value(group_id), job.count)
        await self._subscribe(group_id, job.conversation)
        body = GroupCreatedOut(groupId=group_id, name=job.req.name, members=job.count)
        return GroupOutcome(201, body, record)

    async def _create(self, job: _Job, claim: GroupClaim, first: list[str]) -> str:
        req = job.req
        try:
            if self._ready is not None:
                await self._ready()
            created = await self._kaizala.create_group(
                req.name,
                welcome_message=req.welcomeMessage or f"Welcome to {req.name}.",
                members=first,
                group_type=req.groupType or DEFAULT_GROUP_TYPE,
            )
        except (KaizalaTransportError, KaizalaServerError) as exc:
            # The POST may have reached Kaizala: keep the claim; a later retry looks it up.
            log.warning(
                "group create for %s: outcome unknown (%s)",
                job.key_for_log,
                log_value(str(exc), 500),
            )
            raise UnavailableError(
                "Kaizala did not confirm the group; retry the same request in two minutes.",
                retry_after=STALE_CREATING_SECONDS,
            ) from None
        except Exception:
            # Refused, throttled or not sent at all: nothing was created; a retry starts afresh.
            # (A cancellation is not caught: the POST may be under way, so the claim stays.)
            await self._store.release_claim(claim)
            raise
        await self._note(claim, created.groupId)
        return created.groupId

    async def _note(self, claim: GroupClaim, group_id: str) -> GroupClaim:
        if not await self._store.record_group(claim, group_id):
            log.warning("group %s: its claim changed meanwhile", log_value(group_id))
        return await self._store.get_claim(claim.key) or claim

    async def _adopt(self, job: _Job) -> str | None:
        """The group a lost create made, if Kaizala has exactly one unregistered of that name."""
        found = [
            g.groupId
            for g in await self._kaizala.list_groups()
            if g.groupName == job.req.name and await self._store.find(g.groupId) is None
        ]
        if len(found) > 1:
            raise UpstreamError(
                f"Kaizala has {len(found)} unregistered groups named like this one; "
                "not creating another (use a new Idempotency-Key once resolved)."
            )
        if found:
            log.info("group %s adopted after an unconfirmed create", log_value(found[0]))
        return found[0] if found else None

    async def _subscribe(self, group_id: str, conversation: bool) -> None:
        try:
            await subscribe_group(
                self._kaizala, self._callbacks, self._settings, group_id, conversation
            )
        except KaizalaError as exc:
            # The group is registered: reconcile_webhooks subscribes it on its next run.
            log.warning(
                "group %s: webhook subscription failed: %s",
                log_value(group_id),
                log_value(str(exc), 500),
            )

    # --- members ---------------------------------------------------------------------------

    async def list_members(self, group_id: str) -> MembersOut:
        try:
            members = await self._kaizala.list_members(group_id)
        except KaizalaNotFoundError:
            raise NotFoundError("No Kaizala group with that id.") from None
        return MembersOut(
            groupId=group_id,
            members=[
                MemberOut(id=m.id, mobileNumber=m.mobileNumber, name=m.name, role=m.role)
                for m in members
            ],
        )

    async def add_members(self, group_id: str, numbers: list[str]) -> MembersAdded:
        try:
            for batch in batches(numbers):
                await self._kaizala.add_members(group_id, batch)
        except KaizalaNotFoundError:
            raise NotFoundError("No Kaizala group with that id.") from None
        return MembersAdded(groupId=group_id, members=len(numbers))

    async def remove_member(self, group_id: str, member_id: str) -> None:
        try:
            await self._kaizala.remove_member(group_id, member_id)
        except KaizalaNotFoundError:
            raise NotFoundError("No such member in that Kaizala group.") from None


@dataclass(frozen=True)
class _Job:
    """One creation request as the steps above need it."""

    req: CreateGroupRequest
    key: str
    conversation: bool
    skipped: tuple[SkippedMember, ...]

    @property
    def count(self) -> int:
        return len(self.req.numbers())

    @property
    def key_for_log(self) -> str:
        # A caller's Idempotency-Key is request data: bounded and escaped in a log line.
        return log_value(self.key, 80)
