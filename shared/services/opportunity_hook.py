"""Dataverse webhook (Plug-in Registration Tool) → opportunity survey.

A `RemoteExecutionContext` for Create on `opportunity` sends the configured template, idempotent
on the opportunity id (Dataverse and Power Automate both retry), to the configured group
(`OPPORTUNITY_GROUP_MODE=shared`) or to the opportunity's own group, created first with its
people (`per-opportunity`, `opportunity_groups.py`). The context's model lives in
`shared.domain.opportunity`.
"""

from __future__ import annotations

from typing import Any

from shared.config import Settings
from shared.domain.actions import Regarding, SendActionRequest
from shared.domain.opportunity import KeyValue, RemoteExecutionContext, opportunity_name
from shared.errors import ConfigError, ValidationError
from shared.services.opportunity_groups import OpportunityGroup, OpportunityGroups
from shared.services.outbound import Outbound, SendOutcome

__all__ = ["KeyValue", "RemoteExecutionContext", "handle_context", "opportunity_name"]


async def handle_context(
    ctx: RemoteExecutionContext,
    outbound: Outbound,
    settings: Settings,
    groups: OpportunityGroups | None = None,
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
    opportunity_id = ctx.PrimaryEntityId.lower()
    name = opportunity_name(ctx)
    own: OpportunityGroup | None = None
    if settings.opportunity_group_mode == "per-opportunity":
        if groups is None:  # pragma: no cover - the runtime always passes it
            raise ConfigError("OPPORTUNITY_GROUP_MODE", "needs the group service")
        own = await groups.group_for(opportunity_id, name)
        group = own.group_id
    else:
        group = settings.require("OPPORTUNITY_SURVEY_GROUP_ID")
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
    body = outcome.body.model_dump(exclude_none=True)
    if own is not None:
        body["groupId"] = own.group_id
        if own.skipped:
            body["skippedMembers"] = [m.model_dump(exclude_none=True) for m in own.skipped]
    return outcome.http_status, body, outcome.location
