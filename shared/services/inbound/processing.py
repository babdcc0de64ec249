"""Process one stored response event: correlate, write the activity, queue the flow deliveries,
save the outcome.

Inline right after the insert (`receive_event`) or by the sweeper: the correlation (actionId →
opportunity, cached per process), one conditional write of the activity (`activity.py`), the flow
deliveries queued (flow_subscriptions.py: none without a subscription), the action's summary note
marked due (`results.py`: one insert), then one update of the inbox row. Two table transactions per
event once warm (the intake's insert makes three). A chat event of a conversation group becomes one
note instead (`process_conversation_event`, `conversation.py`). Whatever fails is saved on the row:
`dead` when retrying cannot help, else `pending` with a back-off (the one retry policy), `dead` once
the attempts run out.
"""

from __future__ import annotations

import logging
import math
from typing import Literal

from shared import telemetry
from shared.adapters.dataverse import (
    DataverseCircuitOpenError,
    DataversePermanentError,
    DataverseThrottledError,
    activity_id_for,
)
from shared.adapters.retry import RetryPolicy
from shared.domain.conversation import is_conversation
from shared.domain.response_event import EventShapeError, parse_response_event
from shared.domain.responses import normalise_response
from shared.errors import BridgeError
from shared.logsafe import log_value
from shared.services.inbound.activity import write_activity
from shared.services.inbound.conversation import write_conversation_note
from shared.services.inbound.deps import InboundDeps, short
from shared.services.inbound.results import mark_summary_due
from shared.stores.inbox import InboxItem, Status

log = logging.getLogger(__name__)

LAST_ERROR_CHARS = 300
# A failed attempt is never due again at once, whatever the jitter drew: full jitter can draw
# 0 s, and a row due immediately is retried by the next sweep of any instance, in a burst.
MIN_RETRY_SECONDS = 1.0

# `held`: pending again without an attempt counted (the circuit was open, or Dataverse
# throttled the bridge as a whole): the drain resumes it after the pause.
Outcome = Literal["done", "orphan", "superseded", "pending", "held", "dead", "ignored"]


class _PermanentEventError(Exception):
    """The stored event cannot be read back (not JSON, a corrupt blob): see InboxItem."""


async def process_event(deps: InboundDeps, item: InboxItem, *, first: bool = False) -> Outcome:
    """Write one pending response event to Dataverse (and queue its flow deliveries); save it.

    `first` is the inline attempt right after `accept_event` (for logs only: every attempt,
    inline or not, writes only if the activity does not hold a newer answer).
    """
    if is_conversation(item.event):
        return await process_conversation_event(deps, item)
    now = deps.now_ms()
    try:
        if item.unreadable is not None:
            raise _PermanentEventError(item.unreadable)
        # The shape first: an event that is not what its type documents is dead, whatever
        # its correlation (retrying it can never help).
        shape = parse_response_event(item.event)
        correlation = await deps.correlations.find(shape.data.actionId)
        if correlation is not None:
            telemetry.set_ids(
                correlationId=correlation.correlation_id, groupId=correlation.group_id
            )
        if correlation is None:
            await _save(deps, item, "orphan", attempted_at=now)
            log.info("inbox event=%s outcome=orphan (no correlation)", short(item.event_id))
            return "orphan"
        response = normalise_response(item, correlation, now, shape)
        activity_id = activity_id_for(response.response_id)
        entity_set = deps.settings.dataverse_activity_set
        held = await write_activity(deps.dataverse(), entity_set, response, activity_id)
        if held is not None:
            await _save(deps, item, "superseded", attempted_at=now)
            log.info(
                "inbox event=%s outcome=superseded first=%s answer_time=%d held=%d",
                short(item.event_id),
                first,
                response.answer_time,
                held,
            )
            return "superseded"
        if deps.flows is not None:
            # Delivery rows only (the timer POSTs them): a slow callback never holds the event.
            await deps.flows.enqueue(response, str(activity_id))
        # Last before `done`: the sweeper counts done rows, and a row it finds pending gets a
        # follow-up mark (summaries.py), so a response is in a note however the two interleave.
        await mark_summary_due(deps, response)
    except (DataversePermanentError, _PermanentEventError, EventShapeError) as exc:
        error = error_text(exc)
        await _save(deps, item, "dead", attempted_at=now, attempts=item.attempts + 1, error=error)
        # A shape error's text is ours (field names, never the event's text): logged whole, and
        # escaped all the same; other errors by type, their detail stays in lastError.
        reason = error if isinstance(exc, EventShapeError) else type(exc).__name__
        telemetry.count(telemetry.EVENTS, outcome="dead")
        log.warning("inbox event=%s outcome=dead: %s", short(item.event_id), log_value(reason))
        return "dead"
    except (DataverseCircuitOpenError, DataverseThrottledError) as exc:
        return await held_back(deps, item, exc, now)
    except Exception as exc:  # transient, or unexpected: retried, bounded by the attempt limit
        return await retry_later(deps, item, exc, now)
    await _save(
        deps,
        item,
        "done",
        attempted_at=now,
        attempts=item.attempts + 1,
        processed_at=deps.now_ms(),
        activity_id=str(activity_id),
        error="",
    )
    telemetry.count(telemetry.EVENTS, outcome="processed")
    log.info("inbox event=%s outcome=done", short(item.event_id))
    return "done"


async def process_conversation_event(deps: InboundDeps, item: InboxItem) -> Outcome:
    """A chat event (conversation.py): one note on the group's record, or `ignored`."""
    now = deps.now_ms()
    try:
        note_id = await write_conversation_note(deps, item)
    except DataversePermanentError as exc:
        error = error_text(exc)
        await _save(deps, item, "dead", attempted_at=now, attempts=item.attempts + 1, error=error)
        telemetry.count(telemetry.EVENTS, outcome="dead")
        log.warning("inbox event=%s outcome=dead: %s", short(item.event_id), type(exc).__name__)
        return "dead"
    except (DataverseCircuitOpenError, DataverseThrottledError) as exc:
        return await held_back(deps, item, exc, now)
    except Exception as exc:  # transient, or unexpected: retried, bounded by the attempt limit
        return await retry_later(deps, item, exc, now)
    if note_id is None:
        await _save(deps, item, "ignored", attempted_at=now)
        log.info("inbox event=%s outcome=ignored (no conversation group)", short(item.event_id))
        return "ignored"
    await _save(
        deps,
        item,
        "done",
        attempted_at=now,
        attempts=item.attempts + 1,
        processed_at=deps.now_ms(),
        activity_id=str(note_id),
        error="",
    )
    telemetry.count(telemetry.EVENTS, outcome="processed")
    log.info("inbox event=%s outcome=done (note)", short(item.event_id))
    return "done"


async def held_back(
    deps: InboundDeps,
    item: InboxItem,
    exc: DataverseCircuitOpenError | DataverseThrottledError,
    now: int,
) -> Outcome:
    """Not the event's fault (the circuit was open: no call made; or a 429, which throttles the
    bridge as a whole): pending again once the circuit lets calls through, with the attempts as
    they were and no back-off of its own."""
    wait = exc.retry_in if isinstance(exc, DataverseCircuitOpenError) else exc.retry_after
    next_at = now + int(max(wait, MIN_RETRY_SECONDS) * 1000)
    await _save(
        deps, item, "pending", attempted_at=now, error=error_text(exc), next_attempt_at=next_at
    )
    log.info("inbox event=%s outcome=held (%s)", short(item.event_id), type(exc).__name__)
    return "held"


async def retry_later(deps: InboundDeps, item: InboxItem, exc: BaseException, now: int) -> Outcome:
    """Transient failure (throttled, down, timeout, storage): back off, or give up."""
    attempts = item.attempts + 1
    if not isinstance(exc, BridgeError | TimeoutError | OSError):
        # Not an expected failure: keep the event (bounded by the attempt limit), log the trace.
        log.exception("inbox event=%s failed unexpectedly", short(item.event_id))
    policy = deps.retry_policy()
    error = error_text(exc)
    if getattr(exc, "circuit_open", False):
        # The failure that opened the circuit, or a failed probe: the outage's, not the
        # event's. Attempts as they were; the back-off of the next attempt still spreads the
        # rows, so that the next probe is another event (one that always fails cannot keep
        # the circuit open).
        wait = backoff_seconds(policy, attempts, getattr(exc, "retry_after", None))
        next_at = now + int(wait * 1000)
        await _save(deps, item, "pending", attempted_at=now, error=error, next_attempt_at=next_at)
        log.info("inbox event=%s outcome=held (circuit open)", short(item.event_id))
        return "held"
    if attempts >= policy.max_attempts:
        await _save(deps, item, "dead", attempted_at=now, attempts=attempts, error=error)
        telemetry.count(telemetry.EVENTS, outcome="dead")
        outcome: Outcome = "dead"
    else:
        wait = backoff_seconds(policy, attempts, getattr(exc, "retry_after", None))
        next_at = now + int(wait * 1000)
        await _save(
            deps,
            item,
            "pending",
            attempted_at=now,
            attempts=attempts,
            error=error,
            next_attempt_at=next_at,
        )
        outcome = "pending"
    # Expected failures are this one line, with their problem type (no traceback).
    problem = f" problem={exc.slug}" if isinstance(exc, BridgeError) else ""
    log.info(
        "inbox event=%s outcome=%s attempts=%d error=%s%s",
        short(item.event_id),
        outcome,
        attempts,
        type(exc).__name__,
        problem,
    )
    return outcome


def backoff_seconds(policy: RetryPolicy, attempts: int, retry_after: object) -> float:
    """The wait after failed attempt number `attempts`: the retry policy, never before the
    server's Retry-After, and never 0."""
    server = (
        float(retry_after)
        if isinstance(retry_after, int | float) and math.isfinite(retry_after)
        else None
    )
    wait = policy.sleep_time(attempts, server)
    if server is not None:
        wait = max(wait, server)  # the policy caps a server's wait; the inbox honours it whole
    return max(wait, MIN_RETRY_SECONDS)


async def _save(
    deps: InboundDeps,
    item: InboxItem,
    status: Status,
    *,
    attempted_at: int,
    attempts: int | None = None,
    error: str | None = None,
    next_attempt_at: int | None = None,
    processed_at: int | None = None,
    activity_id: str | None = None,
) -> None:
    saved = await deps.inbox.record(
        item,
        status,
        attempted_at=attempted_at,
        attempts=attempts,
        error=error,
        next_attempt_at=next_attempt_at,
        processed_at=processed_at,
        activity_id=activity_id,
    )
    if not saved:
        log.warning("inbox event=%s vanished before its state was saved", short(item.event_id))


def error_text(exc: BaseException) -> str:
    """What `lastError` keeps: typed errors carry a caller-safe detail, anything else only
    its type (messages of other errors can contain a URL whose query string is a secret)."""
    if isinstance(exc, BridgeError):
        text = f"{type(exc).__name__}: {exc.detail}"
    elif isinstance(exc, _PermanentEventError | EventShapeError):
        text = f"{type(exc).__name__}: {exc}"
    else:
        text = type(exc).__name__
    return " ".join(text.split())[:LAST_ERROR_CHARS]
