"""Inbound: Kaizala webhook events → durable inbox → Dataverse activities (and a second sink).

The life of one response event (the hot path, `receive_event`):
1. `accept_event`: token check (401, nothing stored), size (413), parse (400), then ONE
   insert-only inbox row keyed by the event id, before anything is answered 2xx. A lost insert
   is a duplicate delivery (Kaizala delivers at least once) and is answered without more work.
2. `process_event`, inline and within a time budget: the correlation (actionId → opportunity,
   cached per process), one conditional write of the activity with an id derived from the
   response id (so a retry or an edit updates the same row), the optional forward, then one
   update of the inbox row to `done`. Two table transactions per event once warm.
3. Whatever goes wrong after the insert, the answer is still 2xx: the event is safe in the
   inbox, and `sweep_inbox` (the `process_inbox` timer) finishes it with back-off.

Events of one response (the answer, then edits) are not delivered in the order the member
answered, and may be processed concurrently. The order that counts is the answer time
(`respondedAt`: Kaizala's hidden ResponseTime question, else the arrival time), and the activity
itself is the version record: its description ends with `Kaizala answer time: <epoch ms>`.
Each write reads the activity and its etag first, skips the write when the activity holds a
newer answer, and otherwise writes only over the version it read (If-Match / If-None-Match),
reading again when someone wrote meanwhile (412). GET + PATCH per event, no table reads.

Inbox row states: `pending` (to do; `nextAttemptAt` says when), `done`, `ignored` (not a response
event), `orphan` (no correlation for the action; kept until replayed), `superseded` (an older
answer than the one the activity already holds: not written), `dead` (permanent failure or out
of attempts; kept until replayed). `replay` puts dead and orphan rows back to `pending`.

No azure.functions imports here: the triggers in functions/webhooks.py are thin.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import random
import re
import time
import uuid
import zlib
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from shared.adapters.dataverse import (
    SUBJECT_MAX_LENGTH,
    DataverseClient,
    DataverseConflictError,
    DataversePermanentError,
    activity_id_for,
    truncate_utf16,
)
from shared.adapters.tables import (
    Entity,
    Stored,
    TableStore,
    check_key,
    expire_rows,
    pack_blob,
    unpack_blob,
)
from shared.config import Settings
from shared.errors import (
    BridgeError,
    PayloadTooLargeError,
    UnauthorizedError,
    ValidationError,
)
from shared.services.callback_tokens import CallbackTokens

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger(__name__)

INBOX = "inbox"
ACTION_INDEX = "actionindex"  # written by the outbound half (shared/services/outbound.py)
NO_ACTION_PARTITION = "noaction"

MAX_EVENT_BYTES = 1024 * 1024
RESPONSE_EVENTS = frozenset({"SurveyResponse", "ActionResponse", "JobResponse"})
INLINE_BUDGET_SECONDS = 4.0  # Kaizala waits for the answer; the rest belongs to the sweeper
INLINE_GRACE_MS = 60_000  # the sweeper leaves a fresh row to the inline processing
CLAIM_MS = 120_000  # a claimed row is invisible to other sweepers for this long
SWEEP_LIMIT = 200
SWEEP_BUDGET_SECONDS = 45.0  # stop claiming well before the next minute's run
SWEEP_CONCURRENCY = 8
EVENT_TIMEOUT_SECONDS = 60.0  # one event in the sweeper: Dataverse retry plus the forward
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_MAX_SECONDS = 3600.0
FORWARD_TIMEOUT_SECONDS = 5.0
EXPIRY_INTERVAL_SECONDS = 3600.0
EXPIRY_LIMIT = 1000
REPLAY_LIMIT = 1000
CORRELATION_CACHE_SIZE = 4096
MAX_KEY_CHARS = 100
LAST_ERROR_CHARS = 300
DESCRIPTION_MAX_CHARS = 100_000  # long text; a survey answer is never near this
WRITE_ROUNDS = 3  # read-decide-write rounds when concurrent writers keep answering 412
MAX_ANSWER_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z; beyond: not a time
ANSWER_TIME_LABEL = "Kaizala answer time: "
# The last such line of a description is the bridge's own (it is always appended last); an
# answer text can contain a look-alike line, but only before it.
_ANSWER_TIME_RE = re.compile(r"^Kaizala answer time: (\d{1,15})[ \t\r]*$", re.MULTILINE)

Clock = Callable[[], float]

# The wall clock the runtime-built dependencies use. Tests replace it (monkeypatch) to move the
# sweeper past `nextAttemptAt` without waiting.
wall_clock: Clock = time.time


# httpx logs every request URL at INFO. A forward URL (a Power Automate trigger) is signed in
# its query string, so sensitive query values are masked in those records, for every client.
_SENSITIVE_QUERY_NAMES = frozenset(
    {"sig", "signature", "code", "token", "access_token", "key", "apikey", "api_key"}
)


def redact_url(url: str) -> str:
    """`url` with the values of signature-like query parameters replaced by REDACTED."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [
        (k, "REDACTED" if k.lower() in _SENSITIVE_QUERY_NAMES else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


class _RedactRequestUrls(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                redact_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _RedactRequestUrls) for f in _httpx_log.filters):
    _httpx_log.addFilter(_RedactRequestUrls())


# ---- dependencies ------------------------------------------------------------------------------


@dataclass
class InboundDeps:
    """What the inbound services need; `deps_from_runtime` builds it from the process runtime.

    `dataverse` and `forward_http` are factories: accepting an event must not depend on the
    Dataverse settings (the event is stored first, whatever else is misconfigured).
    """

    tables: TableStore
    settings: Settings
    callbacks: CallbackTokens
    dataverse: Callable[[], DataverseClient]
    forward_http: Callable[[], httpx.AsyncClient]
    clock: Clock = time.time
    jitter: Callable[[], float] = random.random
    inline_budget: float = INLINE_BUDGET_SECONDS

    def now_ms(self) -> int:
        return int(self.clock() * 1000)


def deps_from_runtime(rt: Runtime, clock: Clock | None = None) -> InboundDeps:
    def forward_http() -> httpx.AsyncClient:
        # The Dataverse client's pool: bounded, no redirects (a signed URL is not followed).
        rt.dataverse  # noqa: B018 - builds the shared http client on first use
        return rt.dataverse_http

    return InboundDeps(
        tables=rt.tables,
        settings=rt.settings,
        callbacks=rt.callbacks,
        dataverse=lambda: rt.dataverse,
        forward_http=forward_http,
        clock=clock or wall_clock,
    )


# ---- correlation (read side of the outbound half's `actionindex`) -----------------------------


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


# Hits only: an index row never changes once written, while a miss may be filled any moment.
_correlations: OrderedDict[tuple[str, str], Correlation] = OrderedDict()


async def find_correlation(tables: TableStore, action_id: str) -> Correlation | None:
    """The correlation of a Kaizala action, or None; a warm hit costs no table read."""
    if not isinstance(action_id, str) or not action_id:
        return None
    key = (tables.table_name(ACTION_INDEX), action_id)
    hit = _correlations.get(key)
    if hit is not None:
        _correlations.move_to_end(key)
        return hit
    try:
        check_key(action_id)
    except ValueError:
        return None  # the outbound half can never have written such a key
    stored = await tables.get(ACTION_INDEX, action_id, "c")
    if stored is None:
        return None
    found = Correlation.from_entity(action_id, stored.entity)
    _correlations[key] = found
    while len(_correlations) > CORRELATION_CACHE_SIZE:
        _correlations.popitem(last=False)
    return found


# ---- validation handshake ----------------------------------------------------------------------


def validation_echo(token: str) -> str:
    """The token of `GET ?validationToken=<t>` as Kaizala generated it (percent-decoded once)."""
    try:
        return unquote(token, errors="strict")
    except UnicodeDecodeError:
        raise ValidationError("validationToken is not percent-encoded UTF-8.") from None


# ---- accept -------------------------------------------------------------------------------------


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


def answer_time(event: Mapping[str, Any], received_at: int) -> int:
    """When the member answered (epoch ms): the hidden ResponseTime, else `received_at`."""
    data = event.get("data")
    found = _response_time_ms(data) if isinstance(data, dict) else None
    return received_at if found is None else found


def _response_time_ms(data: Mapping[str, Any]) -> int | None:
    # Kaizala's hidden question (isInvisible, DateTime, epoch ms); JobResponse has none.
    details = data.get("responseDetails")
    questions = details.get("responseWithQuestions") if isinstance(details, dict) else None
    for q in questions if isinstance(questions, list) else []:
        if (
            isinstance(q, dict)
            and q.get("isInvisible")
            and q.get("title") == "ResponseTime"
            and _is_number(q.get("answer"))
            and 0 <= q["answer"] <= MAX_ANSWER_TIME_MS
        ):
            return int(q["answer"])
    return None


def inbox_key(value: Any, fallback: str | None = None) -> str:
    """A Table storage key for an external id: as is when Azure accepts it, else its sha256."""
    if not isinstance(value, str) or not value:
        if fallback is None:
            raise ValueError("no key")
        return fallback
    try:
        if len(value) <= MAX_KEY_CHARS:
            return check_key(value)
    except ValueError:
        pass
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


async def accept_event(deps: InboundDeps, raw: bytes, presented_token: str | None) -> AcceptResult:
    """Authenticate, check and store one webhook event (one insert-only row). See the module doc.

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
    data: dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
    action_id = data.get("actionId")
    response_id = data.get("responseId")
    now = deps.now_ms()
    status: Literal["accepted", "ignored"] = (
        "accepted" if event_type in RESPONSE_EVENTS else "ignored"
    )
    entity: Entity = {
        "PartitionKey": inbox_key(action_id, NO_ACTION_PARTITION),
        "RowKey": inbox_key(event_id),
        "eventId": event_id[:1024],
        "eventType": event_type[:200],
        "actionId": action_id[:1024] if isinstance(action_id, str) else "",
        "responseId": response_id[:1024] if isinstance(response_id, str) else "",
        "status": "pending" if status == "accepted" else "ignored",
        "attempts": 0,
        "receivedAt": now,
        "respondedAt": answer_time(event, now),
        "nextAttemptAt": now + INLINE_GRACE_MS,
        **pack_blob(raw),
    }
    inserted = await deps.tables.insert(INBOX, entity)
    result = AcceptResult(
        status=status if inserted else "duplicate",
        event_id=event_id,
        partition_key=entity["PartitionKey"],
        row_key=entity["RowKey"],
        event_type=event_type,
        received_at=now,
        event=event,
        responded_at=entity["respondedAt"],
    )
    log.info("inbox accept event=%s type=%s result=%s", _short(event_id), event_type, result.status)
    return result


def _parse_event(raw: bytes) -> dict[str, Any]:
    try:
        event = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("The body is not valid JSON.") from None
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
    """
    result = await accept_event(deps, raw, presented_token)
    if result.status != "accepted":
        return result
    item = InboxItem(
        partition_key=result.partition_key,
        row_key=result.row_key,
        event=result.event,
        attempts=0,
        received_at=result.received_at,
        responded_at=result.responded_at,
    )
    try:
        await asyncio.wait_for(process_event(deps, item, first=True), deps.inline_budget)
    except TimeoutError:
        log.info("inbox event=%s left to the sweeper: inline budget spent", _short(item.event_id))
    except Exception as exc:  # the event is stored: whatever failed, the sweeper retries it
        log.warning(
            "inbox event=%s left to the sweeper: %s", _short(item.event_id), type(exc).__name__
        )
    return result


# ---- process ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxItem:
    partition_key: str
    row_key: str
    event: dict[str, Any]
    attempts: int
    received_at: int
    responded_at: int | None = None  # None: computed from the event (rows stored before it)

    @property
    def event_id(self) -> str:
        return str(self.event.get("eventId") or self.row_key)

    @property
    def answer_time(self) -> int:
        """The version of this event's answer: later answers win, whatever the arrival order."""
        if self.responded_at is not None:
            return self.responded_at
        return answer_time(self.event, self.received_at)

    @classmethod
    def from_entity(cls, e: Mapping[str, Any]) -> InboxItem:
        try:
            event = json.loads(unpack_blob(e))
        except (ValueError, KeyError, TypeError, zlib.error):
            event = {}  # processed as a malformed event: dead, visible, not retried forever
        responded = e.get("respondedAt")
        return cls(
            partition_key=str(e["PartitionKey"]),
            row_key=str(e["RowKey"]),
            event=event if isinstance(event, dict) else {},
            attempts=int(e.get("attempts") or 0),
            received_at=int(e.get("receivedAt") or 0),
            responded_at=int(responded) if isinstance(responded, int | float) else None,
        )


Outcome = Literal["done", "orphan", "superseded", "pending", "dead"]


class ForwardError(Exception):
    """The second sink did not take the response; retried like a transient Dataverse failure."""


class _PermanentEventError(Exception):
    """The stored event cannot become an activity (no response id, ...)."""


async def process_event(deps: InboundDeps, item: InboxItem, *, first: bool = False) -> Outcome:
    """Write one pending response event to Dataverse (and the forward sink); update its row.

    `first` is the inline attempt right after `accept_event` (for logs only: every attempt,
    inline or not, writes only if the activity does not hold a newer answer; see `_write`).
    """
    now = deps.now_ms()
    try:
        data = item.event.get("data")
        if not isinstance(data, dict):
            raise _PermanentEventError("the event has no data object")
        action_id, response_id = data.get("actionId"), data.get("responseId")
        if not isinstance(response_id, str) or not response_id.strip():
            raise _PermanentEventError("the event has no responseId")
        correlation = (
            await find_correlation(deps.tables, action_id) if isinstance(action_id, str) else None
        )
        if correlation is None:
            await _set_state(deps, item, {"status": "orphan", "lastAttemptAt": now})
            log.info("inbox event=%s outcome=orphan (no correlation)", _short(item.event_id))
            return "orphan"
        response = normalise_response(item, correlation)
        activity_id = activity_id_for(response_id)
        held = await _write(deps, response, activity_id)
        if held is not None:
            await _set_state(deps, item, {"status": "superseded", "lastAttemptAt": now})
            log.info(
                "inbox event=%s outcome=superseded first=%s answer_time=%d held=%d",
                _short(item.event_id),
                first,
                response.answer_time,
                held,
            )
            return "superseded"
        if deps.settings.response_forward_url:
            await _forward(deps, response.forward_body(str(activity_id)))
    except (DataversePermanentError, _PermanentEventError) as exc:
        await _set_state(
            deps,
            item,
            {
                "status": "dead",
                "attempts": item.attempts + 1,
                "lastAttemptAt": now,
                "lastError": _error_text(exc),
            },
        )
        log.warning("inbox event=%s outcome=dead: %s", _short(item.event_id), type(exc).__name__)
        return "dead"
    except Exception as exc:  # transient, or unexpected: retried, bounded by the attempt limit
        return await _retry_later(deps, item, exc, now)
    await _set_state(
        deps,
        item,
        {
            "status": "done",
            "attempts": item.attempts + 1,
            "lastAttemptAt": now,
            "processedAt": deps.now_ms(),
            "activityId": str(activity_id),
            "lastError": "",
        },
    )
    log.info("inbox event=%s outcome=done", _short(item.event_id))
    return "done"


async def _retry_later(deps: InboundDeps, item: InboxItem, exc: BaseException, now: int) -> Outcome:
    """Transient failure (throttled, down, timeout, forward sink): back off, or give up."""
    attempts = item.attempts + 1
    if not isinstance(exc, BridgeError | ForwardError | httpx.HTTPError | TimeoutError | OSError):
        # Not an expected failure: keep the event (bounded by the attempt limit), log the trace.
        log.exception("inbox event=%s failed unexpectedly", _short(item.event_id))
    if attempts >= deps.settings.inbox_max_attempts:
        changes: Entity = {"status": "dead"}
        outcome: Outcome = "dead"
    else:
        # Exponential back-off with jitter (spreads a burst), but never before Retry-After.
        backoff = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**item.attempts)
        backoff *= 0.75 + 0.5 * deps.jitter()
        retry_after = getattr(exc, "retry_after", None)
        wait = max(backoff, float(retry_after) if isinstance(retry_after, int | float) else 0.0)
        changes = {"status": "pending", "nextAttemptAt": now + int(wait * 1000)}
        outcome = "pending"
    changes.update({"attempts": attempts, "lastAttemptAt": now, "lastError": _error_text(exc)})
    await _set_state(deps, item, changes)
    log.info(
        "inbox event=%s outcome=%s attempts=%d error=%s",
        _short(item.event_id),
        outcome,
        attempts,
        type(exc).__name__,
    )
    return outcome


async def _write(
    deps: InboundDeps, response: NormalisedResponse, activity_id: uuid.UUID
) -> int | None:
    """Write the activity unless it holds a newer answer; None if written, else the newer time.

    Most responses are new: the first attempt is a create-only write (If-None-Match *), one
    Dataverse call. When the activity exists (an edit, a redelivery) that answers 412; then
    read it (its answer time and etag), decide, and write over exactly that version with
    If-Match <etag>. Another 412 means another event of the same response wrote meanwhile:
    read and decide again, a few rounds, then retry later (DataverseConflictError is
    transient). Equal answer times are the same answer delivered again (or this event retried
    after its write): written again, which changes nothing.
    """
    client = deps.dataverse()
    entity_set = deps.settings.dataverse_activity_set
    correlation = response.correlation
    fields = activity_fields(response)
    conflict: DataverseConflictError | None = None
    try:
        await client.upsert_activity(
            entity_set,
            activity_id,
            correlation.regarding_entity,
            correlation.regarding_id,
            fields,
            if_none_match=True,
        )
        return None
    except DataverseConflictError as exc:
        conflict = exc  # it exists: read it and decide
    for _ in range(WRITE_ROUNDS):
        current = await client.get_activity(entity_set, activity_id, ("description",))
        etag: str | None = None
        if current is not None:
            columns, etag = current
            held = held_answer_time(columns.get("description"))
            if held is not None and held > response.answer_time:
                return held
        try:
            await client.upsert_activity(
                entity_set,
                activity_id,
                correlation.regarding_entity,
                correlation.regarding_id,
                fields,
                if_match=etag,
                if_none_match=etag is None,
            )
        except DataverseConflictError as exc:
            conflict = exc  # created or changed since the read: decide again
            continue
        except DataversePermanentError as exc:
            if etag is not None and exc.upstream_status == 404:
                continue  # deleted since the read (by a user): decide again, as a create
            raise
        return None
    raise conflict or DataverseConflictError(None, "the activity changed on every read")


def held_answer_time(description: Any) -> int | None:
    """The answer time an activity holds (its last `Kaizala answer time:` line), or None.

    None for an activity written before answer times were recorded, or whose description was
    edited by hand: it is written over, as every write was before.
    """
    if not isinstance(description, str):
        return None
    found = _ANSWER_TIME_RE.findall(description)
    return int(found[-1]) if found else None


async def _set_state(deps: InboundDeps, item: InboxItem, changes: Entity) -> None:
    # Merge with If-Match "*": the row is this caller's (fresh insert or a sweeper claim), and a
    # row removed meanwhile (retention) must not be recreated.
    entity = {"PartitionKey": item.partition_key, "RowKey": item.row_key, **changes}
    if not await deps.tables.update(INBOX, entity, "*"):
        log.warning("inbox event=%s vanished before its state was saved", _short(item.event_id))


def _error_text(exc: BaseException) -> str:
    # Typed errors carry a caller-safe detail; anything else only by type (messages of httpx
    # errors can contain the forward URL, whose query string is a signature).
    if isinstance(exc, BridgeError):
        text = f"{type(exc).__name__}: {exc.detail}"
    elif isinstance(exc, ForwardError | _PermanentEventError):
        text = f"{type(exc).__name__}: {exc}"
    else:
        text = type(exc).__name__
    return " ".join(text.split())[:LAST_ERROR_CHARS]


def _short(event_id: str) -> str:
    # Log-safe: ids come from outside; keep lines bounded and free of control characters.
    return "".join(c for c in event_id[:64] if c.isprintable())


# ---- the response, normalised ------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    title: str
    type: str
    value: Any
    text: str


@dataclass(frozen=True)
class NormalisedResponse:
    event_id: str
    event_type: str
    correlation: Correlation
    response_id: str
    group_id: str
    is_update: bool
    anonymous: bool
    responder_name: str
    responder_phone: str | None  # None when anonymous: never shown, never forwarded
    answers: tuple[Answer, ...]
    job: dict[str, Any] | None
    responded_at: str  # ISO UTC
    received_at: str
    answer_time: int = 0  # epoch ms: the version of this answer (see InboxItem.answer_time)

    def forward_body(self, activity_id: str) -> dict[str, Any]:
        c = self.correlation
        responder: dict[str, Any] = {"name": self.responder_name}
        if self.responder_phone:
            responder["phone"] = self.responder_phone
        body: dict[str, Any] = {
            "eventId": self.event_id,
            "eventType": self.event_type,
            "correlationId": c.correlation_id,
            "regarding": {
                "entityType": c.regarding_entity,
                "id": c.regarding_id,
                "name": c.regarding_name,
            },
            "actionId": c.action_id,
            "actionType": c.action_type,
            "title": c.title,
            "groupId": self.group_id,
            "responseId": self.response_id,
            "activityId": activity_id,
            "isUpdate": self.is_update,
            "isAnonymous": self.anonymous,
            "responder": responder,
            "answers": [
                {"title": a.title, "type": a.type, "value": a.value, "text": a.text}
                for a in self.answers
            ],
            "respondedAt": self.responded_at,
            "receivedAt": self.received_at,
        }
        if self.job is not None:
            body["job"] = self.job
        return body


def normalise_response(item: InboxItem, correlation: Correlation) -> NormalisedResponse:
    event = item.event
    data: dict[str, Any] = event.get("data") or {}
    event_type = str(event.get("eventType") or "")
    anonymous = bool(data.get("isAnonymous"))
    job: dict[str, Any] | None = None
    answers: list[Answer] = []
    responded_ms = _response_time_ms(data)
    if event_type == "JobResponse":
        details = (data.get("responseDetails") or {}).get("response") or {}
        name = _text(details.get("assigneeName")) or "Unknown assignee"
        phone = _text(details.get("assignee")) or None
        completed = bool(details.get("isCompleted"))
        job = {"assigneeName": name, "isCompleted": completed}
        if phone:
            job["assignee"] = phone
        answers.append(Answer("Status", "Job", completed, "completed" if completed else "pending"))
    else:
        name = "Anonymous" if anonymous else (_text(data.get("responderName")) or "Unknown")
        phone = None if anonymous else (_text(data.get("responder")) or None)
        questions = (data.get("responseDetails") or {}).get("responseWithQuestions") or []
        for q in questions if isinstance(questions, list) else []:
            if not isinstance(q, dict):
                continue
            title = _text(q.get("title")) or "(untitled question)"
            qtype = _text(q.get("type")) or "Text"
            if q.get("isInvisible"):
                continue  # Kaizala's hidden ResponseTime question: the answer time, above
            answers.append(Answer(title, qtype, q.get("answer"), render_answer(q)))
    received = _iso_ms(item.received_at) or _iso_ms(int(time.time() * 1000)) or ""
    return NormalisedResponse(
        event_id=item.event_id,
        event_type=event_type,
        correlation=correlation,
        response_id=str(data.get("responseId")),
        group_id=_text(data.get("groupId")) or correlation.group_id,
        is_update=bool(data.get("isUpdateResponse")),
        anonymous=anonymous,
        responder_name=name,
        responder_phone=phone,
        answers=tuple(answers),
        job=job,
        responded_at=(_iso_ms(responded_ms) if responded_ms is not None else None) or received,
        received_at=received,
        answer_time=item.answer_time,
    )


def render_answer(question: Mapping[str, Any]) -> str:
    """Readable text of one answer, by question type."""
    qtype = str(question.get("type") or "")
    answer = question.get("answer")
    if answer is None or answer == "" or answer == []:
        return "(no answer)"
    if qtype in ("SingleOption", "MultiOption"):
        titles = [
            _text(o.get("title")) for o in question.get("options") or [] if isinstance(o, dict)
        ]
        chosen = answer if isinstance(answer, list) else [answer]
        return ", ".join(_option(c, titles) for c in chosen)
    if qtype in ("Date", "DateTime") and _is_number(answer):
        return _iso_ms(int(answer)) or str(answer)
    if qtype == "Location" and isinstance(answer, dict):
        return _location(answer)
    if qtype in ("AttachmentList", "Image") or (
        isinstance(answer, list) and answer and all(isinstance(a, dict) for a in answer)
    ):
        return "; ".join(_media(m) for m in (answer if isinstance(answer, list) else [answer]))
    if _is_number(answer):
        return _number(answer)
    if isinstance(answer, list):
        return ", ".join(_scalar(a) for a in answer)
    return _scalar(answer)


def _option(choice: Any, titles: list[str]) -> str:
    # The documented answer is the option title; an index into the options is also seen.
    if isinstance(choice, int) and not isinstance(choice, bool) and 0 <= choice < len(titles):
        return titles[choice]
    return _scalar(choice)


def _location(answer: Mapping[str, Any]) -> str:
    lat = answer.get("latitude", answer.get("lat", answer.get("lt")))
    lng = answer.get("longitude", answer.get("long", answer.get("lg")))
    name = _text(answer.get("name", answer.get("n", answer.get("address")))) or "Location"
    if _is_number(lat) and _is_number(lng):
        return f"{name} ({_number(lat)}, {_number(lng)})"
    return name


def _media(item: Any) -> str:
    if not isinstance(item, dict):
        return _scalar(item)
    name = _text(item.get("mediaFileName") or item.get("fileName") or item.get("name"))
    url = _text(item.get("mediaUrl") or item.get("url"))
    if name and url:
        return f"{name} <{url}>"
    return name or url or "(attachment)"


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _is_number(value):
        return _number(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: Any) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def activity_fields(response: NormalisedResponse) -> dict[str, Any]:
    """The Dataverse columns of the activity.

    The activity is left open (no statecode): Dataverse treats a completed activity as
    read-only, and an edited response must still be able to update it.
    """
    c = response.correlation
    title = c.title or f"action {c.action_id}"
    if response.job is not None:
        state = "completed" if response.job["isCompleted"] else "pending"
        subject = f"Kaizala job update: {title} — {response.responder_name} ({state})"
    elif response.event_type == "SurveyResponse":
        subject = f"Kaizala survey response: {title} — {response.responder_name}"
    else:
        subject = f"Kaizala response: {title} — {response.responder_name}"
    return {
        "subject": truncate_utf16(subject, SUBJECT_MAX_LENGTH),
        "description": describe(response),
        "actualend": response.responded_at,
    }


def describe(response: NormalisedResponse) -> str:
    c = response.correlation
    lines = [f"{c.action_type or 'Kaizala'} response: {c.title or c.action_id}"]
    if c.regarding_name:
        lines.append(f"Regarding: {c.regarding_name}")
    if response.job is not None:
        job = response.job
        who = job["assigneeName"] + (f" ({job['assignee']})" if job.get("assignee") else "")
        lines.append(f"Assignee: {who}")
        lines.append(f"Status: {'completed' if job['isCompleted'] else 'pending'}")
    else:
        who = response.responder_name
        if response.responder_phone:
            who += f" ({response.responder_phone})"
        lines.append(f"Responder: {who}")
    lines.append(f"Responded at: {response.responded_at}")
    if response.is_update:
        lines.append("This response was edited; the answers below are the latest.")
    if response.job is None:
        lines.append("")
        for n, a in enumerate(response.answers, 1):
            lines.append(f"{n}. {a.title}")
            lines.append(f"   {a.text}")
    lines += [
        "",
        f"Response id: {response.response_id}",
        f"Event id: {response.event_id}",
        f"Action id: {c.action_id}",
    ]
    if c.correlation_id:
        lines.append(f"Correlation id: {c.correlation_id}")
    # Always the last line, kept whole: the version the activity holds (`held_answer_time`).
    marker = f"\n{ANSWER_TIME_LABEL}{response.answer_time}"
    return "\n".join(lines)[: DESCRIPTION_MAX_CHARS - len(marker)] + marker


async def _forward(deps: InboundDeps, body: dict[str, Any]) -> None:
    url = deps.settings.require("RESPONSE_FORWARD_URL")
    try:
        answer = await deps.forward_http().post(
            url,
            content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=FORWARD_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        # Type only: httpx messages can include the URL, which is a secret (signed).
        raise ForwardError(f"forward sink unreachable ({type(exc).__name__})") from None
    if not answer.is_success:
        raise ForwardError(f"forward sink answered {answer.status_code}")


# ---- sweeper ------------------------------------------------------------------------------------


@dataclass
class SweepReport:
    found: int = 0
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    expired: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "claimed": self.claimed,
            "outcomes": dict(self.outcomes),
            "expired": self.expired,
        }


_last_expiry: dict[str, float] = {}


async def sweep_inbox(
    deps: InboundDeps,
    *,
    limit: int = SWEEP_LIMIT,
    budget: float = SWEEP_BUDGET_SECONDS,
    expire: bool | None = None,
) -> SweepReport:
    """One run of `process_inbox`: due pending rows, claimed one by one (CAS), then processed.

    Rows of the same response are processed in arrival order; different responses run
    concurrently (bounded). Then rows older than RETENTION_DAYS are removed (hourly per
    process unless `expire` says otherwise).
    """
    started = time.monotonic()
    now = deps.now_ms()
    due = [
        s
        async for s in deps.tables.query(
            INBOX,
            "status eq @pending and nextAttemptAt le @now",
            {"pending": "pending", "now": now},
            limit=limit,
        )
    ]
    due.sort(key=lambda s: int(s.entity.get("receivedAt") or 0))
    groups: dict[tuple[str, str], list[Stored]] = defaultdict(list)
    for stored in due:
        e = stored.entity
        groups[(str(e["PartitionKey"]), str(e.get("responseId") or e["RowKey"]))].append(stored)
    report = SweepReport(found=len(due))
    gate = asyncio.Semaphore(SWEEP_CONCURRENCY)

    async def run(rows: list[Stored]) -> None:
        async with gate:
            for stored in rows:
                if time.monotonic() - started > budget:
                    return  # left for the next run, unclaimed
                outcome = await _claim_and_process(deps, stored)
                if outcome is not None:
                    report.claimed += 1
                    report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1

    await asyncio.gather(*(run(rows) for rows in groups.values()))
    if expire is None:
        last = _last_expiry.get(deps.tables.table_name(INBOX))
        expire = last is None or time.monotonic() - last >= EXPIRY_INTERVAL_SECONDS
    if expire:
        _last_expiry[deps.tables.table_name(INBOX)] = time.monotonic()
        cutoff = now - deps.settings.retention_days * 86_400_000
        report.expired = await expire_rows(
            deps.tables, INBOX, cutoff, "receivedAt", limit=EXPIRY_LIMIT
        )
    log.info("process_inbox %s", json.dumps(report.as_dict(), separators=(",", ":")))
    return report


async def _claim_and_process(deps: InboundDeps, stored: Stored) -> str | None:
    """Claim by CAS on the row's ETag (another instance may hold it), then process it."""
    e = stored.entity
    claim = {
        "PartitionKey": e["PartitionKey"],
        "RowKey": e["RowKey"],
        "nextAttemptAt": deps.now_ms() + CLAIM_MS,
    }
    try:
        if not await deps.tables.update(INBOX, claim, stored.etag):
            return None
        item = InboxItem.from_entity(e)
        try:
            return await asyncio.wait_for(
                process_event(deps, item, first=False), EVENT_TIMEOUT_SECONDS
            )
        except TimeoutError as exc:
            return await _retry_later(deps, item, exc, deps.now_ms())
    except BridgeError as exc:
        # Storage trouble: the claim expires and a later run tries again.
        log.warning("process_inbox row skipped: %s", type(exc).__name__)
        return None
    except Exception:
        # One bad row (say, a corrupt blob) must not stop the run; its claim expires.
        log.exception("process_inbox row %s failed", _short(str(e["RowKey"])))
        return None


# ---- replay -------------------------------------------------------------------------------------


class ReplayRequest(BaseModel):
    """Body of POST /api/manage/inbox/replay: `{}`, `{"eventId": ...}` or `{"status": ...}`."""

    model_config = ConfigDict(extra="forbid")
    eventId: str | None = Field(default=None, min_length=1, max_length=1024)
    status: Literal["dead", "orphan"] | None = None


async def replay(deps: InboundDeps, event_id: str | None = None, status: str | None = None) -> int:
    """Put dead and orphan rows (all, one event, or one status) back to pending; the count."""
    if status not in (None, "dead", "orphan"):
        raise ValidationError("status must be dead or orphan.")
    statuses = {status} if status else {"dead", "orphan"}
    if event_id is not None:
        filter_, params = "RowKey eq @rk", {"rk": inbox_key(event_id)}
    else:
        filter_ = " or ".join(f"status eq @s{i}" for i in range(len(statuses)))
        params = {f"s{i}": s for i, s in enumerate(sorted(statuses))}
    rows = [s async for s in deps.tables.query(INBOX, filter_, params, limit=REPLAY_LIMIT)]
    count = await _requeue(deps.tables, rows, statuses, deps.now_ms())
    log.info("inbox replay requeued=%d", count)
    return count


async def requeue_orphans(tables: TableStore, action_id: str, now_ms: int) -> int:
    """Orphans of an action whose correlation exists now (adopted after a send in doubt)."""
    rows = [
        s
        async for s in tables.query(
            INBOX,
            "PartitionKey eq @pk and status eq 'orphan'",
            {"pk": inbox_key(action_id, NO_ACTION_PARTITION)},
            limit=REPLAY_LIMIT,
        )
    ]
    count = await _requeue(tables, rows, {"orphan"}, now_ms)
    if count:
        log.info("inbox requeued %d orphan(s) of an adopted action", count)
    return count


async def _requeue(tables: TableStore, rows: list[Stored], statuses: set[str], now: int) -> int:
    count = 0
    for stored in rows:
        e = stored.entity
        if e.get("status") not in statuses:
            continue
        changes = {
            "PartitionKey": e["PartitionKey"],
            "RowKey": e["RowKey"],
            "status": "pending",
            "attempts": 0,
            "nextAttemptAt": now,
            "replayedAt": now,
            "replays": int(e.get("replays") or 0) + 1,
        }
        if await tables.update(INBOX, changes, stored.etag):
            count += 1
    return count


# ---- inspection (tests, operators) ---------------------------------------------------------------


async def inbox_rows(tables: TableStore, limit: int = 1000) -> list[Entity]:
    """Every inbox row without the raw event (small installs, tests)."""
    rows = []
    async for stored in tables.query(INBOX, "PartitionKey ne @x", {"x": ""}, limit=limit):
        rows.append({k: v for k, v in stored.entity.items() if not k.startswith("Body")})
    return rows


def clear_caches() -> None:
    """Forget cached correlations and expiry times (tests)."""
    _correlations.clear()
    _last_expiry.clear()
