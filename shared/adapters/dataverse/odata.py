"""The OData side of a Dataverse call: names, ids, entity sets, and input checks.

Everything a request is built from passes through one of the `check_*` functions before the
first byte goes out: a bad id or a column name that could break the URL must not cost a call.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.adapters.dataverse.errors import DataverseInputError
from shared.domain.rendering import (  # Dataverse's limits, defined once
    SUBJECT_MAX_LENGTH,
    truncate_utf16,
)

API_PATH = "/api/data/v9.2"
ACTIVITY_SETS: Mapping[str, str] = {"tasks": "task", "phonecalls": "phonecall"}
# Fixed for good: uuid5(NAMESPACE_URL, "https://kaizala-bridge.invalid/dataverse/activity").
# Changing it would give every already-written response a new id, hence a duplicate activity.
ACTIVITY_NAMESPACE = uuid.UUID("2befec43-1259-5cd5-8e40-28095bd53995")
DEFAULT_SELECT: tuple[str, ...] = (
    "activityid",
    "subject",
    "description",
    "scheduledend",
    "actualend",
    "prioritycode",
    "statecode",
    "statuscode",
    "_regardingobjectid_value",
    "createdon",
    "modifiedon",
)

_ENTITY_RE = re.compile(r"^[a-z_]{1,64}$")
_GUID_RE = re.compile(r"^\{?([0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})\}?$")
_FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}(?:@odata\.bind)?$")
_COLUMN_RE = re.compile(r"^_?[a-z][a-z0-9_]{0,99}$")
# A weak or strong entity tag as Dataverse sends it (W/"123"); nothing that could break a header.
_ETAG_RE = re.compile(r'^(?:W/)?"[^"\x00-\x1f\x7f]{0,200}"$')
# Entity sets that the plural rules below would get wrong, or that the bridge relies on.
_PLURALS: Mapping[str, str] = {"opportunity": "opportunities"}


def activity_id_for(response_id: str, namespace: uuid.UUID = ACTIVITY_NAMESPACE) -> uuid.UUID:
    """The activity id for one survey response: the same response always maps to the same row."""
    if not isinstance(response_id, str) or not response_id.strip():
        raise DataverseInputError("response id must be a non-empty string")
    return uuid.uuid5(namespace, response_id.strip())


def entity_set_for(logical_name: str) -> str:
    """The Web API entity set of a table: `opportunity` -> `opportunities`, `account` -> ..."""
    name = check_entity(logical_name)
    if name in _PLURALS:
        return _PLURALS[name]
    if name.endswith("y") and len(name) > 1 and name[-2] not in "aeiou":
        return name[:-1] + "ies"
    if name.endswith(("s", "x", "ch", "sh")):
        return name + "es"
    return name + "s"


def regarding_bind_property(entity_set: str, regarding_entity: str) -> str:
    """`regardingobjectid_<entity>_<activity>@odata.bind`: the name depends on the table."""
    activity = check_set(entity_set)
    return f"regardingobjectid_{check_entity(regarding_entity)}_{activity}@odata.bind"


def check_set(entity_set: str) -> str:
    """The activity table's logical name for one of the entity sets the bridge writes."""
    if not isinstance(entity_set, str) or entity_set not in ACTIVITY_SETS:
        raise DataverseInputError(f"entity set must be one of {sorted(ACTIVITY_SETS)}")
    return ACTIVITY_SETS[entity_set]


def check_entity_set(name: str) -> str:
    """Any entity set name (for a read): letters and underscores only, so never a path change."""
    if not isinstance(name, str) or not _ENTITY_RE.match(name):
        raise DataverseInputError("entity set must match ^[a-z_]{1,64}$")
    return name


def check_entity(name: str) -> str:
    if not isinstance(name, str) or not _ENTITY_RE.match(name):
        raise DataverseInputError("regarding entity must match ^[a-z_]{1,64}$")
    return name


def check_guid(value: uuid.UUID | str, what: str) -> str:
    """The canonical form of a GUID key (braces and case accepted); never the empty GUID."""
    if isinstance(value, uuid.UUID):
        parsed = value
    else:
        match = _GUID_RE.match(value) if isinstance(value, str) else None
        if match is None:
            raise DataverseInputError(f"{what} is not a GUID")
        parsed = uuid.UUID(match[1])
    if parsed.int == 0:
        raise DataverseInputError(f"{what} is the empty GUID")
    return str(parsed)


def check_select(select: Sequence[str]) -> list[str]:
    if isinstance(select, str) or not all(
        isinstance(c, str) and _COLUMN_RE.match(c) for c in select
    ):
        raise DataverseInputError("select must be a sequence of column names")
    return list(select)


def check_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of a write, checked; a subject too long for Dataverse is cut, not refused."""
    if not isinstance(fields, Mapping):
        raise DataverseInputError("fields must be a mapping of column names to values")
    checked: dict[str, Any] = {}
    for name, value in fields.items():
        if not isinstance(name, str) or not _FIELD_RE.match(name):
            raise DataverseInputError(f"field name {str(name)[:60]!r} is not a column name")
        if name == "activityid" or name.startswith("regardingobjectid"):
            # The id travels in the URL and the regarding link is built here; a second copy in
            # the body could only disagree with them.
            raise DataverseInputError(f"field {name!r} is set by the adapter")
        checked[name] = value
    subject = checked.get("subject")
    if isinstance(subject, str):
        checked["subject"] = truncate_utf16(subject, SUBJECT_MAX_LENGTH)
    return checked


def is_etag(value: object) -> bool:
    return isinstance(value, str) and _ETAG_RE.match(value) is not None


def conditions(if_match: str | None, if_none_match: bool) -> dict[str, str]:
    """The headers of a conditional write: update that version only, or create only."""
    if if_match is not None:
        if if_none_match:
            raise DataverseInputError("if_match and if_none_match exclude each other")
        if not is_etag(if_match):
            raise DataverseInputError('if_match must be an entity tag such as W/"123"')
        return {"If-Match": if_match}
    return {"If-None-Match": "*"} if if_none_match else {}


def encode_body(body: Mapping[str, Any]) -> bytes:
    """The JSON of a write: UTF-8, no NaN, datetimes with their offset, UUIDs as strings."""
    try:
        text = json.dumps(body, ensure_ascii=False, allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise DataverseInputError(f"fields are not JSON: {exc}") from None
    return text.encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime (Dataverse needs an offset)")
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def request_headers(token: str, has_body: bool, extra: Mapping[str, str] | None) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {token}",
        "OData-MaxVersion": "4.0",
        "OData-Version": "4.0",
        "Accept": "application/json",
    }
    if has_body:
        headers["Content-Type"] = "application/json; charset=utf-8"
    if extra:
        headers.update(extra)
    return headers


@dataclass(frozen=True)
class UpsertResult:
    entity_set: str
    activity_id: uuid.UUID
    status: int
    attempts: int
    entity_url: str | None  # the OData-EntityId header, when Dataverse sends it
