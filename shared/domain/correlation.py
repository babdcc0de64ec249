"""The correlation of a sent Kaizala action: which Dynamics record its responses belong to.

Written once per sent action by the outbound half and read by the inbound half for every
response event (the `actionindex` table, `shared.stores.correlations`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Correlation:
    action_id: str
    correlation_id: str
    group_id: str
    regarding_entity: str
    regarding_id: str
    regarding_name: str
    title: str
    action_type: str

    @classmethod
    def from_entity(cls, action_id: str, e: Mapping[str, Any]) -> Correlation:
        return cls(
            action_id=action_id,
            correlation_id=str(e.get("correlationId") or ""),
            group_id=str(e.get("groupId") or ""),
            regarding_entity=str(e.get("regardingEntity") or ""),
            regarding_id=str(e.get("regardingId") or ""),
            regarding_name=str(e.get("regardingName") or ""),
            title=str(e.get("title") or ""),
            action_type=str(e.get("actionType") or ""),
        )
