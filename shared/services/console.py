"""The operator console's read models: GET /api/manage/actions, inbox, connector, webhooks.

Every figure is read from the stores (and, for webhooks, Kaizala's own list); nothing here
writes. Each read is bounded (a scan limit, a page size), and an answer says when a bound cut
it (`scanTruncated`, `truncated`), so a large install shows a floor rather than a slow page.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from shared.adapters.kaizala import KaizalaClient, KaizalaError, KaizalaRateLimitedError
from shared.clock import Clock, iso_seconds, now_ms
from shared.config import Settings
from shared.errors import ValidationError
from shared.logsafe import redact
from shared.services.tokens import TokenManager
from shared.stores.actions import ActionRecord, ActionStore, OutboxStore
from shared.stores.budget import Budget
from shared.stores.groups import GroupStore
from shared.stores.inbox import InboxStore
from shared.stores.summary_due import SummaryDueStore

ACTION_STATUSES = ("queued", "sending", "sent", "failed")
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
COUNT_LIMIT = 10_000  # inbox rows / queued sends counted per call
PROBLEM_LIMIT = 100  # dead and orphan events listed
MARK_LIMIT = 5000  # summary marks read to tell which notes are still to write
WEBHOOK_GROUP_LIMIT = 50  # groups whose subscriptions are listed (one Kaizala call each)
MAX_TOKEN_CHARS = 300


@dataclass(frozen=True)
class ConsoleDeps:
    settings: Settings
    clock: Clock
    actions: ActionStore
    outbox: OutboxStore
    inbox: InboxStore
    summary_due: SummaryDueStore
    budget: Budget
    tokens: TokenManager
    groups: GroupStore
    kaizala: KaizalaClient


# --- actions -------------------------------------------------------------------------------


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationError(
            f"limit must be a whole number from 1 to {MAX_LIMIT}.",
            [{"field": "limit", "message": "out of range"}],
        )
    return int(raw)


def parse_status(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if raw not in ACTION_STATUSES:
        raise ValidationError(
            f"status must be one of {', '.join(ACTION_STATUSES)}.",
            [{"field": "status", "message": "unknown status"}],
        )
    return raw


def encode_cursor(created_us: int, cid: str) -> str:
    raw = json.dumps([created_us, cid], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str | None) -> tuple[int, str] | None:
    """The position a continuation token names; 400 for anything this code did not issue."""
    if token is None or token == "":
        return None
    bad = ValidationError(
        "continuation is not a token from an earlier answer.",
        [{"field": "continuation", "message": "malformed"}],
    )
    if len(token) > MAX_TOKEN_CHARS:
        raise bad
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    match value:
        case [int(us), str(cid)] if us >= 0 and cid:
            return us, cid
    raise bad


async def list_actions(
    deps: ConsoleDeps, status: str | None, limit: int, continuation: str | None
) -> dict[str, Any]:
    """The newest actions first (by arrival), `limit` a page, resumed after `continuation`."""
    cursor = decode_cursor(continuation)
    rows, truncated = await deps.actions.recent(status, cursor[0] if cursor else None)
    if cursor is not None:
        rows = [r for r in rows if (r.created_us, r.correlation_id) < cursor]
    rows.sort(key=lambda r: (r.created_us, r.correlation_id), reverse=True)
    page = rows[:limit]
    marked = await deps.summary_due.marked(MARK_LIMIT) if page else set()
    items = [await _action_item(deps, r, marked) for r in page]
    answer: dict[str, Any] = {"actions": items, "scanTruncated": truncated}
    if len(rows) > limit:
        last = page[-1]
        answer["continuation"] = encode_cursor(last.created_us, last.correlation_id)
    return answer


async def _action_item(deps: ConsoleDeps, r: ActionRecord, marked: set[str]) -> dict[str, Any]:
    responses = await deps.inbox.count_responses(r.action_id) if r.action_id else 0
    # pending: a note write is marked and not yet done; current: no mark waits.
    summary = "pending" if r.correlation_id in marked else "current" if responses else "none"
    return {
        "correlationId": r.correlation_id,
        "status": r.status,
        "actionType": r.action_type,
        "template": r.template,
        "title": r.title,
        "groupId": r.group_id,
        "regarding": r.regarding.model_dump(),
        "actionId": r.action_id,
        "responses": responses,
        "summary": summary,
        "attempts": r.attempts,
        "createdAt": iso_seconds(r.created_ms),
        "sentAt": iso_seconds(r.sent_ms),
        "lastError": redact(r.last_error) if r.last_error else None,
    }


# --- the inbox -----------------------------------------------------------------------------


async def inbox_overview(deps: ConsoleDeps) -> dict[str, Any]:
    counts, truncated = await deps.inbox.count_by_status(COUNT_LIMIT)
    rows = await deps.inbox.problems(PROBLEM_LIMIT)
    rows.sort(key=lambda e: int(e.get("receivedAt") or 0), reverse=True)
    problems = [
        {
            "eventId": e.get("eventId"),
            "eventType": e.get("eventType"),
            "actionId": e.get("actionId") or None,
            "status": e.get("status"),
            "attempts": int(e.get("attempts") or 0),
            "replays": int(e.get("replays") or 0),
            "reason": redact(str(e.get("lastError") or "")) or None,
            "receivedAt": iso_seconds(e.get("receivedAt")),
            "lastAttemptAt": iso_seconds(e.get("lastAttemptAt")),
        }
        for e in rows
    ]
    return {
        "counts": counts,
        "countLimit": COUNT_LIMIT,
        "countsTruncated": truncated,
        "problems": problems,
        "problemLimit": PROBLEM_LIMIT,
    }


# --- the connector -------------------------------------------------------------------------


async def connector_status(deps: ConsoleDeps) -> dict[str, Any]:
    """Token facts from the lease row (never Key Vault, never a token), budget, queued sends."""
    token = await deps.tokens.status()
    queued = await deps.outbox.count(COUNT_LIMIT)
    return {
        "token": token,
        "refreshTokenWarning": bool(token.get("refreshTokenExpiring")),
        "budget": await deps.budget.usage(),
        "queuedSends": queued,
        "queuedSendsTruncated": queued >= COUNT_LIMIT,
        "checkedAt": iso_seconds(now_ms(deps.clock)),
    }


# --- webhook subscriptions -----------------------------------------------------------------


async def webhooks_overview(deps: ConsoleDeps) -> dict[str, Any]:
    """The bridge's subscription on each served group (one Kaizala list call per group)."""
    url = (deps.settings.webhook_callback_url or "").rstrip("/")
    served: dict[str, dict[str, Any]] = {}
    async for record in deps.groups.all(limit=WEBHOOK_GROUP_LIMIT + 1):
        served[record.group_id] = {"name": record.name, "registered": True}
    for group in deps.settings.kaizala_webhook_groups:
        served.setdefault(group, {"name": "", "registered": False})
    groups: list[dict[str, Any]] = []
    throttled = False
    for group_id, facts in list(served.items())[:WEBHOOK_GROUP_LIMIT]:
        entry: dict[str, Any] = {"groupId": group_id, **facts}
        if throttled:
            entry.update(state="unknown", error="not checked: Kaizala is throttling")
        else:
            try:
                hooks = await deps.kaizala.list_webhooks(group_id, "Group")
                mine = [h for h in hooks if (h.callbackUrl or "").rstrip("/") == url]
                entry["subscriptions"] = [
                    {"id": h.id, "active": h.active is not False, "events": list(h.events)}
                    for h in mine
                ]
                active = any(s["active"] for s in entry["subscriptions"])
                entry["state"] = "active" if active else ("disabled" if mine else "missing")
            except KaizalaError as exc:
                throttled = isinstance(exc, KaizalaRateLimitedError)
                entry.update(state="unknown", error=redact(str(exc))[:300])
        groups.append(entry)
    return {
        "callbackConfigured": bool(url),
        "groups": groups,
        "groupLimit": WEBHOOK_GROUP_LIMIT,
        "truncated": len(served) > WEBHOOK_GROUP_LIMIT,
    }
