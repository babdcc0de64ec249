"""Dataverse webhook (Plug-in Registration Tool) → opportunity survey.

A `RemoteExecutionContext` for Create on `opportunity` sends the configured template to the
configured group, idempotent on the opportunity id (Dataverse and Power Automate both retry).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.config import Settings
from shared.domain.actions import GUID_PATTERN, Regarding, SendActionRequest
from shared.errors import ValidationError
from shared.services.outbound import Outbound, SendOutcome


class KeyValue(BaseModel):
    model_config = ConfigDict(extra="allow")
    key: str
    value: Any = None


class RemoteExecutionContext(BaseModel):
    # Dataverse sends many more fields (and adds new ones); only these matter here.
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)
    MessageName: str = Field(max_length=100)
    PrimaryEntityName: str = Field(max_length=100)
    PrimaryEntityId: str = Field(pattern=GUID_PATTERN)
    InputParameters: list[KeyValue] = Field(default_factory=list)
    PostEntityImages: list[KeyValue] = Field(default_factory=list)
    Depth: int = 1


def _attributes(ctx: RemoteExecutionContext) -> dict[str, Any]:
    for param in [*ctx.InputParameters, *ctx.PostEntityImages]:
        value = param.value
        if isinstance(value, dict) and isinstance(value.get("Attributes"), list):
            return {
                str(a.get("key")): a.get("value")
                for a in value["Attributes"]
                if isinstance(a, dict)
            }
    return {}


def opportunity_name(ctx: RemoteExecutionContext) -> str:
    name = _attributes(ctx).get("name")
    text = name if isinstance(name, str) else ""
    return re.sub(r"[\x00-\x1f\x7f]", " ", text).strip()[:200] or "(unnamed opportunity)"


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
