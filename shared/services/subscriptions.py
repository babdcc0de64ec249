"""Keep exactly one group-level Kaizala webhook per configured group, pointing at the bridge."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from shared.adapters.kaizala import KaizalaClient, Webhook, WebhookCreate
from shared.config import Settings
from shared.errors import ConfigError

log = logging.getLogger(__name__)

EVENT_TYPES = ("SurveyResponse", "ActionResponse", "JobResponse")


class CallbackTokenSource(Protocol):
    async def ensure(self) -> str: ...


def _covers(hook: Webhook) -> bool:
    return set(EVENT_TYPES) <= set(hook.events)


async def sync_webhooks(
    kaizala: KaizalaClient,
    callbacks: CallbackTokenSource,
    settings: Settings,
    *,
    recreate: bool = False,
) -> list[dict[str, Any]]:
    """Create missing subscriptions, re-activate disabled ones, remove duplicates.

    `recreate` replaces the bridge's subscriptions (after rotating the callback token, since a
    subscription keeps the token it was created with).
    """
    url = settings.require("WEBHOOK_CALLBACK_URL")
    groups = settings.kaizala_webhook_groups
    if not groups:
        raise ConfigError(
            "KAIZALA_WEBHOOK_GROUPS", "is empty (and OPPORTUNITY_SURVEY_GROUP_ID is unset)"
        )
    token = await callbacks.ensure()
    report = []
    for group in groups:
        hooks = await kaizala.list_webhooks(group, "Group")
        mine = [h for h in hooks if (h.callbackUrl or "").rstrip("/") == url.rstrip("/")]
        keep = None if recreate else _pick(mine)
        actions: list[str] = []
        for hook in mine:
            if hook is not keep:
                await kaizala.delete_webhook(hook.id)
                actions.append("removed")
        if keep is None:
            webhook_id = await kaizala.create_webhook(
                WebhookCreate(
                    objectId=group,
                    objectType="Group",
                    eventTypes=list(EVENT_TYPES),
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
        log.info("webhook sync for group %s: %s", group, ", ".join(actions))
        report.append({"groupId": group, "webhookId": webhook_id, "actions": actions})
    return report


def _pick(hooks: list[Webhook]) -> Webhook | None:
    complete = [h for h in hooks if _covers(h)]
    if not complete:
        return None
    complete.sort(key=lambda h: h.active is not False, reverse=True)
    return complete[0]
