"""The `actions` and `outbox` tables: one row per outbound action, and the queue of unsent ones.

`actions` row: PartitionKey = correlation id, RowKey = "a"; status (sending, queued, sent,
failed), requestHash, groupId, actionType, actionPackageId, template, regardingEntity,
regardingId (lower case), regardingName, title, createdAt / sendingAt / queuedAt / sentAt
(epoch ms), createdUs (arrival order, epoch µs), attempts, lastError, actionId, referenceId,
and the validated action body packed into `Body*` properties; backfilledAt (epoch ms) once the
response backfill has read the action's responses from Kaizala.

Reminder slot (issue 10), on the same `actions` row: reminderAt (epoch ms of the last reminder
attempt), reminderState (sending, sent, unconfirmed), reminderRef (Kaizala's referenceId),
reminderClaim (the id of the request that holds the slot while `sending`).

`outbox` row: PartitionKey = "q", RowKey = `{createdUs:018d}-{correlationId}` (so a partition
scan returns arrival order), correlationId.

A `sending` row's sendingAt is kept in the due index (due_index.py, kind `sending`: its
invariant and the order of writes): the claims write the entry before the row, the caller
releases it once the action has left `sending`, and `stale_sending` reads the index.

This module is the only code that names these tables or knows their row shapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.adapters.tables import Stored, TableStore, expire_rows, pack_blob, unpack_blob
from shared.domain.action_request import Prepared
from shared.domain.actions import Regarding
from shared.domain.reminders import ReminderSlot, SlotState
from shared.stores.due_index import DueEntry, DueIndex

ACTIONS = "actions"
OUTBOX = "outbox"
ROW_KEY = "a"
OUTBOX_PK = "q"
STALE_BATCH = 50
BACKFILL_SCAN_LIMIT = 5000
LEGACY_SCAN_LIMIT = 1000  # `sending` rows indexed per old scan (migration)
RECENT_SCAN_LIMIT = 5000  # rows read per console page (no index on time)
# fmt: off
LIST_FIELDS = [  # what the console lists of a row (never the body)
    "PartitionKey", "status", "groupId", "actionType", "template", "regardingEntity",
    "regardingId", "regardingName", "title", "createdAt", "createdUs", "sentAt", "attempts",
    "actionId", "referenceId", "lastError",
]
# fmt: on
DONE = "status eq 'sent' or status eq 'failed'"


@dataclass(frozen=True)
class ActionRecord:
    """One `actions` row as read, with the ETag it was read with."""

    correlation_id: str
    status: str
    request_hash: str
    group_id: str
    action_type: str
    action_package_id: str | None
    template: str | None
    regarding: Regarding
    title: str
    created_ms: int
    created_us: int
    sending_ms: int
    sent_ms: int | None
    attempts: int
    action_id: str | None
    reference_id: str | None
    last_error: str | None
    etag: str
    _entity: Mapping[str, Any] = field(repr=False, compare=False)
    # The due-index entry a stale `sending` row was found by (released once it is settled).
    due_entry: DueEntry | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_stored(cls, stored: Stored, due_entry: DueEntry | None = None) -> ActionRecord:
        e = stored.entity
        return cls(
            correlation_id=str(e["PartitionKey"]),
            status=str(e.get("status")),
            request_hash=str(e.get("requestHash") or ""),
            group_id=str(e.get("groupId") or ""),
            action_type=str(e.get("actionType") or ""),
            action_package_id=e.get("actionPackageId") or None,
            template=e.get("template") or None,
            regarding=Regarding(
                entityType=e["regardingEntity"], id=e["regardingId"], name=e["regardingName"]
            ),
            title=str(e.get("title") or ""),
            created_ms=int(e.get("createdAt") or 0),
            created_us=int(e.get("createdUs") or 0),
            sending_ms=int(e.get("sendingAt") or 0),
            sent_ms=int(e["sentAt"]) if e.get("sentAt") else None,
            attempts=int(e.get("attempts") or 0),
            action_id=e.get("actionId") or None,
            reference_id=e.get("referenceId") or None,
            last_error=e.get("lastError") or None,
            etag=stored.etag,
            _entity=e,
            due_entry=due_entry,
        )

    def prepared(self) -> Prepared:
        """The request as it was claimed (the body as validated then)."""
        body = json.loads(unpack_blob(self._entity, "Body"))
        return Prepared(
            self.group_id,
            self.action_type,
            self.action_package_id,
            body,
            self.template,
            self.regarding,
        )


class ActionStore:
    def __init__(self, tables: TableStore) -> None:
        self._tables = tables
        self._index = DueIndex(tables, "sending")

    async def claim(
        self, cid: str, rhash: str, p: Prepared, now_ms: int, order_us: int
    ) -> DueEntry | None:
        """Insert-only: None when the correlation id is already taken (a repeat), else the
        row's due-index entry (written first), to `release` once it is no longer `sending`."""
        row: dict[str, Any] = {
            "PartitionKey": cid,
            "RowKey": ROW_KEY,
            "status": "sending",
            "requestHash": rhash,
            "groupId": p.group_id,
            "actionType": p.action_type,
            "actionPackageId": p.action_package_id or "",
            "template": p.template or "",
            "regardingEntity": p.regarding.entityType,
            "regardingId": p.regarding.id.lower(),
            "regardingName": p.regarding.name,
            "title": p.title,
            "createdAt": now_ms,
            "createdUs": order_us,
            "sendingAt": now_ms,
            "attempts": 0,
            "lastError": "",
            **pack_blob(json.dumps(p.body).encode(), "Body"),
        }
        entry = await self._index.add(cid, ROW_KEY, now_ms)
        if await self._tables.insert(ACTIONS, row):
            return entry
        await self._index.remove(entry)
        return None

    async def release(self, entry: DueEntry | None) -> None:
        """The action has left `sending`: its due-index entry goes (a failure leaves an extra
        entry, which the reconciliation deletes)."""
        await self._index.remove(entry)

    async def get(self, cid: str) -> ActionRecord | None:
        stored = await self._tables.get(ACTIONS, cid, ROW_KEY)
        return None if stored is None else ActionRecord.from_stored(stored)

    async def mark(self, cid: str, status: str, last_error: str) -> None:
        await self._set(cid, status=status, lastError=last_error)

    async def mark_queued(self, cid: str, now_ms: int, last_error: str) -> None:
        await self._set(cid, status="queued", queuedAt=now_ms, lastError=last_error)

    async def mark_sent(self, cid: str, action_id: str, reference_id: str, now_ms: int) -> None:
        await self._set(
            cid,
            status="sent",
            actionId=action_id,
            referenceId=reference_id,
            sentAt=now_ms,
            lastError="",
        )

    async def claim_queued(self, record: ActionRecord, now_ms: int) -> DueEntry | None:
        """`queued` → `sending`, conditional on the ETag read: one sender per queued action.
        None when another took it; else the due-index entry (written first) to `release`."""
        claim = {
            "PartitionKey": record.correlation_id,
            "RowKey": ROW_KEY,
            "status": "sending",
            "sendingAt": now_ms,
            "attempts": record.attempts + 1,
        }
        entry = await self._index.add(record.correlation_id, ROW_KEY, now_ms)
        if await self._tables.update(ACTIONS, claim, record.etag):
            return entry
        await self._index.remove(entry)
        return None

    async def stale_sending(self, cutoff_ms: int, now_ms: int) -> list[ActionRecord]:
        """Rows left `sending` since before the cutoff (a send whose outcome is unknown), each
        with the due-index entry it was found by.

        The index's entries before the cutoff (one key-range query), then each row (one point
        read each): an entry whose row is gone or no longer `sending` is deleted; a row
        `sending` again since the cutoff (queued and claimed anew) is left for later. Until
        the table is marked indexed, at most hourly per instance, the old scan first.
        """

        async def read(entry: DueEntry) -> Stored | None:
            stored = await self._tables.get(ACTIONS, entry.pk, ROW_KEY)
            if stored is None or stored.entity.get("status") != "sending":
                await self._index.remove(entry)
                return None
            return None if int(stored.entity.get("sendingAt") or 0) >= cutoff_ms else stored

        found = await self._index.collect(
            cutoff_ms, now_ms, STALE_BATCH, read=read, legacy=self._legacy_sending
        )
        return [ActionRecord.from_stored(stored, entry) for entry, stored in found]

    async def _legacy_sending(self) -> tuple[list[tuple[str, str, int]], bool]:
        """The old scan (migration): every `sending` row, and whether it read them all."""
        found = [
            (str(s.entity["PartitionKey"]), ROW_KEY, int(s.entity.get("sendingAt") or 0))
            async for s in self._tables.query(
                ACTIONS,
                "status eq 'sending'",
                select=["PartitionKey", "sendingAt"],
                limit=LEGACY_SCAN_LIMIT,
            )
        ]
        return found, len(found) < LEGACY_SCAN_LIMIT

    async def recent(  # issue 12: the operator console
        self, status: str | None, before_us: int | None, limit: int = RECENT_SCAN_LIMIT
    ) -> tuple[list[ActionRecord], bool]:
        """Rows in `status` created at or before `before_us`, and whether the scan stopped at
        `limit` (no index on time: the caller orders them)."""
        clauses: list[str] = ["RowKey eq @rk"]
        params: dict[str, Any] = {"rk": ROW_KEY}
        if status is not None:
            clauses.append("status eq @status")
            params["status"] = status
        if before_us is not None:
            clauses.append("createdUs le @before")
            params["before"] = before_us
        found = [
            ActionRecord.from_stored(s)
            async for s in self._tables.query(
                ACTIONS,
                " and ".join(clauses),
                params,
                select=LIST_FIELDS,
                page_size=1000,
                limit=limit,
            )
        ]
        return found, len(found) >= limit

    # --- issue 10: backfill ---------------------------------------------------------------

    async def sent_since(
        self, cutoff_ms: int, limit: int = BACKFILL_SCAN_LIMIT
    ) -> list[tuple[ActionRecord, int]]:
        """Sent actions with `sentAt` at or after the cutoff, each with its `backfilledAt` (0:
        never). A scan of the table (no index on sentAt), bounded twice: rows live only
        RETENTION_DAYS, and at most `limit` rows are read (in key order, not time order)."""
        return [
            (ActionRecord.from_stored(r), int(r.entity.get("backfilledAt") or 0))
            async for r in self._tables.query(
                ACTIONS,
                "status eq 'sent' and sentAt ge @cutoff",
                {"cutoff": cutoff_ms},
                limit=limit,
            )
        ]

    async def mark_backfilled(self, cid: str, now_ms: int) -> None:
        """When the backfill last read this action's responses (orders the next runs).

        A merge with If-Match "*": a row expired meanwhile is not recreated."""
        row = {"PartitionKey": cid, "RowKey": ROW_KEY, "backfilledAt": now_ms}
        await self._tables.update(ACTIONS, row, "*")

    async def expire(self, cutoff_ms: int) -> int:
        """Sent or failed actions created before the cutoff; queued or in-flight ones stay."""
        return await expire_rows(self._tables, ACTIONS, cutoff_ms, "createdAt", DONE)

    async def _set(self, cid: str, **fields: Any) -> None:
        await self._tables.upsert(ACTIONS, {"PartitionKey": cid, "RowKey": ROW_KEY, **fields})


@dataclass(frozen=True)
class OutboxEntry:
    row_key: str
    correlation_id: str


class OutboxStore:
    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    async def busy(self) -> bool:
        async for _ in self._tables.query(
            OUTBOX, "PartitionKey eq @pk", {"pk": OUTBOX_PK}, limit=1
        ):
            return True
        return False

    async def push(self, cid: str, order_us: int) -> None:
        await self._tables.upsert(
            OUTBOX,
            {"PartitionKey": OUTBOX_PK, "RowKey": f"{order_us:018d}-{cid}", "correlationId": cid},
        )

    async def head(self, limit: int) -> list[OutboxEntry]:
        """The oldest entries, in arrival order."""
        return [
            OutboxEntry(str(r.entity["RowKey"]), str(r.entity["correlationId"]))
            async for r in self._tables.query(
                OUTBOX, "PartitionKey eq @pk", {"pk": OUTBOX_PK}, limit=limit
            )
        ]

    async def remove(self, entry: OutboxEntry) -> None:
        await self._tables.delete(OUTBOX, OUTBOX_PK, entry.row_key)

    async def count(self, limit: int) -> int:
        """Queued sends, counted up to `limit` (the console's figure)."""
        rows = self._tables.query(
            OUTBOX, "PartitionKey eq @pk", {"pk": OUTBOX_PK}, select=["RowKey"], limit=limit
        )
        return len([1 async for _ in rows])


# --- the reminder slot on the action row (issue 10: reminders) -------------------------------

SLOT_STATES: tuple[SlotState, ...] = ("sending", "sent", "unconfirmed")
SETTLE_ATTEMPTS = 5


def reminder_slot(record: ActionRecord) -> ReminderSlot | None:
    """The action's last reminder, as read with the record (None: never reminded)."""
    e = record._entity
    at_ms = int(e.get("reminderAt") or 0)
    if not at_ms:
        return None
    raw = e.get("reminderState")
    state: SlotState = raw if raw in SLOT_STATES else "unconfirmed"
    return ReminderSlot(at_ms, state, e.get("reminderRef") or None)


class ReminderSlots:
    """Claims and settles the reminder slot, each write conditional on the row's ETag."""

    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    async def claim(self, record: ActionRecord, now_ms: int, claim_id: str) -> bool:
        """Take the slot (`sending`); False when the row changed since `record` was read."""
        entity = {
            "PartitionKey": record.correlation_id,
            "RowKey": ROW_KEY,
            "reminderAt": now_ms,
            "reminderState": "sending",
            "reminderRef": "",
            "reminderClaim": claim_id,
        }
        return await self._tables.update(ACTIONS, entity, record.etag)

    async def settle(
        self, cid: str, claim_id: str, state: SlotState, reference_id: str | None
    ) -> None:
        """The outcome of the claimed reminder (`sent` or `unconfirmed`)."""
        await self._write_if_held(
            cid, claim_id, {"reminderState": state, "reminderRef": reference_id or ""}
        )

    async def release(self, cid: str, claim_id: str, previous: ReminderSlot | None) -> None:
        """Nothing was sent: put the slot back as it was before the claim."""
        await self._write_if_held(
            cid,
            claim_id,
            {
                "reminderAt": previous.at_ms if previous else 0,
                "reminderState": previous.state if previous else "",
                "reminderRef": (previous.reference_id or "") if previous else "",
            },
        )

    async def _write_if_held(self, cid: str, claim_id: str, fields: dict[str, Any]) -> None:
        # Other writers (status marks) may touch the row meanwhile: re-read on a lost ETag.
        for _ in range(SETTLE_ATTEMPTS):
            stored = await self._tables.get(ACTIONS, cid, ROW_KEY)
            if stored is None or stored.entity.get("reminderClaim") != claim_id:
                return  # expired, or the slot has since been taken by another request
            entity = {"PartitionKey": cid, "RowKey": ROW_KEY, **fields, "reminderClaim": ""}
            if await self._tables.update(ACTIONS, entity, stored.etag):
                return
