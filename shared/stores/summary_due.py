"""The `summarydue` table: insert-only marks saying an action's summary note is to be (re)written.

Row: PartitionKey = "due", RowKey = `<dueAt, 15 digits>.<correlation id>`; dueAt (epoch ms),
markedAt, attempts, lastError, and what the note needs (actionId, regarding entity, id and
name, title, action type). The figures themselves are not stored: the sweeper derives them
from the inbox's done rows of the action when it writes the note (`shared.domain.summary`).

Why keyed by time: a response marks the note due at the end of the window after its own (a
window is half the debounce: `due_time`), with ONE insert. A conflict means "already marked for
that window": no read, no retry, so a burst makes one mark (and one note write) per window,
and a trickle cannot push a mark back: each response adds its own, never moves an earlier one.
And the sweeper's due query is a key range (`RowKey` up to now): its cost is what is due, not
what is stored.

The invariant that keeps the settle step safe: a response always marks a time later than its
own (by at least half the debounce), and the sweeper handles a mark only once its time has
passed, then deletes exactly that row (on its ETag). So a response recorded while a note is
written (after the sweeper read the inbox) has marked a later row, still there: it is in the
next write. Processing marks just before it saves the row `done`; a response row the sweeper
finds still pending (in flight, or retrying) gets a follow-up mark from the sweeper, so a
response is in a note however the two interleave.

Marks are deleted once handled (written, or given up), so no retention is needed. This module
is the only code that names the table or derives its keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.adapters.tables import Entity, Stored, TableStore, check_key
from shared.domain.correlation import Correlation
from shared.domain.summary import NoteTarget

TABLE = "summarydue"
PARTITION = "due"
TIME_DIGITS = 15  # epoch ms up to year 33658: string order is time order


def due_time(now_ms: int, delay_ms: int) -> int:
    """The mark time of a response at `now_ms`: the end of the window (half the debounce
    `delay_ms`) after its own. At least half the debounce after `now_ms`, less than all of it:
    a note waits at most the debounce (then the sweep), as it always did."""
    window = max(delay_ms // 2, 1)
    return -(-(now_ms + window) // window) * window  # ceil to that window's end


def _row_key(due_at: int, correlation_id: str) -> str:
    return f"{due_at:0{TIME_DIGITS}d}.{check_key(correlation_id)}"


@dataclass(frozen=True)
class DueSummary:
    """A mark whose time has come, with the ETag its deletion is conditional on."""

    correlation_id: str
    due_at: int
    attempts: int
    regarding_entity: str
    regarding_id: str
    target: NoteTarget
    row_key: str
    etag: str

    @classmethod
    def from_stored(cls, stored: Stored) -> DueSummary:
        e = stored.entity
        rk = str(e["RowKey"])
        cid = str(e.get("correlationId") or rk.partition(".")[2])
        return cls(
            correlation_id=cid,
            due_at=int(e.get("dueAt") or 0),
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
            row_key=rk,
            etag=stored.etag,
        )

    def correlation(self) -> Correlation:
        """The correlation the mark was made from (for a follow-up mark)."""
        t = self.target
        return Correlation(
            action_id=t.action_id,
            correlation_id=self.correlation_id,
            group_id="",
            regarding_entity=self.regarding_entity,
            regarding_id=self.regarding_id,
            regarding_name=t.regarding_name,
            title=t.title,
            action_type=t.action_type,
        )


class SummaryDueStore:
    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    async def mark(
        self,
        correlation: Correlation,
        due_at: int,
        now_ms: int,
        *,
        attempts: int = 0,
        error: str = "",
    ) -> bool:
        """The action's note is due at `due_at`: ONE insert; False when that window's mark
        exists already (nothing else to do: it is the same note write)."""
        c = correlation
        entity: Entity = {
            "PartitionKey": PARTITION,
            "RowKey": _row_key(due_at, c.correlation_id),
            "correlationId": c.correlation_id,
            "dueAt": due_at,
            "markedAt": now_ms,
            "attempts": attempts,
            "lastError": error,
            "actionId": c.action_id[:1024],
            "regardingEntity": c.regarding_entity,
            "regardingId": c.regarding_id,
            "regardingName": c.regarding_name[:400],
            "title": c.title[:400],
            "actionType": c.action_type,
        }
        return await self._tables.insert(TABLE, entity)

    async def due(self, now_ms: int, limit: int) -> list[DueSummary]:
        """Marks whose time has come, the oldest first (a key range: what is due, not stored)."""
        # "/" sorts right after ".": every key of a time up to now_ms, none after it.
        upper = f"{now_ms:0{TIME_DIGITS}d}/"
        return [
            DueSummary.from_stored(s)
            async for s in self._tables.query(
                TABLE,
                "PartitionKey eq @pk and RowKey lt @upper",
                {"pk": PARTITION, "upper": upper},
                limit=limit,
            )
        ]

    async def marks(self, correlation_id: str) -> list[DueSummary]:
        """Every mark of an action, due or not (tests, operators: a scan of the partition)."""
        return [
            DueSummary.from_stored(s)
            async for s in self._tables.query(
                TABLE,
                "PartitionKey eq @pk and correlationId eq @cid",
                {"pk": PARTITION, "cid": correlation_id},
            )
        ]

    async def marked(self, limit: int) -> set[str]:
        """Correlation ids with a mark (a note still to write), reading at most `limit` marks."""
        return {
            str(s.entity.get("correlationId"))
            async for s in self._tables.query(
                TABLE,
                "PartitionKey eq @pk",
                {"pk": PARTITION},
                select=["correlationId"],
                limit=limit,
            )
        }

    async def done(self, mark: DueSummary) -> bool:
        """Forget a handled mark; False when another sweeper did already."""
        return await self._tables.delete(TABLE, PARTITION, mark.row_key, mark.etag)
