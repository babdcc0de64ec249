"""The `responses` table: each response's latest answers per action, and the note-due marks.

Rows:
- a response: PartitionKey = the action's correlation id, RowKey = the Kaizala responseId (as is
  when Azure accepts it as a key and it is at most 100 characters, else its sha256);
  responseId, responder, answerTime, recordedAt (epoch ms), eventId, and the answers (JSON,
  compressed, in `Answers*` properties). One row per response: an edit replaces it, and only
  with an answer at least as new (`answerTime`), so a late redelivery never brings an older
  answer back.
- a summary mark: PartitionKey = "due", RowKey = correlation id; pending (a note write is to
  do), dueAt (epoch ms: when), changedAt (the latest response recorded), attempts, writtenAt,
  lastError, and what the note needs (actionId, regarding entity, id and name, title, action
  type). A response sets dueAt only when no write is pending, so a burst of responses makes one
  note write. (A flag rather than dueAt = 0: Table storage compares an Int32 0 and an Int64
  time as different types.)

This module is the only code that names the table or derives its keys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shared.adapters.tables import Entity, Stored, TableStore, check_key, pack_blob, unpack_blob
from shared.domain.correlation import Correlation
from shared.domain.summary import NoteTarget, ResultRecord
from shared.errors import StorageError

TABLE = "responses"
DUE_PARTITION = "due"
MAX_KEY_CHARS = 100
MAX_RESPONSES = 5000  # rows read per action for its figures
WRITE_ROUNDS = 4  # compare-and-swap rounds when concurrent writers keep changing a row
ANSWERS = "Answers"
EXPIRY_LIMIT = 200  # actions forgotten per call


def response_key(response_id: str) -> str:
    try:
        if len(response_id) <= MAX_KEY_CHARS:
            return check_key(response_id)
    except ValueError:
        pass
    return hashlib.sha256(response_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class DueSummary:
    """An action whose summary note is due, with the ETag a settle is conditional on."""

    correlation_id: str
    pending: bool
    due_at: int
    changed_at: int
    attempts: int
    regarding_entity: str
    regarding_id: str
    target: NoteTarget
    etag: str

    @classmethod
    def from_stored(cls, stored: Stored) -> DueSummary:
        e = stored.entity
        cid = str(e["RowKey"])
        return cls(
            correlation_id=cid,
            pending=bool(e.get("pending")),
            due_at=int(e.get("dueAt") or 0),
            changed_at=int(e.get("changedAt") or 0),
            attempts=int(e.get("attempts") or 0),
            regarding_entity=str(e.get("regardingEntity") or ""),
            regarding_id=str(e.get("regardingId") or ""),
            target=NoteTarget(
                action_id=str(e.get("actionId") or ""),
                correlation_id=cid,
                title=str(e.get("title") or ""),
                action_type=str(e.get("actionType") or ""),
                regarding_name=str(e.get("regardingName") or ""),
            ),
            etag=stored.etag,
        )


class ResultStore:
    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    # ---- responses ------------------------------------------------------------------------

    async def record(self, correlation_id: str, record: ResultRecord, event_id: str) -> bool:
        """Keep `record` as its response's latest answers; False when a newer one is held.

        A new response is one insert; an edit (or a retry) reads the row and replaces it, on
        the ETag it read, unless it holds a later answer time.
        """
        entity: Entity = {
            "PartitionKey": check_key(correlation_id),
            "RowKey": response_key(record.response_id),
            "responseId": record.response_id[:1024],
            "responder": record.responder[:200],
            "answerTime": record.answer_time,
            "recordedAt": record.recorded_at,
            "eventId": event_id[:1024],
            **pack_blob(record.answers_json().encode("utf-8"), prefix=ANSWERS),
        }
        for _ in range(WRITE_ROUNDS):
            if await self._tables.insert(TABLE, entity):
                return True
            stored = await self._tables.get(TABLE, entity["PartitionKey"], entity["RowKey"])
            if stored is None:
                continue  # removed meanwhile (retention): insert again
            if int(stored.entity.get("answerTime") or 0) > record.answer_time:
                return False
            # Replace, not merge: fewer answer chunks than before must not keep stale ones.
            if await self._tables.update(TABLE, entity, stored.etag, replace=True):
                return True
        raise StorageError("The response's results kept changing; try again later.", 1)

    async def records(self, correlation_id: str, limit: int = MAX_RESPONSES) -> list[ResultRecord]:
        """Every response kept for an action (at most `limit`)."""
        found = []
        async for stored in self._tables.query(
            TABLE, "PartitionKey eq @pk", {"pk": correlation_id}, page_size=1000, limit=limit
        ):
            e = stored.entity
            try:
                raw = unpack_blob(e, prefix=ANSWERS).decode("utf-8")
            except (ValueError, KeyError, TypeError):
                raw = "[]"  # unreadable answers: the response still counts
            found.append(
                ResultRecord(
                    response_id=str(e.get("responseId") or e["RowKey"]),
                    responder=str(e.get("responder") or ""),
                    answer_time=int(e.get("answerTime") or 0),
                    recorded_at=int(e.get("recordedAt") or 0),
                    answers=ResultRecord.answers_from_json(raw),
                )
            )
        return found

    # ---- note-due marks ---------------------------------------------------------------------

    async def mark_due(self, correlation: Correlation, due_at: int, now_ms: int) -> None:
        """The action's note is due at `due_at`, unless a write is already pending (then it
        keeps its earlier time).

        Only the idle → pending step is a compare-and-swap (a burst races for it once; the
        losers find it pending). On a pending mark the write is a plain merge of `changedAt`
        and `pending`: it never fails on contention, and whichever way it meets a note write
        in flight (which settles on the ETag it read), this response is in a note: either the
        merge came first and the settle loses, or it came after and sets `pending` again.
        """
        c = correlation
        changes: Entity = {
            "PartitionKey": DUE_PARTITION,
            "RowKey": check_key(c.correlation_id),
            "changedAt": now_ms,
            "actionId": c.action_id[:1024],
            "regardingEntity": c.regarding_entity,
            "regardingId": c.regarding_id,
            "regardingName": c.regarding_name[:400],
            "title": c.title[:400],
            "actionType": c.action_type,
        }
        for _ in range(WRITE_ROUNDS):
            stored = await self._tables.get(TABLE, DUE_PARTITION, changes["RowKey"])
            if stored is None:
                fresh = {**changes, "pending": True, "dueAt": due_at, "attempts": 0}
                if await self._tables.insert(TABLE, fresh):
                    return
                continue
            if stored.entity.get("pending"):
                held = int(stored.entity.get("dueAt") or due_at)  # kept: the first one counts
                await self._tables.upsert(TABLE, {**changes, "pending": True, "dueAt": held})
                return
            entity = {**changes, "pending": True, "dueAt": due_at, "attempts": 0}
            if await self._tables.update(TABLE, entity, stored.etag):
                return
        raise StorageError("The summary mark kept changing; try again later.", 1)

    async def due(self, now_ms: int, limit: int) -> list[DueSummary]:
        """Actions whose note is due, the longest waiting first."""
        rows = [
            DueSummary.from_stored(s)
            async for s in self._tables.query(
                TABLE,
                "PartitionKey eq @pk and pending eq true and dueAt le @now",
                {"pk": DUE_PARTITION, "now": now_ms},
                limit=limit,
            )
        ]
        rows.sort(key=lambda d: d.due_at)
        return rows

    async def get_due(self, correlation_id: str) -> DueSummary | None:
        stored = await self._tables.get(TABLE, DUE_PARTITION, check_key(correlation_id))
        return None if stored is None else DueSummary.from_stored(stored)

    async def settle(
        self, due: DueSummary, *, retry_at: int | None, attempts: int, written_at: int, error: str
    ) -> bool:
        """After a write attempt: done (written, or given up: `retry_at` None) or due again.

        Conditional on the ETag the mark was read with: False when a response came meanwhile,
        and then the mark stays due, so the note is written again with that response.
        """
        entity: Entity = {
            "PartitionKey": DUE_PARTITION,
            "RowKey": due.correlation_id,
            "pending": retry_at is not None,
            "attempts": attempts,
            "lastError": error,
        }
        if retry_at is not None:
            entity["dueAt"] = retry_at
        if written_at:
            entity["writtenAt"] = written_at
        return await self._tables.update(TABLE, entity, due.etag)

    # ---- retention ----------------------------------------------------------------------------

    async def expire(self, cutoff_ms: int, limit: int = EXPIRY_LIMIT) -> int:
        """Forget whole actions whose last response is older than `cutoff_ms` (at most `limit`
        actions a call): their response rows, then the mark. Returns the actions forgotten."""
        old = [
            s
            async for s in self._tables.query(
                TABLE,
                "PartitionKey eq @pk and changedAt lt @cutoff",
                {"pk": DUE_PARTITION, "cutoff": cutoff_ms},
                limit=limit,
            )
        ]
        forgotten = 0
        for mark in old:
            cid = str(mark.entity["RowKey"])
            async for row in self._tables.query(
                TABLE, "PartitionKey eq @pk", {"pk": cid}, select=["PartitionKey", "RowKey"]
            ):
                await self._tables.delete(TABLE, cid, str(row.entity["RowKey"]))
            # On the ETag read: a response recorded meanwhile keeps the mark (and the action).
            if await self._tables.delete(TABLE, DUE_PARTITION, cid, mark.etag):
                forgotten += 1
        return forgotten
