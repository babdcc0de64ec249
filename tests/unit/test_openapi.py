"""docs/openapi.json is generated from the validating models and stays in sync with them."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate

from devtools.openapi import build, render
from shared.domain.actions import SendActionRequest

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_spec_matches_the_models() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/openapi.json is stale: run `python -m devtools.openapi > docs/openapi.json`"
    )


def test_spec_is_valid_swagger_2() -> None:
    validate(json.loads(DOC.read_text(encoding="utf-8")))


def test_spec_carries_the_validation_rules() -> None:
    spec = build()
    request = spec["definitions"]["SendActionRequest"]
    assert request["additionalProperties"] is False
    assert request["properties"]["groupId"]["pattern"] == "^[A-Za-z0-9-]{1,64}$"
    assert set(request["required"]) == {"groupId", "regarding"}
    assert spec["definitions"]["Regarding"]["properties"]["id"]["pattern"]
    assert set(SendActionRequest.model_fields) == set(request["properties"])
