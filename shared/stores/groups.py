"""The `groups` table: the registry of Kaizala groups the bridge serves.

Every group here gets the bridge's webhook subscription (`reconcile_webhooks`,
`/api/manage/webhooks/sync`); the groups of `KAIZALA_WEBHOOK_GROUPS` and the survey group are
served too, without a row. A group created for a record (a group per opportunity) carries that
record, so an event of the group (a chat message, an attachment) can be written to it.

Rows:
- a registered group: PartitionKey = "g", RowKey = groupId; name, regardingEntity, regardingId
  (lower case, "" when none), conversation (bool: also subscribe chat events), createdAt (ms),
  skippedMembers (JSON list of {role, reason, id}: people of the record who were not added).
- an idempotency claim of `POST /api/groups`: PartitionKey = "k", RowKey = the key (an
  `Idempotency-Key` header, or `regarding:<entity>:<id>`, sha256 when not a valid Azure key);
  requestHash, status (`creating`, `created`), groupId (set as soon as Kaizala answered, while
  still `creating`), createdAt (when the current attempt started).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from shared.adapters.tables import Stored, TableStore, check_key
from shared.domain.actions import SkippedMember

TABLE = "groups"
GROUP_PARTITION = "g"
CLAIM_PARTITION = "k"
MAX_KEY_CHARS = 100


@dataclass(frozen=True)
class GroupRecord:
    group_id: str
    name: str
    regarding_entity: str = ""
    regarding_id: str = ""
    conversation: bool = False
    created_ms: int = 0
    skipped: tuple[SkippedMember, ...] = ()

    @classmethod
    def from_entity(cls, e: dict[str, object]) -> GroupRecord:
        return cls(
            group_id=str(e["RowKey"]),
            name=str(e.get("name") or ""),
            regarding_entity=str(e.get("regardingEntity") or ""),
            regarding_id=str(e.get("regardingId") or ""),
            conversation=bool(e.get("conversation") or False),
            created_ms=int(e.get("createdAt") or 0),  # type: ignore[call-overload]
            skipped=_skipped(e.get("skippedMembers")),
        )


@dataclass(frozen=True)
class GroupClaim:
    key: str
    request_hash: str
    status: str
    group_id: str
    etag: str
    created_ms: int = 0


def claim_key(value: str) -> str:
    """An Azure-valid row key for an idempotency key (as is when valid and short, else sha256)."""
    try:
        if len(value) <= MAX_KEY_CHARS:
            return check_key(value)
    except ValueError:
        pass
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class GroupStore:
    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    # --- the registry --------------------------------------------------------------------------

    async def register(self, group: GroupRecord) -> None:
        """Add or refresh a group (idempotent: the same group registered twice is one row)."""
        await self._tables.upsert(
            TABLE,
            {
                "PartitionKey": GROUP_PARTITION,
                "RowKey": check_key(group.group_id),
                "name": group.name,
                "regardingEntity": group.regarding_entity,
                "regardingId": group.regarding_id.lower(),
                "conversation": group.conversation,
                "createdAt": group.created_ms,
                "skippedMembers": json.dumps([m.model_dump(mode="json") for m in group.skipped]),
            },
        )

    async def find(self, group_id: object) -> GroupRecord | None:
        if not isinstance(group_id, str) or not group_id:
            return None
        try:
            check_key(group_id)
        except ValueError:
            return None
        stored = await self._tables.get(TABLE, GROUP_PARTITION, group_id)
        return None if stored is None else GroupRecord.from_entity(stored.entity)

    async def all(self, limit: int = 5000) -> AsyncIterator[GroupRecord]:
        """Every registered group (one partition: a key-range read)."""
        async for stored in self._tables.query(
            TABLE, "PartitionKey eq @pk", {"pk": GROUP_PARTITION}, limit=limit
        ):
            yield GroupRecord.from_entity(stored.entity)

    # --- idempotency of POST /api/groups -------------------------------------------------------

    async def claim(self, key: str, request_hash: str, now_ms: int) -> bool:
        """Insert-only claim of an idempotency key; False when someone holds it already."""
        return await self._tables.insert(
            TABLE,
            {
                "PartitionKey": CLAIM_PARTITION,
                "RowKey": claim_key(key),
                "requestHash": request_hash,
                "status": "creating",
                "groupId": "",
                "createdAt": now_ms,
            },
        )

    async def get_claim(self, key: str) -> GroupClaim | None:
        stored = await self._tables.get(TABLE, CLAIM_PARTITION, claim_key(key))
        return None if stored is None else _claim(key, stored)

    async def record_group(self, claim: GroupClaim, group_id: str) -> bool:
        """Note the group Kaizala created, the claim still `creating` (members, registry next)."""
        return await self._tables.update(
            TABLE,
            {"PartitionKey": CLAIM_PARTITION, "RowKey": claim_key(claim.key), "groupId": group_id},
            claim.etag,
        )

    async def take_over(self, claim: GroupClaim, now_ms: int) -> GroupClaim | None:
        """Restart a stale `creating` claim (compare-and-swap): None when another caller did.

        With `now_ms=0` the holder marks its claim stale at once: resumable by the next attempt.
        """
        entity = {
            "PartitionKey": CLAIM_PARTITION,
            "RowKey": claim_key(claim.key),
            "createdAt": now_ms,
        }
        if not await self._tables.update(TABLE, entity, claim.etag):
            return None
        return await self.get_claim(claim.key)

    async def complete_claim(self, key: str, group_id: str) -> None:
        await self._tables.upsert(
            TABLE,
            {
                "PartitionKey": CLAIM_PARTITION,
                "RowKey": claim_key(key),
                "status": "created",
                "groupId": group_id,
            },
        )

    async def release_claim(self, claim: GroupClaim) -> bool:
        """Drop a `creating` claim whose create failed (so a retry may try again)."""
        return await self._tables.delete(TABLE, CLAIM_PARTITION, claim_key(claim.key), claim.etag)


def _claim(key: str, stored: Stored) -> GroupClaim:
    e = stored.entity
    return GroupClaim(
        key=key,
        request_hash=str(e.get("requestHash") or ""),
        status=str(e.get("status") or ""),
        group_id=str(e.get("groupId") or ""),
        etag=stored.etag,
        created_ms=int(e.get("createdAt") or 0),
    )


def _skipped(raw: object) -> tuple[SkippedMember, ...]:
    # A row written before the column existed, or edited by hand, reads as "none skipped".
    try:
        items = json.loads(raw) if isinstance(raw, str) and raw else []
        return tuple(SkippedMember.model_validate(i) for i in items)
    except (ValueError, TypeError):  # a pydantic ValidationError is a ValueError
        return ()
