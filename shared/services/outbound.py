"""Sending actions to Kaizala: exactly once, never lost, within the throttle, in order.

The life of one request (`send`):
1. Validate and render (template) the Kaizala request; derive the correlation id from the
   idempotency key (the `Idempotency-Key` header, else a hash of the request content).
2. Claim: an insert-only row in `actions` keyed by the correlation id, status `sending`. A repeat
   (or a concurrent duplicate) loses the insert and is answered from that row instead.
3. If the outbox holds older work, or the shared budget has no room, the request joins the
   outbox (`queued`, 202). Otherwise one Kaizala call; on success the `actionindex` row (actionId
   → correlation, read by the webhook side) is written first, then the action row (`sent`, 201).

The crash window between the Kaizala call and the status write is closed by reconciliation:
a row left in `sending` for more than `STALE_SENDING_SECONDS` is looked up in Kaizala (the group's
actions of that type since the send started, matched by title and not already correlated). One
match is adopted, none means it was never created and it is queued again, several are left
`failed` for an operator rather than risking a second send. Kaizala cannot list plain messages,
so a Message in that state is marked `failed` (never sent twice; visible in GET /api/actions).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.adapters.kaizala import (
    KaizalaAuthError,
    KaizalaClient,
    KaizalaError,
    KaizalaRateLimitedError,
    KaizalaServerError,
    KaizalaTransportError,
)
from shared.adapters.tables import Stored, TableStore, expire_rows, pack_blob, unpack_blob
from shared.domain.actions import (
    ActionAccepted,
    ActionStatus,
    BodyError,
    Regarding,
    SendActionRequest,
    validate_body,
)
from shared.domain.templates import render
from shared.errors import BridgeError, ConflictError, NotFoundError, UpstreamError, ValidationError
from shared.services.tokens import NotOnboardedError

log = logging.getLogger(__name__)

ACTIONS = "actions"
INDEX = "actionindex"
OUTBOX = "outbox"
BUDGET = "budget"
LEASES = "leases"
OUTBOX_PK = "q"
CORRELATION_NS = uuid.UUID("6f1c1d1e-4b7a-4f5e-9d2c-8a3b7c6d5e4f")
STALE_SENDING_SECONDS = 120.0
DUPLICATE_WAIT_SECONDS = 10.0
Clock = Callable[[], float]


class ActionFailedError(UpstreamError):
    slug = "action-failed"
    title = "Kaizala refused the action"


class NotSentError(Exception):
    """Raised to the drainer: the action was certainly not created; it stays queued."""

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Prepared:
    group_id: str
    action_type: str
    action_package_id: str | None
    body: dict[str, Any]
    template: str | None
    regarding: Regarding

    @property
    def title(self) -> str:
        b = self.body
        return str(b.get("title") or b.get("question") or b.get("Title") or b.get("message") or "")[
            :200
        ]


def prepare(req: SendActionRequest) -> Prepared:
    if req.template is not None:
        action_type, raw_body = render(req.template, dict(req.variables or {}))
    else:
        # the model guarantees both are present without a template
        assert req.actionType is not None
        assert req.actionBody is not None
        action_type, raw_body = req.actionType, req.actionBody
    try:
        body = validate_body(action_type, raw_body)
    except BodyError as exc:
        first = exc.errors[0]
        msg = f"Invalid field {first['field']}: {first['message']}"
        raise ValidationError(msg, exc.errors) from None
    return Prepared(
        req.groupId, action_type, req.actionPackageId, body, req.template, req.regarding
    )


def request_hash(req: SendActionRequest) -> str:
    canonical = json.dumps(req.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def correlation_id_for(key: str) -> str:
    return str(uuid.uuid5(CORRELATION_NS, key))


def _ms(clock: Clock) -> int:
    return int(clock() * 1000)


def _iso(ms: Any) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).isoformat(timespec="seconds")


class Budget:
    """Kaizala calls allowed per window, shared by every instance through table storage.

    The window is cut into `slots` slots with `per_window // (slots + 1)` calls each, so any
    window-long interval (which overlaps at most slots + 1 slots) stays under the budget however
    Kaizala aligns its own window. Rows are reused cyclically, so the table stays small.
    """

    def __init__(
        self,
        tables: TableStore,
        per_window: int,
        window_seconds: float,
        *,
        slots: int = 10,
        clock: Clock = time.time,
    ) -> None:
        self._tables = tables
        self.slot_seconds = window_seconds / slots
        self.per_slot = max(1, per_window // (slots + 1))
        self._clock = clock
        self._lock = asyncio.Lock()  # one contender per process; CAS handles the others

    async def try_acquire(self) -> float:
        """0 when a call may be made now, else the seconds until the next slot opens."""
        async with self._lock:
            for _ in range(8):
                now = self._clock()
                slot = int(now // self.slot_seconds)
                rk = str(slot % 64)
                row = await self._tables.get(BUDGET, "kaizala", rk)
                fresh = {"PartitionKey": "kaizala", "RowKey": rk, "slot": slot, "count": 1}
                if row is None:
                    if await self._tables.insert(BUDGET, fresh):
                        return 0.0
                    continue
                if int(row.entity.get("slot", -1)) != slot:
                    if await self._tables.update(BUDGET, fresh, row.etag):
                        return 0.0
                    continue
                count = int(row.entity.get("count", 0))
                if count >= self.per_slot:
                    return max(0.001, (slot + 1) * self.slot_seconds - now)
                row.entity["count"] = count + 1
                if await self._tables.update(BUDGET, row.entity, row.etag):
                    return 0.0
            return self.slot_seconds  # heavy contention: let the caller come back

    async def acquire(self, deadline: float) -> bool:
        while True:
            wait = await self.try_acquire()
            if wait == 0:
                return True
            if self._clock() + wait > deadline:
                return False
            await asyncio.sleep(wait)


@dataclass
class SendOutcome:
    http_status: int
    body: ActionAccepted
    location: str | None = None


class Outbound:
    def __init__(
        self,
        tables: TableStore,
        kaizala: KaizalaClient,
        budget: Budget,
        *,
        retention_days: int = 30,
        clock: Clock = time.time,
        ready: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._tables = tables
        self._kaizala = kaizala
        self.budget = budget
        self._retention_ms = retention_days * 86400 * 1000
        self._clock = clock
        # Obtains the access token before a send, so that a token-service failure is known to
        # have created nothing (and the action is queued, not left in doubt).
        self._ready = ready
        self.kaizala_sends = 0  # for tests and benchmarks
        self._expired_at = 0.0

    # --- POST /api/actions ---------------------------------------------------------------------

    async def send(self, req: SendActionRequest, idempotency_key: str | None) -> SendOutcome:
        prepared = prepare(req)
        rhash = request_hash(req)
        key = f"key:{idempotency_key}" if idempotency_key else f"content:{rhash}"
        cid = correlation_id_for(key)
        now = _ms(self._clock)
        order = int(self._clock() * 1_000_000)  # arrival order in the outbox, microseconds
        row: dict[str, Any] = {
            "PartitionKey": cid,
            "RowKey": "a",
            "status": "sending",
            "requestHash": rhash,
            "groupId": prepared.group_id,
            "actionType": prepared.action_type,
            "actionPackageId": prepared.action_package_id or "",
            "template": prepared.template or "",
            "regardingEntity": prepared.regarding.entityType,
            "regardingId": prepared.regarding.id.lower(),
            "regardingName": prepared.regarding.name,
            "title": prepared.title,
            "createdAt": now,
            "createdUs": order,
            "sendingAt": now,
            "attempts": 0,
            "lastError": "",
            **pack_blob(json.dumps(prepared.body).encode(), "Body"),
        }
        if not await self._tables.insert(ACTIONS, row):
            return await self._existing(cid, rhash, explicit_key=idempotency_key is not None)
        if await self._outbox_busy() or await self.budget.try_acquire() > 0:
            return await self._enqueue(cid, order)
        return await self._deliver(cid, prepared, from_outbox=False)

    async def _existing(self, cid: str, rhash: str, *, explicit_key: bool) -> SendOutcome:
        deadline = self._clock() + DUPLICATE_WAIT_SECONDS
        while True:
            stored = await self._tables.get(ACTIONS, cid, "a")
            if stored is None:  # expired between the insert attempt and now: treat as conflict
                raise ConflictError("The request is being processed; retry shortly.")
            e = stored.entity
            if explicit_key and e.get("requestHash") != rhash:
                raise ConflictError(
                    "This Idempotency-Key was already used with a different request."
                )
            status = str(e.get("status"))
            in_flight = status == "sending" and self._clock() - int(e["sendingAt"]) / 1000 < 30
            if not in_flight or self._clock() > deadline:
                return self._replay(cid, e)
            await asyncio.sleep(0.1)

    def _replay(self, cid: str, e: dict[str, Any]) -> SendOutcome:
        status = str(e.get("status"))
        body = ActionAccepted(
            correlationId=cid,
            status=status,
            actionId=e.get("actionId") or None,
            referenceId=e.get("referenceId") or None,
        )
        if status == "failed":
            raise ActionFailedError(
                f"Kaizala refused the action: {e.get('lastError') or 'unknown error'}",
                extra={"correlationId": cid},
            )
        if status == "sent":
            return SendOutcome(200, body)
        return SendOutcome(202, body, f"/api/actions/{cid}")

    async def _outbox_busy(self) -> bool:
        async for _ in self._tables.query(
            OUTBOX, "PartitionKey eq @pk", {"pk": OUTBOX_PK}, limit=1
        ):
            return True
        return False

    async def _enqueue(self, cid: str, order: int, error: str = "") -> SendOutcome:
        rk = f"{order:018d}-{cid}"
        await self._tables.upsert(
            OUTBOX, {"PartitionKey": OUTBOX_PK, "RowKey": rk, "correlationId": cid}
        )
        await self._tables.upsert(
            ACTIONS,
            {
                "PartitionKey": cid,
                "RowKey": "a",
                "status": "queued",
                "queuedAt": _ms(self._clock),
                "lastError": error,
            },
        )
        return SendOutcome(
            202, ActionAccepted(correlationId=cid, status="queued"), f"/api/actions/{cid}"
        )

    async def _deliver(self, cid: str, p: Prepared, *, from_outbox: bool) -> SendOutcome:
        """One Kaizala call and the writes that record it. Never retries a POST blindly."""
        if self._ready is not None:
            try:
                await self._ready()
            except (KaizalaError, BridgeError) as exc:
                return await self._not_sent(cid, exc, from_outbox=from_outbox)
        try:
            self.kaizala_sends += 1
            if p.action_type == "Message":
                message = await self._kaizala.send_message(p.group_id, str(p.body["message"]))
                action_id, reference_id = "", message.referenceId
            else:
                result = await self._kaizala.send_action(
                    p.group_id,
                    action_type=None if p.action_type == "Custom" else p.action_type,
                    action_package_id=p.action_package_id,
                    action_body=p.body,
                )
                action_id, reference_id = result.actionId, result.referenceId
        except (KaizalaRateLimitedError, KaizalaAuthError, NotOnboardedError) as exc:
            # Nothing was created (throttled, or the connector cannot authenticate): queue it.
            return await self._not_sent(cid, exc, from_outbox=from_outbox)
        except (KaizalaTransportError, KaizalaServerError) as exc:
            # The POST may have reached Kaizala: leave it `sending` for reconciliation.
            await self._set(cid, status="sending", lastError=_short(exc))
            log.warning("action %s: outcome unknown (%s); will reconcile", cid, type(exc).__name__)
            return SendOutcome(
                202, ActionAccepted(correlationId=cid, status="sending"), f"/api/actions/{cid}"
            )
        except KaizalaError as exc:
            await self._set(cid, status="failed", lastError=_short(exc))
            raise ActionFailedError(
                f"Kaizala refused the action: {_short(exc)}", extra={"correlationId": cid}
            ) from None
        await self._record_sent(cid, p, action_id, reference_id)
        body = ActionAccepted(
            correlationId=cid, status="sent", actionId=action_id or None, referenceId=reference_id
        )
        return SendOutcome(201, body)

    async def _not_sent(self, cid: str, exc: BaseException, *, from_outbox: bool) -> SendOutcome:
        reason = _short(exc)
        if from_outbox:
            await self._set(cid, status="queued", lastError=reason)
            retry_after = getattr(exc, "retry_after", None) or 0.0
            raise NotSentError(reason, float(retry_after))
        stored = await self._tables.get(ACTIONS, cid, "a")
        order = int(stored.entity["createdUs"]) if stored else int(self._clock() * 1e6)
        return await self._enqueue(cid, order, reason)

    async def _record_sent(self, cid: str, p: Prepared, action_id: str, reference_id: str) -> None:
        if action_id:
            # The index first: a response can arrive within milliseconds of the send.
            await self._tables.upsert(
                INDEX,
                {
                    "PartitionKey": action_id,
                    "RowKey": "c",
                    "correlationId": cid,
                    "groupId": p.group_id,
                    "regardingEntity": p.regarding.entityType,
                    "regardingId": p.regarding.id.lower(),
                    "regardingName": p.regarding.name,
                    "title": p.title,
                    "actionType": p.action_type,
                    "createdAt": _ms(self._clock),
                },
            )
        await self._set(
            cid,
            status="sent",
            actionId=action_id,
            referenceId=reference_id,
            sentAt=_ms(self._clock),
            lastError="",
        )

    async def _set(self, cid: str, **fields: Any) -> None:
        await self._tables.upsert(ACTIONS, {"PartitionKey": cid, "RowKey": "a", **fields})

    # --- GET /api/actions/{id} ----------------------------------------------------------------

    async def status(self, cid: str) -> ActionStatus:
        stored = await self._tables.get(ACTIONS, cid.lower(), "a")
        if stored is None:
            raise NotFoundError(f"No action with correlation id {cid}.")
        e = stored.entity
        responses = 0
        if e.get("actionId"):
            seen: set[str] = set()
            async for row in self._tables.query(
                "inbox",
                "PartitionKey eq @aid and status eq 'done'",
                {"aid": e["actionId"]},
                select=["responseId"],
            ):
                seen.add(str(row.entity.get("responseId")))
            responses = len(seen)
        return ActionStatus(
            correlationId=cid.lower(),
            status=e["status"],
            actionId=e.get("actionId") or None,
            referenceId=e.get("referenceId") or None,
            groupId=e["groupId"],
            actionType=e["actionType"],
            template=e.get("template") or None,
            regarding=Regarding(
                entityType=e["regardingEntity"], id=e["regardingId"], name=e["regardingName"]
            ),
            responses=responses,
            createdAt=_iso(e["createdAt"]) or "",
            sentAt=_iso(e.get("sentAt")),
            lastError=e.get("lastError") or None,
        )

    # --- drain_outbox --------------------------------------------------------------------------

    async def drain(self, max_seconds: float = 50.0, holder: str | None = None) -> dict[str, int]:
        """Send queued actions in arrival order within the budget; one drainer at a time."""
        holder = holder or uuid.uuid4().hex
        report = {"sent": 0, "failed": 0, "requeued": 0, "adopted": 0, "left": 0, "skipped": 0}
        lease = await self._take_lease("outbox-drain", holder, max_seconds + 30)
        if lease is None:
            report["skipped"] = 1
            return report
        deadline = self._clock() + max_seconds
        try:
            if self._clock() - self._expired_at > 3600:  # retention: hourly is plenty
                report["expired"] = await self.expire()
                self._expired_at = self._clock()
            await self._reconcile_stale(report)
            while self._clock() < deadline:
                rows = [
                    r
                    async for r in self._tables.query(
                        OUTBOX, "PartitionKey eq @pk", {"pk": OUTBOX_PK}, limit=50
                    )
                ]
                if not rows:
                    break
                for row in rows:
                    if not await self.budget.acquire(deadline):
                        report["left"] = len(rows)
                        return report
                    outcome = await self._send_queued(row)
                    report[outcome] = report.get(outcome, 0) + 1
                    if outcome == "blocked":
                        return report
        finally:
            await self._release_lease("outbox-drain", holder)
        return report

    async def _send_queued(self, outbox_row: Stored) -> str:
        cid = str(outbox_row.entity["correlationId"])
        stored = await self._tables.get(ACTIONS, cid, "a")
        if stored is None or stored.entity.get("status") != "queued":
            await self._tables.delete(OUTBOX, OUTBOX_PK, outbox_row.entity["RowKey"])
            return "skipped"
        e = stored.entity
        prepared = Prepared(
            e["groupId"],
            e["actionType"],
            e.get("actionPackageId") or None,
            json.loads(unpack_blob(e, "Body")),
            e.get("template") or None,
            Regarding(
                entityType=e["regardingEntity"], id=e["regardingId"], name=e["regardingName"]
            ),
        )
        # Claim with the row's ETag, so a second drainer (after a lease expiry) cannot send it too.
        claim = {
            "PartitionKey": cid,
            "RowKey": "a",
            "status": "sending",
            "sendingAt": _ms(self._clock),
            "attempts": int(e.get("attempts", 0)) + 1,
        }
        if not await self._tables.update(ACTIONS, claim, stored.etag):
            return "skipped"
        try:
            outcome = await self._deliver(cid, prepared, from_outbox=True)
        except NotSentError as exc:
            await asyncio.sleep(min(exc.retry_after, 5.0))
            return "blocked"
        except BridgeError:
            await self._tables.delete(OUTBOX, OUTBOX_PK, outbox_row.entity["RowKey"])
            return "failed"
        await self._tables.delete(OUTBOX, OUTBOX_PK, outbox_row.entity["RowKey"])
        return "sent" if outcome.body.status == "sent" else "left"

    async def _reconcile_stale(self, report: dict[str, int]) -> None:
        cutoff = _ms(self._clock) - int(STALE_SENDING_SECONDS * 1000)
        stale = [
            r
            async for r in self._tables.query(
                ACTIONS,
                "status eq 'sending' and sendingAt lt @cutoff",
                {"cutoff": cutoff},
                limit=50,
            )
        ]
        for row in stale:
            outcome = await self.reconcile(row)
            report[outcome] = report.get(outcome, 0) + 1

    async def reconcile(self, row: Stored) -> str:
        """Decide the fate of an action whose send outcome is unknown (see module doc)."""
        e = row.entity
        cid = str(e["PartitionKey"])
        if e["actionType"] in ("Message", "Custom"):
            await self._set(cid, status="failed", lastError="outcome unknown; not resent")
            return "failed"
        since = int(e["sendingAt"]) - 60_000
        try:
            page = await self._kaizala.list_actions(e["groupId"], e["actionType"], from_date=since)
        except KaizalaError:
            return "left"  # try again on the next run
        candidates = []
        for action in page.actions:
            if action.display_title[:200] != e["title"]:
                continue
            owner = await self._tables.get(INDEX, action.actionId, "c")
            if owner is None or owner.entity.get("correlationId") == cid:
                candidates.append(action.actionId)
        if len(candidates) == 1:
            prepared = Prepared(
                e["groupId"],
                e["actionType"],
                None,
                {},
                e.get("template") or None,
                Regarding(
                    entityType=e["regardingEntity"], id=e["regardingId"], name=e["regardingName"]
                ),
            )
            await self._record_sent(cid, replace_title(prepared, e["title"]), candidates[0], "")
            # Responses that arrived while the send was in doubt were kept as orphans.
            from shared.services.inbound import requeue_orphans

            await requeue_orphans(self._tables, candidates[0], _ms(self._clock))
            return "adopted"
        if not candidates:
            await self._enqueue(cid, int(e["createdUs"]), "re-queued after an unknown outcome")
            return "requeued"
        await self._set(cid, status="failed", lastError="several matching actions; not resent")
        return "failed"

    async def expire(self) -> int:
        """Forget correlations older than the retention; queued or in-flight ones are kept."""
        cutoff = _ms(self._clock) - self._retention_ms
        done = "status eq 'sent' or status eq 'failed'"
        return await expire_rows(self._tables, ACTIONS, cutoff, "createdAt", done) + (
            await expire_rows(self._tables, INDEX, cutoff, "createdAt")
        )

    # --- a small lease (one drainer across instances) ------------------------------------------

    async def _take_lease(self, name: str, holder: str, seconds: float) -> str | None:
        now = self._clock()
        row = await self._tables.get(LEASES, "lease", name)
        entity = {"PartitionKey": "lease", "RowKey": name, "holder": holder, "until": now + seconds}
        if row is None:
            return holder if await self._tables.insert(LEASES, entity) else None
        if float(row.entity.get("until", 0)) > now and row.entity.get("holder") != holder:
            return None
        return holder if await self._tables.update(LEASES, entity, row.etag) else None

    async def _release_lease(self, name: str, holder: str) -> None:
        row = await self._tables.get(LEASES, "lease", name)
        if row is not None and row.entity.get("holder") == holder:
            await self._tables.update(
                LEASES, {"PartitionKey": "lease", "RowKey": name, "until": 0.0}, row.etag
            )


def replace_title(p: Prepared, title: str) -> Prepared:
    body = dict(p.body)
    body["title"] = title
    return Prepared(p.group_id, p.action_type, p.action_package_id, body, p.template, p.regarding)


def _short(exc: BaseException) -> str:
    # KaizalaError's text is built to exclude tokens; still keep it short for the status API.
    return f"{type(exc).__name__}: {exc}"[:300]
