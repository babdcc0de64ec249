"""Keep exactly one group-level Kaizala webhook per served group, pointing at the bridge.

The served groups are every group of the registry (`groups` table: the groups the bridge
created) plus `KAIZALA_WEBHOOK_GROUPS` (default: the survey group). A group created for a record
(`conversation`) is also subscribed to its chat events, which are written to that record.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from shared import telemetry
from shared.adapters.kaizala import (
    EventType,
    KaizalaAuthError,
    KaizalaClient,
    KaizalaError,
    KaizalaRateLimitedError,
    Webhook,
    WebhookCreate,
)
from shared.config import Settings
from shared.errors import UpstreamError
from shared.logsafe import log_value
from shared.stores.groups import GroupStore

log = logging.getLogger(__name__)

EVENT_TYPES: tuple[EventType, ...] = ("SurveyResponse", "ActionResponse", "JobResponse")
# The swagger's names for a chat message and a shared file or picture.
CONVERSATION_EVENT_TYPES: tuple[EventType, ...] = ("TextMessageCreated", "AttachmentCreated")
REGISTRY_LIMIT = 5000


class CallbackTokenSource(Protocol):
    async def ensure(self) -> str: ...


def event_types(conversation: bool) -> tuple[EventType, ...]:
    return EVENT_TYPES + CONVERSATION_EVENT_TYPES if conversation else EVENT_TYPES


def _covers(hook: Webhook, events: tuple[EventType, ...]) -> bool:
    return set(events) <= set(hook.events)


async def served_groups(settings: Settings, groups: GroupStore | None) -> dict[str, bool]:
    """group id -> conversation: the registry first, then the configured groups."""
    served: dict[str, bool] = {}
    if groups is not None:
        async for record in groups.all(limit=REGISTRY_LIMIT):
            served[record.group_id] = record.conversation
    for group in settings.kaizala_webhook_groups:
        served.setdefault(group, False)
    return served


async def sync_webhooks(
    kaizala: KaizalaClient,
    callbacks: CallbackTokenSource,
    settings: Settings,
    *,
    recreate: bool = False,
    groups: GroupStore | None = None,
) -> list[dict[str, Any]]:
    """Create missing subscriptions, re-activate disabled ones, remove duplicates.

    `recreate` replaces the bridge's subscriptions (after rotating the callback token, since a
    subscription keeps the token it was created with). A group Kaizala refuses (deleted, the
    connector's user removed from it) is reported and the others still synced; throttling or
    refused credentials stop the run (the next one goes on). Any failed group makes the call a
    502 whose `groups` lists every group's outcome.
    """
    url = settings.require("WEBHOOK_CALLBACK_URL")
    served = await served_groups(settings, groups)
    if not served:
        log.info("webhook sync: no group to serve")
        return []
    token = await callbacks.ensure()
    report: list[dict[str, Any]] = []
    failed = 0
    for group, conversation in served.items():
        try:
            report.append(await sync_group(kaizala, url, token, group, conversation, recreate))
        except (KaizalaRateLimitedError, KaizalaAuthError):
            raise
        except KaizalaError as exc:
            failed += 1
            log.warning(
                "webhook sync for group %s failed: %s", log_value(group), log_value(str(exc), 500)
            )
            report.append({"groupId": group, "error": str(exc)[:300]})
    # Kaizala disables a subscription whose deliveries keep failing; the sync reactivates it.
    disabled = sum("reactivated" in r.get("actions", ()) for r in report)
    telemetry.gauge(telemetry.WEBHOOKS_DISABLED, disabled)
    if failed:
        raise UpstreamError(
            f"Kaizala call failed for {failed} of {len(served)} groups.", extra={"groups": report}
        )
    return report


async def subscribe_group(
    kaizala: KaizalaClient,
    callbacks: CallbackTokenSource,
    settings: Settings,
    group_id: str,
    conversation: bool,
) -> dict[str, Any]:
    """The bridge's subscription on one group, now (a group it just created)."""
    url = settings.require("WEBHOOK_CALLBACK_URL")
    token = await callbacks.ensure()
    return await sync_group(kaizala, url, token, group_id, conversation, recreate=False)


async def sync_group(
    kaizala: KaizalaClient,
    url: str,
    token: str,
    group: str,
    conversation: bool,
    recreate: bool,
) -> dict[str, Any]:
    events = event_types(conversation)
    hooks = await kaizala.list_webhooks(group, "Group")
    mine = [h for h in hooks if (h.callbackUrl or "").rstrip("/") == url.rstrip("/")]
    keep = None if recreate else _pick(mine, events)
    actions: list[str] = []
    if keep is None:
        # Created before the old ones go: a failed handshake leaves the group subscribed as it
        # was, and an overlap only delivers an event twice (the inbox keeps it once).
        webhook_id = await kaizala.create_webhook(
            WebhookCreate(
                objectId=group,
                objectType="Group",
                eventTypes=list(events),
                callBackUrl=url,
                callBackToken=token,
                callBackContext=group,
            )
        )
        actions.append("created")
    else:
        webhook_id = keep.id
        if keep.active is False:
            await kaizala.activate_webhook(keep.id)
            actions.append("reactivated")
        else:
            actions.append("unchanged")
    for hook in mine:
        if hook is not keep:
            await kaizala.delete_webhook(hook.id)
            actions.append("removed")
    log.info("webhook sync for group %s: %s", log_value(group), ", ".join(actions))
    return {"groupId": group, "webhookId": webhook_id, "actions": actions}


def _pick(hooks: list[Webhook], events: tuple[EventType, ...]) -> Webhook | None:
    complete = [h for h in hooks if _covers(h, events)]
    if not complete:
        return None
    complete.sort(key=lambda h: h.active is not False, reverse=True)
    return complete[0]
