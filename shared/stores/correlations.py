"""The `actionindex` table: Kaizala action id → the correlation (record, group, title).

Written once per sent action by the outbound half (the index first: a response can arrive
within milliseconds of the send), read by the inbound half for every response event.
Row: PartitionKey = Kaizala actionId, RowKey = "c"; correlationId, groupId, regardingEntity,
regardingId (lower case), regardingName, title, actionType, createdAt (epoch ms).
"""

from __future__ import annotations

from collections import OrderedDict

from shared.adapters.tables import TableStore, check_key, expire_rows
from shared.domain.correlation import Correlation

__all__ = ["CACHE_SIZE", "ROW_KEY", "TABLE", "Correlation", "CorrelationStore"]

TABLE = "actionindex"
ROW_KEY = "c"
CACHE_SIZE = 4096


class CorrelationStore:
    """One per process (the runtime builds it): its cache is the process's."""

    def __init__(self, tables: TableStore, cache_size: int = CACHE_SIZE) -> None:
        self._tables = tables
        self._cache_size = cache_size
        # Hits only: an index row never changes once written, while a miss may be filled any
        # moment by a send on another instance.
        self._cache: OrderedDict[str, Correlation] = OrderedDict()

    async def record(self, correlation: Correlation, created_ms: int) -> None:
        c = correlation
        await self._tables.upsert(
            TABLE,
            {
                "PartitionKey": c.action_id,
                "RowKey": ROW_KEY,
                "correlationId": c.correlation_id,
                "groupId": c.group_id,
                "regardingEntity": c.regarding_entity,
                "regardingId": c.regarding_id.lower(),
                "regardingName": c.regarding_name,
                "title": c.title,
                "actionType": c.action_type,
                "createdAt": created_ms,
            },
        )

    async def find(self, action_id: object) -> Correlation | None:
        """The correlation of a Kaizala action, or None; a warm hit costs no table read."""
        if not isinstance(action_id, str) or not action_id:
            return None
        hit = self._cache.get(action_id)
        if hit is not None:
            self._cache.move_to_end(action_id)
            return hit
        try:
            check_key(action_id)
        except ValueError:
            return None  # the outbound half can never have written such a key
        stored = await self._tables.get(TABLE, action_id, ROW_KEY)
        if stored is None:
            return None
        found = Correlation.from_entity(action_id, stored.entity)
        self._cache[action_id] = found
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return found

    async def owner(self, action_id: str) -> str | None:
        """The correlation id that holds `action_id`, read from the table (never cached)."""
        stored = await self._tables.get(TABLE, action_id, ROW_KEY)
        return None if stored is None else str(stored.entity.get("correlationId") or "")

    async def expire(self, cutoff_ms: int) -> int:
        return await expire_rows(self._tables, TABLE, cutoff_ms, "createdAt")

    def forget(self) -> None:
        """Drop the cache (tests that rewrite rows behind the store's back)."""
        self._cache.clear()
