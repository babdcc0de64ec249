"""Write the summary notes that are due: one note per action, rewritten after its responses.

Run by the `process_inbox` sweep (every minute), after the inbox rows. Why the sweeper and not
the inline path: the inline attempt has 4 s that belong to the activity Kaizala waits for, and
the last response of a burst is followed by no other, so a timer has to write it anyway; one
writer keeps it simple. A response marks the note due at the end of the next window of half
`summary_delay` (30 s) (`shared.stores.summary_due`), so an action's note is written at most
once per window and per sweep however many answers came, at most 30 s after the first of them
(then the sweep's own minute).

Per due action (its due marks taken together): read the inbox's done rows of the action once,
keep each response's latest answers (`latest_records`), compute the figures (`summarise`, the
same functions as `GET /api/actions/{id}`), render the note and upsert it (`PATCH
annotations(<id>)`, the id derived from the correlation id). Then the marks read are deleted
(each on its ETag). A response that comes meanwhile has marked a later window, so it is in the
next write; rows still pending when the inbox was read get a follow-up mark for the same reason.
A failed write backs off like an inbox event (a mark at the retry time, the one retry policy, at
most INBOX_MAX_ATTEMPTS tries); a permanent refusal gives up until the next response.
"""

from __future__ import annotations

import logging

from shared.adapters.dataverse import (
    DataverseCircuitOpenError,
    DataversePermanentError,
    summary_note_id,
)
from shared.domain.summary import latest_records, summarise, summary_note
from shared.services.inbound.deps import InboundDeps, short
from shared.services.inbound.processing import backoff_seconds, error_text
from shared.stores.summary_due import DueSummary, due_time

log = logging.getLogger(__name__)

WRITE_LIMIT = 100  # marks read per sweep


async def write_due_summaries(
    deps: InboundDeps, *, started: float, budget: float, limit: int = WRITE_LIMIT
) -> int:
    """Write every due summary note (oldest first) until the sweep's budget is spent."""
    by_action: dict[str, list[DueSummary]] = {}
    for mark in await deps.summary_due.due(deps.now_ms(), limit):
        by_action.setdefault(mark.correlation_id, []).append(mark)
    written = 0
    for marks in by_action.values():
        if deps.monotonic() - started > budget or deps.dataverse_blocked():
            break  # still due: the next sweep writes it
        if await write_summary(deps, marks):
            written += 1
    return written


async def write_summary(deps: InboundDeps, marks: list[DueSummary]) -> bool:
    """One note write for an action's due marks, and its outcome; True when written."""
    now = deps.now_ms()
    mark = marks[-1]  # the latest: its target is the freshest (they are all the same action)
    attempts = max(m.attempts for m in marks) + 1
    cid = mark.correlation_id
    delay_ms = int(deps.summary_delay * 1000)
    try:
        rows = await deps.inbox.response_rows(mark.target.action_id)
        summary = summarise(latest_records(rows.done, mark.correlation()))
        subject, text = summary_note(summary, mark.target)
        await deps.dataverse().upsert_note(
            summary_note_id(cid), mark.regarding_entity, mark.regarding_id, subject, text
        )
    except DataverseCircuitOpenError:
        return False  # nothing was sent: the marks stay due as they are, attempts untouched
    except DataversePermanentError as exc:
        await _forget(deps, marks)
        log.warning("summary %s not written: %s", short(cid), type(exc).__name__)
        return False
    except Exception as exc:  # transient (or unexpected): back off, bounded by the attempts
        policy = deps.retry_policy()
        retried = attempts < policy.max_attempts
        if retried:
            wait = backoff_seconds(policy, attempts, getattr(exc, "retry_after", None))
            retry_at = due_time(now + int(wait * 1000), delay_ms)
            error = error_text(exc)
            await deps.summary_due.mark(
                mark.correlation(), retry_at, now, attempts=attempts, error=error
            )
        await _forget(deps, marks)
        log.warning(
            "summary %s write failed (%s); %s",
            short(cid),
            type(exc).__name__,
            "retried later" if retried else "given up until the next response",
        )
        return False
    if rows.pending:
        # Rows in flight or retrying when the inbox was read: written again after them.
        await deps.summary_due.mark(mark.correlation(), due_time(now, delay_ms), now)
    await _forget(deps, marks)
    log.info(
        "summary %s written responses=%d%s",
        short(cid),
        summary.responses,
        " (rows read up to the limit)" if rows.truncated else "",
    )
    return True


async def _forget(deps: InboundDeps, marks: list[DueSummary]) -> None:
    for m in marks:
        await deps.summary_due.done(m)  # False: another sweeper handled it; nothing to do
