"""Replay (ADMIN): dead and orphan inbox rows back to pending, once their cause is fixed."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import ValidationError
from shared.services.inbound.deps import InboundDeps

log = logging.getLogger(__name__)


class ReplayRequest(BaseModel):
    """Body of POST /api/manage/inbox/replay: `{}`, `{"eventId": ...}` or `{"status": ...}`."""

    model_config = ConfigDict(defer_build=True, extra="forbid", strict=True)
    eventId: str | None = Field(default=None, min_length=1, max_length=1024)
    status: Literal["dead", "orphan"] | None = None


async def replay(deps: InboundDeps, event_id: str | None = None, status: str | None = None) -> int:
    """Put dead and orphan rows (all, one event, or one status) back to pending; the count."""
    if status not in (None, "dead", "orphan"):
        raise ValidationError("status must be dead or orphan.")
    statuses = {status} if status else {"dead", "orphan"}
    count = await deps.inbox.replay(event_id, statuses, deps.now_ms())
    log.info("inbox replay requeued=%d", count)
    return count
