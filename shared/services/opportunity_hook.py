"""Dataverse webhook (Plug-in Registration Tool) → opportunity survey.

A `RemoteExecutionContext` for Create on `opportunity` sends the configured template to the
configured group, idempotent on the opportunity id (Dataverse and Power Automate both retry).
The context's model lives in `shared.domain.opportunity`.
"""

from __future__ import annotations

from typing import Any

from shared.config import Settings
from shared.domain.actions import Regarding, SendActionRequest
from shared.domain.opportunity import KeyValue, RemoteExecutionContext, opportunity_name
from shared.errors import ValidationError
from shared.services.outbound import Outbound, SendOutcome

__all__ = ["KeyValue", "RemoteExecutionContext", "handle_context", "opportunity_name"]


async def handle_context(
    ctx: RemoteExecutionContext, outbound: Outbound, settings: Settings
) -> tuple[int, dict[str, Any], str | None]:
    """(status, body, location). Anything but Create on opportunity is acknowledged and skipped."""
    if ctx.MessageName != "Create" or ctx.PrimaryEntityName != "opportunity":
        return (
            200,
            {
                "status": "ignored",
                "reason": f"{ctx.MessageName} on {ctx.PrimaryEntityName} is not handled",
            },
            None,
        )
    group = settings.require("OPPORTUNITY_SURVEY_GROUP_ID")
    opportunity_id = ctx.PrimaryEntityId.lower()
    name = opportunity_name(ctx)
    try:
        req = SendActionRequest(
            groupId=group,
            template=settings.opportunity_survey_template,
            variables={"opportunityName": name, "opportunityId": opportunity_id},
            regarding=Regarding(entityType="opportunity", id=opportunity_id, name=name),
        )
    except ValueError as exc:  # pragma: no cover - settings are validated at start
        raise ValidationError(str(exc)) from None
    outcome: SendOutcome = await outbound.send(req, f"opportunity-create:{opportunity_id}")
    return outcome.http_status, outcome.body.model_dump(exclude_none=True), outcome.location
