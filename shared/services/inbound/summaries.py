"""Write the summary notes that are due: one note per action, rewritten after its responses.

Run by the `process_inbox` sweep (every minute), after the inbox rows. Why the sweeper and not
the inline path: the inline attempt has 4 s that belong to the activity Kaizala waits for, and
the last response of a burst is followed by no other, so a timer has to write it anyway; one
writer keeps it simple. A response marks the note due `summary_delay` (30 s) ahead unless a
write is pending, so an action's note is written at most once per sweep however many answers
came, at most about a minute and a half after the first of them.

Per due action: read its response rows, compute the figures (`summarise`, the same function as
`GET /api/actions/{id}`), render the note and upsert it (`PATCH annotations(<id>)`, the id
derived from the correlation id). Then the mark is settled on the ETag it was read with: if a
response came meanwhile the settle loses and the mark stays due, so that response is in the
next write. A failed write backs off like an inbox event (the one retry policy, at most
INBOX_MAX_ATTEMPTS tries); a permanent refusal gives up until the next response.
"""

from __future__ import annotations

import logging

from shared.adapters.dataverse import DataversePermanentError, summary_note_id
from shared.domain.summary import summarise, summary_note
from shared.services.inbound.deps import InboundDeps, short
from shared.services.inbound.processing import backoff_seconds, error_text
from shared.stores.results import DueSummary

log = logging.getLogger(__name__)

WRITE_LIMIT = 100  # notes per sweep


async def write_due_summaries(
    deps: InboundDeps, *, started: float, budget: float, limit: int = WRITE_LIMIT
) -> int:
    """Write every due summary note (oldest first) until the sweep's budget is spent."""
    written = 0
    for mark in await deps.results.due(deps.now_ms(), limit):
        if deps.monotonic() - started > budget:
            break  # still due: the next sweep writes it
        if await write_summary(deps, mark):
            written += 1
    return written


async def write_summary(deps: InboundDeps, mark: DueSummary) -> bool:
    """One note write and its outcome on the mark; True when the note was written."""
    now = deps.now_ms()
    attempts = mark.attempts + 1
    cid = mark.correlation_id
    try:
        summary = summarise(await deps.results.records(cid))
        subject, text = summary_note(summary, mark.target)
        await deps.dataverse().upsert_note(
            summary_note_id(cid), mark.regarding_entity, mark.regarding_id, subject, text
        )
    except DataversePermanentError as exc:
        await deps.results.settle(
            mark, retry_at=None, attempts=attempts, written_at=0, error=error_text(exc)
        )
        log.warning("summary %s not written: %s", short(cid), type(exc).__name__)
        return False
    except Exception as exc:  # transient (or unexpected): back off, bounded by the attempts
        policy = deps.retry_policy()
        retry_at: int | None = None
        if attempts < policy.max_attempts:
            wait = backoff_seconds(policy, attempts, getattr(exc, "retry_after", None))
            retry_at = now + int(wait * 1000)
        await deps.results.settle(
            mark, retry_at=retry_at, attempts=attempts, written_at=0, error=error_text(exc)
        )
        log.warning(
            "summary %s write failed (%s); %s",
            short(cid),
            type(exc).__name__,
            "retried later" if retry_at else "given up until the next response",
        )
        return False
    if not await deps.results.settle(mark, retry_at=None, attempts=0, written_at=now, error=""):
        log.info("summary %s changed while written: written again next sweep", short(cid))
    log.info("summary %s written responses=%d", short(cid), summary.responses)
    return True
