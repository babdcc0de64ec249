"""The `annotations` table (notes) the simulator models, and the rules of a note write.

A note is bound to its record with `objectid_<entity>@odata.bind` = `/<entity set>(<guid>)`
(only `opportunity` is modelled); the stored row shows it as `_objectid_value` and
`objecttypecode`. `validate_note` turns a write body into column changes, or raises the
ODataError the real service answers for the same mistake.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from typing import Any

from devtools.dataverse_sim.odata import (
    CODE_LENGTH,
    CODE_PAYLOAD,
    CODE_QUERY,
    ODataError,
    not_found,
    parse_guid,
)
from devtools.dataverse_sim.tables import REGARDING_SETS, utf16_length

NOTE_SET = "annotations"
NOTE_LOGICAL_NAME = "annotation"
NOTE_TYPE = "Microsoft.Dynamics.CRM.annotation"
# Column -> MaxLength in UTF-16 code units, as Dataverse counts them.
NOTE_STRINGS: Mapping[str, int] = {
    "subject": 500,
    "notetext": 100_000,
    "filename": 255,
    "mimetype": 256,
    "langid": 2,
}
NOTE_BOOLEANS = frozenset({"isdocument"})
_BIND_RE = re.compile(r"(?:^|/)(?P<set>[a-z_]+)\((?P<key>[^()]*)\)$")
NOTE_WRITABLE = frozenset(NOTE_STRINGS) | NOTE_BOOLEANS
_SYSTEM = ("annotationid", "_objectid_value", "objecttypecode", "createdon", "modifiedon")
NOTE_COLUMNS = NOTE_WRITABLE | frozenset({*_SYSTEM, "versionnumber"})


def validate_note(body: Mapping[str, Any], opportunities: Container[str]) -> dict[str, Any]:
    """The column changes a note write body makes."""
    changes: dict[str, Any] = {}
    bound = False
    for name, value in body.items():
        if name == "annotationid":
            continue
        if name.endswith("@odata.bind"):
            if bound:
                raise ODataError(400, CODE_PAYLOAD, "More than one object binding.")
            entity, key = _resolve_object(name.removesuffix("@odata.bind"), value, opportunities)
            changes.update({"_objectid_value": key, "objecttypecode": entity})
            bound = True
        elif "@" in name or name not in NOTE_WRITABLE:
            found = f"Invalid property '{name[:100]}' was found in entity '{NOTE_TYPE}'."
            raise ODataError(400, CODE_QUERY, found)
        elif name in NOTE_BOOLEANS:
            if value is not None and not isinstance(value, bool):
                raise ODataError(400, CODE_PAYLOAD, f"Cannot convert the value of '{name}'.")
            changes[name] = value
        else:
            changes[name] = _check_string(name, value)
    return changes


def _resolve_object(prop: str, value: Any, opportunities: Container[str]) -> tuple[str, str]:
    entity = prop.removeprefix("objectid_")
    if not prop.startswith("objectid_") or entity not in REGARDING_SETS:
        # What the service says for a navigation property the table does not declare (the
        # activity's `regardingobjectid_...` names included).
        raise ODataError(
            400,
            CODE_QUERY,
            f"An undeclared property '{prop[:100]}' which only has property annotations in "
            "the payload but no property value was found in the payload.",
        )
    match = _BIND_RE.search(value) if isinstance(value, str) else None
    if match is None or match["set"] != REGARDING_SETS[entity]:
        raise ODataError(
            400,
            CODE_PAYLOAD,
            f"The value of '{prop[:100]}@odata.bind' must be '/{REGARDING_SETS[entity]}(<guid>)'.",
        )
    key = parse_guid(match["key"])
    if key not in opportunities:
        raise not_found(entity, key)
    return entity, key


def _check_string(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ODataError(400, CODE_PAYLOAD, f"Cannot convert the value of '{name}' to Edm.String.")
    limit = NOTE_STRINGS[name]
    if utf16_length(value) > limit:
        raise ODataError(
            400,
            CODE_LENGTH,
            f"A validation error occurred. The length of the '{name}' attribute of the "
            f"'{NOTE_LOGICAL_NAME}' entity exceeded the maximum allowed length of '{limit}'.",
        )
    return value
