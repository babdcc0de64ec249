"""The Dataverse webhook's `RemoteExecutionContext` (Plug-in Registration Tool), as far as the
opportunity survey reads it: which message on which table, and the opportunity's name."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.actions import GUID_PATTERN

NAME_CHARS = 200


class KeyValue(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="allow")
    key: str
    value: Any = None


class RemoteExecutionContext(BaseModel):
    # Dataverse sends many more fields (and adds new ones); only these matter here.
    # Strict like every request model: Dataverse writes each field in its JSON type.
    model_config = ConfigDict(
        defer_build=True, extra="ignore", hide_input_in_errors=True, strict=True
    )
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
    return re.sub(r"[\x00-\x1f\x7f]", " ", text).strip()[:NAME_CHARS] or "(unnamed opportunity)"
