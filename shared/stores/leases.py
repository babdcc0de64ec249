"""The `leases` table: the one lease implementation (one holder across instances).

A lease is a row taken insert-only, or over an expired (or own) lease conditionally on the ETag
it was read with, so two instances can never both hold it. It lapses by itself at `until`: a
holder that dies blocks the others at most that long.

Rows:
- named leases (the outbox drainer): PartitionKey = "lease", RowKey = the name; holder,
  until (epoch seconds).
- the Kaizala token: PartitionKey = "kaizala", RowKey = "access-token"; holder, leaseUntil
  (epoch seconds) and the token's public facts (see `shared.stores.kaizala_token`, which reaches
  the row only through this store).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.adapters.tables import TableStore
from shared.clock import Clock, wall

TABLE = "leases"
NAMED_PARTITION = "lease"


@dataclass(frozen=True)
class LeaseKey:
    partition: str
    row: str
    until_field: str = "until"  # the token row, older than this module, calls it leaseUntil

    def keys(self) -> dict[str, Any]:
        return {"PartitionKey": self.partition, "RowKey": self.row}

    def freed(self) -> dict[str, Any]:
        """The fields that give the lease up (to merge into a row the holder writes anyway)."""
        return {"holder": "", self.until_field: 0.0}


def named(name: str) -> LeaseKey:
    return LeaseKey(NAMED_PARTITION, name)


TOKEN_LEASE = LeaseKey("kaizala", "access-token", until_field="leaseUntil")


@dataclass(frozen=True)
class LeaseRow:
    """A lease row as read: the lease, the ETag, and whatever else the row carries."""

    data: Mapping[str, Any]
    etag: str
    holder: str
    until: float

    def held_by_other(self, holder: str, now: float) -> bool:
        return self.until > now and self.holder != holder


class LeaseStore:
    def __init__(self, tables: TableStore, clock: Clock = wall) -> None:
        self._tables = tables
        self._clock = clock

    async def read(self, key: LeaseKey) -> LeaseRow | None:
        stored = await self._tables.get(TABLE, key.partition, key.row)
        if stored is None:
            return None
        e = stored.entity
        return LeaseRow(
            e, stored.etag, str(e.get("holder") or ""), float(e.get(key.until_field) or 0.0)
        )

    async def take(self, key: LeaseKey, holder: str, seconds: float) -> bool:
        """Take (or renew) the lease for `seconds`; False while another holder has it."""
        return await self.take_over(key, await self.read(key), holder, seconds)

    async def take_over(
        self,
        key: LeaseKey,
        seen: LeaseRow | None,
        holder: str,
        seconds: float,
        *,
        initial: Mapping[str, Any] | None = None,
    ) -> bool:
        """Take the lease as last read (`seen`; None for no row, then `initial` joins the new
        row). False if another holder has it or the row changed since it was read."""
        now = self._clock()
        if seen is not None and seen.held_by_other(holder, now):
            return False
        lease = {**key.keys(), "holder": holder, key.until_field: now + seconds}
        if seen is None:
            return await self._tables.insert(TABLE, {**lease, **(initial or {})})
        return await self._tables.update(TABLE, lease, seen.etag)

    async def release(self, key: LeaseKey, holder: str) -> None:
        """Give the lease up if `holder` still has it (else someone took it over: leave it)."""
        row = await self.read(key)
        if row is not None and row.holder == holder:
            await self._tables.update(TABLE, {**key.keys(), **key.freed()}, row.etag)

    # --- the rest of a lease row (conditional like the lease itself) ---------------------------

    async def insert(self, key: LeaseKey, fields: Mapping[str, Any]) -> bool:
        return await self._tables.insert(TABLE, {**key.keys(), **fields})

    async def update(self, key: LeaseKey, fields: Mapping[str, Any], etag: str) -> bool:
        """Merge `fields`, conditional on the ETag; False when the row changed meanwhile."""
        return await self._tables.update(TABLE, {**key.keys(), **fields}, etag)

    async def merge(self, key: LeaseKey, fields: Mapping[str, Any]) -> None:
        """Merge `fields` unconditionally (creating the row if needed)."""
        await self._tables.upsert(TABLE, {**key.keys(), **fields})
