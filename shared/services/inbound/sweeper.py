"""The `process_inbox` timer: finish every event the inline attempt did not, with back-off.

A backlog (thousands of events accepted during a Dataverse outage) drains in one run: batch
after batch, INBOX_DRAIN_CONCURRENCY at once, within Dataverse's limits (the process's circuit
and request window, `shared.adapters.dataverse.guard`).
"""

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
BATCH_LIMIT = 200  # due rows read per batch; a run reads batch after batch
SWEEP_LIMIT = BATCH_LIMIT  # the old name
SWEEP_BUDGET_SECONDS = 45.0  # stop claiming well before the timer's next minute
CIRCUIT_POLL_SECONDS = 0.5  # half-open with another caller's probe out: look again this soon
# A pause the run waits out itself: a 429's Retry-After up to this (a longer one is left to
# the next runs, every 10 s); an outage's open circuit only when its probe is this close (the
# run came a little early for it), so that each timer run probes once while Dataverse is down.
IN_RUN_PAUSE_SECONDS = 10.0
PROBE_SLACK_SECONDS = 2.0


@dataclass
class SweepReport:
    found: int = 0
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    expired: int = 0
    notes: int = 0  # summary notes written
    batches: int = 0  # due reads made
    paused: float = 0.0  # seconds the drain waited for the Dataverse circuit (429, outage)

    def as_dict(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "claimed": self.claimed,
            "outcomes": dict(self.outcomes),
            "expired": self.expired,
            "notes": self.notes,
            "batches": self.batches,
            "paused": round(self.paused, 3),
        }

    def count(self, outcome: str) -> None:
        self.claimed += 1
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


async def sweep_inbox(
    deps: InboundDeps,
    *,
    limit: int = BATCH_LIMIT,
    budget: float = SWEEP_BUDGET_SECONDS,
    expire: bool | None = None,
) -> SweepReport:
    """One run of `process_inbox`: drain the due pending rows, batch after batch, oldest first,
    until none is due or the run's budget is spent.

    Each row is claimed (CAS) then processed, INBOX_DRAIN_CONCURRENCY at once; rows of the same
    response in arrival order. The process's Dataverse circuit paces the whole drain: while it
    is open (an outage, or a 429 for its Retry-After) no row is claimed and the run waits, when
    the wait fits in its budget; half-open, one row goes alone as the probe. A row held back by
    the circuit keeps its attempts and is taken again after the pause. Then the summary notes
    that are due are written (summaries.py), and rows older than RETENTION_DAYS are removed
    (hourly per process unless `expire` says otherwise).
    """
    started = deps.monotonic()
    now = deps.now_ms()
    report = SweepReport()
    finished: set[tuple[str, str]] = set()  # rows this run is done with (never twice a run)
    while deps.monotonic() - started <= budget:
        if not await _wait_for_circuit(deps, started, budget, report):
            break
        due = [
            row
            for row in await deps.inbox.due(deps.now_ms(), limit)
            if (row.partition_key, row.row_key) not in finished
        ]
        if not due:
            break
        report.batches += 1
        report.found += len(due)
        await _drain(deps, due, started, budget, report, finished)
    report.notes = await _write_notes(deps, started, budget)
    if expire is None:
        expire = deps.expiry.due()
    if expire:
        deps.expiry.ran()
        cutoff = now - deps.settings.retention_days * 86_400_000
        report.expired = await deps.inbox.expire(cutoff)
    log.info("process_inbox %s", json.dumps(report.as_dict(), separators=(",", ":")))
    return report


async def _wait_for_circuit(
    deps: InboundDeps, started: float, budget: float, report: SweepReport
) -> bool:
    """Wait once for the circuit, when it refuses calls and the pause is short (see
    IN_RUN_PAUSE_SECONDS) and fits in the budget; False when the run stops here instead."""
    circuit = deps.circuit
    if circuit is None or not circuit.blocked():
        return True
    wait = circuit.retry_in() or CIRCUIT_POLL_SECONDS
    longest = IN_RUN_PAUSE_SECONDS if circuit.throttled else PROBE_SLACK_SECONDS
    if wait > longest or deps.monotonic() - started + wait > budget:
        log.info("process_inbox stops: Dataverse circuit open for %.1f s", wait)
        return False
    log.info("process_inbox pauses %.1f s: Dataverse circuit open", wait)
    await deps.sleep(wait)
    report.paused += wait
    return not circuit.blocked()


async def _drain(
    deps: InboundDeps,
    due: list[DueRow],
    started: float,
    budget: float,
    report: SweepReport,
    finished: set[tuple[str, str]],
) -> None:
    """One batch: responses concurrently (bounded), each response's rows in arrival order."""
    groups: dict[tuple[str, str], list[DueRow]] = defaultdict(list)
    for row in due:  # oldest arrival first (InboxStore.due): so are the groups
        groups[(row.partition_key, row.response_key)].append(row)
    queue = list(groups.values())

    async def one(row: DueRow) -> bool:
        """Process a row; False when the rest of its response must wait (circuit, budget)."""
        if deps.monotonic() - started > budget or deps.dataverse_blocked():
            return False  # left for after the pause or the next run, unclaimed
        # A span per event: the ids it learns go on it, not on the timer's span.
        with telemetry.span("process_inbox event", eventId=row.entity.get("eventId")):
            outcome = await _claim_and_process(deps, row)
        if outcome != "held":
            finished.add((row.partition_key, row.row_key))
        if outcome is not None:
            report.count(outcome)
        return outcome != "held"

    circuit = deps.circuit
    if circuit is not None and circuit.state == "half-open" and queue:
        # The probe: one row alone; the rest only once Dataverse has answered it.
        first = queue[0]
        if not await one(first[0]):
            return
        queue[0] = first[1:]
    gate = asyncio.Semaphore(deps.settings.inbox_drain_concurrency)

    async def run(rows: list[DueRow]) -> None:
        async with gate:
            for row in rows:
                if not await one(row):
                    return

    await asyncio.gather(*(run(rows) for rows in queue if rows))


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
