"""The `process_inbox` timer: finish every event the inline attempt did not, with back-off."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from shared import telemetry
from shared.errors import BridgeError
from shared.services.inbound.deps import InboundDeps, short
from shared.services.inbound.processing import process_event, retry_later
from shared.services.inbound.summaries import write_due_summaries
from shared.stores.inbox import DueRow

log = logging.getLogger(__name__)

CLAIM_MS = 120_000  # a claimed row is invisible to other sweepers for this long
SWEEP_LIMIT = 200
SWEEP_BUDGET_SECONDS = 45.0  # stop claiming well before the next minute's run
SWEEP_CONCURRENCY = 8


@dataclass
class SweepReport:
    found: int = 0
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    expired: int = 0
    notes: int = 0  # summary notes written

    def as_dict(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "claimed": self.claimed,
            "outcomes": dict(self.outcomes),
            "expired": self.expired,
            "notes": self.notes,
        }


async def sweep_inbox(
    deps: InboundDeps,
    *,
    limit: int = SWEEP_LIMIT,
    budget: float = SWEEP_BUDGET_SECONDS,
    expire: bool | None = None,
) -> SweepReport:
    """One run of `process_inbox`: due pending rows, claimed one by one (CAS), then processed.

    Rows of the same response are processed in arrival order; different responses run
    concurrently (bounded). Then the summary notes that are due are written (summaries.py),
    and rows older than RETENTION_DAYS are removed (hourly per process unless `expire` says
    otherwise).
    """
    started = deps.monotonic()
    now = deps.now_ms()
    due = await deps.inbox.due(now, limit)
    groups: dict[tuple[str, str], list[DueRow]] = defaultdict(list)
    for row in due:
        groups[(row.partition_key, row.response_key)].append(row)
    report = SweepReport(found=len(due))
    gate = asyncio.Semaphore(SWEEP_CONCURRENCY)

    async def run(rows: list[DueRow]) -> None:
        async with gate:
            for row in rows:
                if deps.monotonic() - started > budget:
                    return  # left for the next run, unclaimed
                # A span per event: the ids it learns go on it, not on the timer's span.
                with telemetry.span("process_inbox event", eventId=row.entity.get("eventId")):
                    outcome = await _claim_and_process(deps, row)
                if outcome is not None:
                    report.claimed += 1
                    report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1

    await asyncio.gather(*(run(rows) for rows in groups.values()))
    report.notes = await _write_notes(deps, started, budget)
    if expire is None:
        expire = deps.expiry.due()
    if expire:
        deps.expiry.ran()
        cutoff = now - deps.settings.retention_days * 86_400_000
        report.expired = await deps.inbox.expire(cutoff)
    log.info("process_inbox %s", json.dumps(report.as_dict(), separators=(",", ":")))
    return report


async def _write_notes(deps: InboundDeps, started: float, budget: float) -> int:
    """The due summary notes, in what is left of the run's budget (never failing the run)."""
    try:
        return await write_due_summaries(deps, started=started, budget=budget)
    except BridgeError as exc:  # storage trouble: the marks stay due for the next run
        log.warning("process_inbox summary notes skipped: %s", type(exc).__name__)
        return 0


async def _claim_and_process(deps: InboundDeps, row: DueRow) -> str | None:
    """Claim by CAS on the row's ETag (another instance may hold it), then process it."""
    try:
        item = await deps.inbox.claim(row, deps.now_ms() + CLAIM_MS)
        if item is None:
            return None
        try:
            return await asyncio.wait_for(
                process_event(deps, item, first=False), deps.event_timeout
            )
        except TimeoutError as exc:
            return await retry_later(deps, item, exc, deps.now_ms())
    except BridgeError as exc:
        # Storage trouble: the claim expires and a later run tries again.
        log.warning("process_inbox row skipped: %s", type(exc).__name__)
        return None
    except Exception:
        # One bad row (say, a corrupt blob) must not stop the run; its claim expires.
        log.exception("process_inbox row %s failed", short(row.row_key))
        return None
