"""The webhook's side of the inbox: the validation handshake, then accept and receive an event.

`accept_event` checks the token (401, nothing stored), the size (413) and the shape (400), then
writes ONE insert-only inbox row keyed by the event id, before anything is answered 2xx. A
lost insert is a duplicate delivery (Kaizala delivers at least once), answered without more
work. `receive_event` then processes the event inline, within a time budget.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

from shared import telemetry
from shared.domain import json_limits
from shared.domain.responses import RESPONSE_EVENTS, answer_time
from shared.errors import PayloadTooLargeError, UnauthorizedError, ValidationError
from shared.logsafe import log_value
from shared.services.inbound.conversation import wants_note
from shared.services.inbound.deps import InboundDeps, short
from shared.services.inbound.processing import process_event
from shared.stores.due_index import DueEntry
from shared.stores.inbox import InboxItem

log = logging.getLogger(__name__)

MAX_EVENT_BYTES = 1024 * 1024
INLINE_GRACE_MS = 60_000  # the sweeper leaves a fresh row to the inline processing


def validation_echo(token: str) -> str:
    """The token of `GET ?validationToken=<t>` as Kaizala generated it (percent-decoded once)."""
    try:
        return unquote(token, errors="strict")
    except UnicodeDecodeError:
        raise ValidationError("validationToken is not percent-encoded UTF-8.") from None


@dataclass(frozen=True)
class AcceptResult:
    status: Literal["accepted", "duplicate", "ignored"]
    event_id: str
    partition_key: str
    row_key: str
    event_type: str
    received_at: int
    event: dict[str, Any]
    responded_at: int | None = None
    due_entry: DueEntry | None = None  # the row's due-index entry, removed once it is done


async def accept_event(
    deps: InboundDeps, raw: bytes, presented_token: str | None, *, inline: bool = True
) -> AcceptResult:
    """Authenticate, check and store one webhook event (one insert-only row). See the module doc.

    `inline`: an inline attempt follows, so the row is left to it for the inline grace; without
    one (the Dataverse circuit is open) the row is due at once, for the sweep's next run.

    Raises UnauthorizedError (401), PayloadTooLargeError or EntityTooLargeError (413),
    ValidationError (400), StorageError (503: Kaizala retries).
    """
    if not await deps.callbacks.verify(presented_token):
        raise UnauthorizedError("Missing or invalid kz-callback-token.")
    if len(raw) > MAX_EVENT_BYTES:
        raise PayloadTooLargeError(f"The event is larger than {MAX_EVENT_BYTES} bytes.")
    event = _parse_event(raw)
    event_id: str = event["eventId"]
    event_type: str = event["eventType"]
    now = deps.now_ms()
    # Responses, and chat of a group registered for conversation (one registry read), are
    # work; anything else is kept as `ignored`.
    wanted = event_type in RESPONSE_EVENTS or await wants_note(deps, event)
    status: Literal["accepted", "ignored"] = "accepted" if wanted else "ignored"
    item, inserted = await store_event(deps, raw, event, now, pending=wanted, inline=inline)
    result = AcceptResult(
        status=status if inserted else "duplicate",
        event_id=event_id,
        partition_key=item.partition_key,
        row_key=item.row_key,
        event_type=event_type,
        received_at=now,
        event=event,
        responded_at=item.responded_at,
        due_entry=item.due_entry,
    )
    data = event.get("data")
    action_id = data.get("actionId") if isinstance(data, dict) else None
    telemetry.set_ids(eventId=event_id, actionId=action_id if isinstance(action_id, str) else None)
    if result.status != "ignored":
        telemetry.count(telemetry.EVENTS, outcome=result.status)
    # One INFO line per event: an accepted one gets it from its outcome (processing.py).
    log.log(
        logging.DEBUG if result.status == "accepted" else logging.INFO,
        "inbox accept event=%s type=%s result=%s",
        short(event_id),
        log_value(event_type, 64),  # request text: escaped and bounded, like the id
        result.status,
    )
    return result


async def store_event(
    deps: InboundDeps,
    raw: bytes,
    event: dict[str, Any],
    now: int,
    responded_at: int | None = None,
    *,
    pending: bool | None = None,
    inline: bool = True,
) -> tuple[InboxItem, bool]:
    """The one insert-only inbox row of a parsed event (the webhook's, or a backfilled one);
    False when a row of that event id exists. `responded_at` defaults to the event's answer
    time (its hidden ResponseTime, else now); `pending` defaults to "is a response event"."""
    data: dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
    return await deps.inbox.add(
        raw,
        event_id=event["eventId"],
        event_type=event["eventType"],
        action_id=data.get("actionId"),
        response_id=data.get("responseId"),
        pending=event["eventType"] in RESPONSE_EVENTS if pending is None else pending,
        received_at=now,
        responded_at=answer_time(event, now) if responded_at is None else responded_at,
        next_attempt_at=now + INLINE_GRACE_MS if inline else now,
        event=event,
    )


def _parse_event(raw: bytes) -> dict[str, Any]:
    event = json_limits.loads(raw)  # 400 when not JSON or nested too deep
    if not isinstance(event, dict):
        raise ValidationError("The body must be a JSON object.")
    for name in ("eventId", "eventType"):
        value = event.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(
                f"The event has no {name}.", [{"field": name, "message": "required"}]
            )
    return event


async def receive_event(deps: InboundDeps, raw: bytes, presented_token: str | None) -> AcceptResult:
    """The webhook POST: accept, then process inline within the budget.

    Nothing after the insert can fail the call: the event is stored, the sweeper finishes it.
    While the process's Dataverse circuit is open, there is no inline attempt at all.
    """
    blocked = deps.inline_blocked()
    result = await accept_event(deps, raw, presented_token, inline=blocked is None)
    if result.status != "accepted":
        return result
    if blocked is not None:
        # The circuit is open or the request window full: no inline call (acknowledged at
        # once; the row is pending and the sweep writes it once Dataverse takes calls again).
        log.info("inbox event=%s left to the sweeper: %s", short(result.event_id), blocked)
        return result
    item = InboxItem(
        partition_key=result.partition_key,
        row_key=result.row_key,
        event=result.event,
        attempts=0,
        received_at=result.received_at,
        responded_at=result.responded_at,
        due_entry=result.due_entry,
    )
    try:
        await asyncio.wait_for(process_event(deps, item, first=True), deps.inline_budget)
    except TimeoutError:
        log.info("inbox event=%s left to the sweeper: inline budget spent", short(item.event_id))
    except Exception as exc:  # the event is stored: whatever failed, the sweeper retries it
        log.warning(
            "inbox event=%s left to the sweeper: %s", short(item.event_id), type(exc).__name__
        )
    return result
