"""The `flowsubs` table: Power Automate trigger subscriptions (`POST /api/subscriptions`).

Row: PartitionKey = "sub", RowKey = the subscription id (32 hex digits, random); callbackUrl
(a secret: signed; never logged, shown only by its host), groupId and regardingId (filters, ""
when absent), createdAt (epoch ms). One small partition: every instance reads all of it at most
once per cache period (the service's cache), which is what matching an event needs. This module
is the only code that names the table or derives its keys.
"""

from __future__ import annotations

import uuid

from shared.adapters.tables import Entity, Stored, TableStore
from shared.domain.flow_subscriptions import FlowSubscription

TABLE = "flowsubs"
PARTITION = "sub"
LIST_LIMIT = 1000  # subscriptions read per listing: a tenant's flows, not its events


def _from_stored(stored: Stored) -> FlowSubscription:
    e = stored.entity
    return FlowSubscription(
        id=str(e["RowKey"]),
        callback_url=str(e.get("callbackUrl") or ""),
        group_id=str(e.get("groupId") or "") or None,
        regarding_id=str(e.get("regardingId") or "") or None,
        created_at=int(e.get("createdAt") or 0),
    )


class FlowSubscriptionStore:
    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

    async def add(
        self, callback_url: str, group_id: str | None, regarding_id: str | None, now_ms: int
    ) -> FlowSubscription:
        """A new subscription with a fresh id (Power Automate subscribes once per flow turn-on;
        a repeat is a new subscription, removed by its own DELETE)."""
        sub_id = uuid.uuid4().hex
        entity: Entity = {
            "PartitionKey": PARTITION,
            "RowKey": sub_id,
            "callbackUrl": callback_url,
            "groupId": group_id or "",
            "regardingId": regarding_id or "",
            "createdAt": now_ms,
        }
        await self._tables.insert(TABLE, entity)
        return _from_stored(Stored(entity, ""))

    async def get(self, sub_id: str) -> FlowSubscription | None:
        stored = await self._tables.get(TABLE, PARTITION, sub_id)
        return _from_stored(stored) if stored is not None else None

    async def all(self) -> list[FlowSubscription]:
        found = [
            _from_stored(s)
            async for s in self._tables.query(
                TABLE, "PartitionKey eq @pk", {"pk": PARTITION}, limit=LIST_LIMIT
            )
        ]
        return sorted(found, key=lambda s: (s.created_at, s.id))

    async def delete(self, sub_id: str) -> bool:
        """False when there was none (a repeated DELETE)."""
        return await self._tables.delete(TABLE, PARTITION, sub_id)
