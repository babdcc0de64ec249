"""The `budget` table: Kaizala calls allowed per window, shared by every instance.

Row: PartitionKey = "kaizala", RowKey = `slot % 64`; slot (the slot number it counts for),
count (calls taken in it).

Two kinds of taker share the rows. Sends (`try_acquire`, `acquire`) may fill a slot. Work that
must never delay a send (the response backfill: `try_acquire_spare`) takes a call only while
the current slot still has at least half its calls left (`spare_per_slot`), and its callers
also stand back while the outbox holds queued sends. Both count in the same slot, so all
instances together stay within the budget whoever takes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from shared.adapters.tables import TableStore
from shared.clock import Clock, wall

TABLE = "budget"
PARTITION = "kaizala"
ROWS = 64
CAS_ATTEMPTS = 8

Sleep = Callable[[float], Awaitable[None]]


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
        clock: Clock = wall,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._tables = tables
        self.slot_seconds = window_seconds / slots
        self.slots = slots
        self.per_window = per_window
        self.per_slot = max(1, per_window // (slots + 1))
        self._clock = clock
        self._sleep = sleep  # injectable with the clock, so a test can run on virtual time
        self._lock = asyncio.Lock()  # one contender per process; CAS handles the others

    @property
    def spare_per_slot(self) -> int:
        """What backfill may take of a slot: the first half (at least one call)."""
        return max(1, self.per_slot // 2)

    async def try_acquire(self) -> float:
        """0 when a call may be made now, else the seconds until the next slot opens."""
        return await self._take(self.per_slot)

    async def try_acquire_spare(self) -> float:
        """Like `try_acquire`, for work that yields to sends: only while the current slot has
        taken fewer than `spare_per_slot` calls, so at least half of every slot stays theirs."""
        return await self._take(self.spare_per_slot)

    async def usage(self) -> dict[str, float]:
        """Calls taken in the current slot and in the window ending with it (the console's
        figures; one read of the partition, at most 64 rows)."""
        slot = int(self._clock() // self.slot_seconds)
        counts = {
            int(row.entity.get("slot", -1)): int(row.entity.get("count", 0))
            async for row in self._tables.query(TABLE, "PartitionKey eq @pk", {"pk": PARTITION})
        }
        window = sum(counts.get(s, 0) for s in range(slot - self.slots + 1, slot + 1))
        return {
            "slotUsed": counts.get(slot, 0),
            "perSlot": self.per_slot,
            "slotSeconds": self.slot_seconds,
            "windowUsed": window,
            "windowLimit": self.per_window,
            "windowSeconds": self.slot_seconds * self.slots,
        }

    async def _take(self, limit: int) -> float:
        async with self._lock:
            for _ in range(CAS_ATTEMPTS):
                now = self._clock()
                slot = int(now // self.slot_seconds)
                rk = str(slot % ROWS)
                row = await self._tables.get(TABLE, PARTITION, rk)
                fresh = {"PartitionKey": PARTITION, "RowKey": rk, "slot": slot, "count": 1}
                if row is None:
                    if await self._tables.insert(TABLE, fresh):
                        return 0.0
                    continue
                if int(row.entity.get("slot", -1)) != slot:
                    if await self._tables.update(TABLE, fresh, row.etag):
                        return 0.0
                    continue
                count = int(row.entity.get("count", 0))
                if count >= limit:
                    return max(0.001, (slot + 1) * self.slot_seconds - now)
                row.entity["count"] = count + 1
                if await self._tables.update(TABLE, row.entity, row.etag):
                    return 0.0
            return self.slot_seconds  # heavy contention: let the caller come back

    async def acquire(self, deadline: float) -> bool:
        """Wait for room until `deadline` (epoch seconds on the clock); False if there is none."""
        while True:
            wait = await self.try_acquire()
            if wait == 0:
                return True
            if self._clock() + wait > deadline:
                return False
            await self._sleep(wait)
