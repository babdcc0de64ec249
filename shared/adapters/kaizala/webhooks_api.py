"""Webhook subscriptions: create, list, re-activate, delete."""

from __future__ import annotations

from shared.adapters.kaizala.answers import dump, parse, parse_list
from shared.adapters.kaizala.api_base import PlatformApi
from shared.adapters.kaizala.endpoints import OBJECT_ID_PATTERN, segment
from shared.adapters.kaizala.errors import KaizalaValidationError
from shared.adapters.kaizala.models_webhooks import (
    ObjectType,
    Webhook,
    WebhookActivate,
    WebhookCreate,
    WebhookCreated,
)


class WebhooksApi(PlatformApi):
    async def create_webhook(self, webhook: WebhookCreate) -> str:
        """Register a subscription; returns the webhookId. Kaizala validates the callback
        (GET with `validationToken`) before it answers, so the receiver must be up."""
        call, response = await self._platform(
            "POST",
            "webhook",
            "webhook",
            json_body=dump(webhook),
            secrets=[webhook.callBackToken],
        )
        return parse(WebhookCreated, response, call).webhookId

    async def list_webhooks(self, object_id: str, object_type: ObjectType) -> list[Webhook]:
        segment(object_id, "object_id", OBJECT_ID_PATTERN)
        if object_type not in ("Group", "Action", "ActionPackage"):
            raise KaizalaValidationError("object_type must be Group, Action or ActionPackage")
        call, response = await self._platform(
            "GET",
            "webhook",
            "webhook",
            params={"objectId": object_id, "objectType": object_type},
        )
        return parse_list(Webhook, response, call, "webhooks")

    async def activate_webhook(self, webhook_id: str) -> None:
        """Re-enable a webhook that Kaizala disabled after failed deliveries."""
        wid = segment(webhook_id, "webhook_id")
        await self._platform(
            "PUT", "webhook/{webhookId}", f"webhook/{wid}", json_body=dump(WebhookActivate())
        )

    async def delete_webhook(self, webhook_id: str) -> None:
        wid = segment(webhook_id, "webhook_id")
        await self._platform("DELETE", "webhook/{webhookId}", f"webhook/{wid}")
