"""Action templates: JSON files in templates/ with `{{name}}` placeholders.

Placeholders are filled in the parsed strings, as plain text, so a variable can never change
the JSON structure; the filled body is then validated like any other actionBody.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from pydantic_core import ErrorDetails

from shared.domain.actions import BODY_MODELS, TEMPLATE_PATTERN
from shared.errors import ConfigError, NotFoundError, ValidationError

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}")


@cache
def load_template(name: str, directory: Path = TEMPLATES_DIR) -> dict[str, Any]:
    if not re.fullmatch(TEMPLATE_PATTERN, name):
        raise ValidationError("template name is malformed", [{"field": "template"}])
    path = directory / f"{name}.json"
    if not path.is_file():
        raise NotFoundError(f"No template named {name}.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise ConfigError("OPPORTUNITY_SURVEY_TEMPLATE", f"template {name} is not JSON") from None
    if data.get("actionType") not in BODY_MODELS or not isinstance(data.get("actionBody"), dict):
        raise ConfigError("OPPORTUNITY_SURVEY_TEMPLATE", f"template {name} is malformed")
    result: dict[str, Any] = data
    return result


def placeholders(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(_PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


def fill(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: _text(variables[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: fill(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, variables) for v in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    # Strip control characters: variables are plain text from CRM fields.
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", str(value))


def blame_variables(name: str, details: Iterable[ErrorDetails]) -> list[dict[str, str]]:
    """The errors of a filled template's body, each moved to the variable(s) whose text made
    that field invalid (`variables.<name>`); an error in text of the template's own stays."""
    body = load_template(name)["actionBody"]
    blamed: list[dict[str, str]] = []
    for e in details:
        field = ".".join(["actionBody", *(str(p) for p in e["loc"])])
        names = sorted(placeholders(_at(body, e["loc"])))
        if not names:
            blamed.append({"field": field, "message": e["msg"]})
            continue
        limit = (e.get("ctx") or {}).get("max_length")
        if e["type"] == "string_too_long" and limit is not None:
            message = f"too long for the template: {field} would exceed {limit} characters"
        else:
            message = f"makes {field} invalid once filled in: {e['msg']}"
        blamed += [{"field": f"variables.{n}", "message": message} for n in names]
    return blamed


def _at(value: Any, loc: Iterable[str | int]) -> Any:
    for part in loc:
        in_dict = isinstance(value, dict) and part in value
        in_list = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if not (in_dict or in_list):
            return None
        value = value[part]
    return value


def render(name: str, variables: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """(actionType, filled actionBody). Missing variables are a 400 naming them."""
    template = load_template(name)
    variables = variables or {}
    missing = sorted(placeholders(template["actionBody"]) - set(variables))
    if missing:
        raise ValidationError(
            f"Template {name} needs variables: {', '.join(missing)}",
            [{"field": f"variables.{m}", "message": "required by the template"} for m in missing],
        )
    return str(template["actionType"]), fill(template["actionBody"], variables)
