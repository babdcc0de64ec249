"""The tables the simulator models, and the rules the real service enforces on a write.

`validate` turns a request body into the column changes of one row, or raises the ODataError
(status and code) that Dataverse answers for the same mistake.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devtools.dataverse_sim.odata import (
    CODE_INVALID_ARGUMENT,
    CODE_LENGTH,
    CODE_PAYLOAD,
    CODE_QUERY,
    ODataError,
    not_found,
    parse_guid,
)

_BIND_VALUE_RE = re.compile(r"(?:^|/)(?P<set>[a-z_]+)\((?P<key>[^()]*)\)$")

# Regarding targets the simulator models (logical name -> entity set).
REGARDING_SETS: Mapping[str, str] = {"opportunity": "opportunities"}


@dataclass(frozen=True)
class ActivityTable:
    entity_set: str
    logical_name: str
    strings: Mapping[str, int | None]  # column -> MaxLength (None: long text)
    integers: frozenset[str]
    booleans: frozenset[str]
    states: Mapping[int, frozenset[int]]  # statecode -> valid statuscodes
    default_status: Mapping[int, int]

    @property
    def writable(self) -> frozenset[str]:
        return frozenset(self.strings) | self.integers | self.booleans | _DATETIMES

    @property
    def readable(self) -> frozenset[str]:
        return self.writable | _SYSTEM_COLUMNS

    @property
    def type_name(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"


_DATETIMES = frozenset({"scheduledstart", "scheduledend", "actualstart", "actualend"})
_SYSTEM_COLUMNS = frozenset(
    {"activityid", "_regardingobjectid_value", "createdon", "modifiedon", "versionnumber"}
)
_COMMON_STRINGS: dict[str, int | None] = {"subject": 200, "description": None}
_COMMON_INTS = frozenset(
    {"prioritycode", "statecode", "statuscode", "actualdurationminutes", "scheduleddurationminutes"}
)

TABLES: Mapping[str, ActivityTable] = {
    "tasks": ActivityTable(
        entity_set="tasks",
        logical_name="task",
        strings={**_COMMON_STRINGS, "category": 250, "subcategory": 250},
        integers=_COMMON_INTS | {"percentcomplete"},
        booleans=frozenset(),
        states={0: frozenset({2, 3, 4, 7}), 1: frozenset({5}), 2: frozenset({6})},
        default_status={0: 2, 1: 5, 2: 6},
    ),
    "phonecalls": ActivityTable(
        entity_set="phonecalls",
        logical_name="phonecall",
        strings={**_COMMON_STRINGS, "phonenumber": 200, "category": 250, "subcategory": 250},
        integers=_COMMON_INTS,
        booleans=frozenset({"directioncode", "leftvoicemail"}),
        states={0: frozenset({1}), 1: frozenset({2, 4}), 2: frozenset({3})},
        default_status={0: 1, 1: 2, 2: 3},
    ),
}

OPPORTUNITY_COLUMNS = frozenset(
    {"opportunityid", "name", "statecode", "createdon", "_ownerid_value", "_parentcontactid_value"}
)

DEFAULT_OPPORTUNITIES: tuple[tuple[str, str], ...] = (
    # En dashes on purpose: names with non-ASCII text exercise the clients' encoding.
    ("b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a", "Contoso \N{EN DASH} 500 laptops"),
    ("2f0c8e4d-6a1b-4c3d-8e9f-0a1b2c3d4e5f", "Fabrikam \N{EN DASH} fleet telematics renewal"),
    ("7a9b1c2d-3e4f-4a5b-8c6d-9e0f1a2b3c4d", "Northwind \N{EN DASH} 40 POS terminals"),
)


def utf16_length(text: str) -> int:
    # Dataverse MaxLength counts UTF-16 code units (.NET strings), not code points.
    return len(text.encode("utf-16-le")) // 2


def etag(row: Mapping[str, Any]) -> str:
    return f'W/"{row.get("versionnumber")}"'


def validate(
    table: ActivityTable,
    body: Mapping[str, Any],
    existing: Mapping[str, Any] | None,
    opportunities: Container[str],
) -> dict[str, Any]:
    """The column changes a write body makes to a row (`existing`, or a new one)."""
    changes: dict[str, Any] = {}
    bound = False
    for name, value in body.items():
        if name == "activityid":
            continue
        if name.endswith("@odata.bind"):
            if bound:
                raise ODataError(400, CODE_PAYLOAD, "More than one regarding binding.")
            changes["_regardingobjectid_value"] = _resolve_bind(table, name, value, opportunities)
            bound = True
        elif "@" in name or name not in table.writable:
            raise ODataError(
                400,
                CODE_QUERY,
                f"Invalid property '{name[:100]}' was found in entity '{table.type_name}'.",
            )
        else:
            changes[name] = _check_value(table, name, value)
    _check_state(table, changes, existing)
    return changes


def _resolve_bind(
    table: ActivityTable, name: str, value: Any, opportunities: Container[str]
) -> str:
    prop = name.removesuffix("@odata.bind")
    suffix = f"_{table.logical_name}"
    entity = prop.removeprefix("regardingobjectid_").removesuffix(suffix)
    if (
        not prop.startswith("regardingobjectid_")
        or not prop.endswith(suffix)
        or entity not in REGARDING_SETS
    ):
        # The wording of the real service when a navigation property is not declared.
        raise ODataError(
            400,
            CODE_QUERY,
            f"An undeclared property '{prop[:100]}' which only has property annotations in "
            "the payload but no property value was found in the payload. In OData, only "
            "declared navigation properties and declared named streams can be represented "
            "as properties without values.",
        )
    match = _BIND_VALUE_RE.search(value) if isinstance(value, str) else None
    if match is None or match["set"] != REGARDING_SETS[entity]:
        raise ODataError(
            400,
            CODE_PAYLOAD,
            f"The value of '{prop[:100]}@odata.bind' must be '/{REGARDING_SETS[entity]}(<guid>)'.",
        )
    key = parse_guid(match["key"])
    if key not in opportunities:
        raise not_found(entity, key)
    return key


def _check_state(
    table: ActivityTable, changes: dict[str, Any], existing: Mapping[str, Any] | None
) -> None:
    if "statecode" not in changes and "statuscode" not in changes:
        return
    state = changes.get("statecode", existing.get("statecode", 0) if existing else 0)
    if state not in table.states:
        raise ODataError(400, CODE_INVALID_ARGUMENT, f"{state} is not a valid state code.")
    if "statuscode" not in changes:
        changes["statuscode"] = table.default_status[state]
    if changes["statuscode"] not in table.states[state]:
        raise ODataError(
            400,
            CODE_INVALID_ARGUMENT,
            f"{changes['statuscode']} is not a valid status code for state code {state} "
            f"on {table.logical_name}.",
        )


def _conversion_error(name: str, edm_type: str) -> ODataError:
    return ODataError(400, CODE_PAYLOAD, f"Cannot convert the value of '{name}' to {edm_type}.")


def _check_value(table: ActivityTable, name: str, value: Any) -> Any:
    if value is None:
        if name in ("statecode", "statuscode"):
            raise ODataError(400, CODE_PAYLOAD, f"'{name}' cannot be null.")
        return None
    if name in table.strings:
        if not isinstance(value, str):
            raise _conversion_error(name, "Edm.String")
        limit = table.strings[name]
        if limit is not None and utf16_length(value) > limit:
            raise ODataError(
                400,
                CODE_LENGTH,
                f"A validation error occurred. The length of the '{name}' attribute of the "
                f"'{table.logical_name}' entity exceeded the maximum allowed length of '{limit}'.",
            )
        return value
    if name in table.integers:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _conversion_error(name, "Edm.Int32")
        if name == "prioritycode" and value not in (0, 1, 2):
            raise ODataError(400, CODE_INVALID_ARGUMENT, f"{value} is not a valid prioritycode.")
        return value
    if name in table.booleans:
        if not isinstance(value, bool):
            raise _conversion_error(name, "Edm.Boolean")
        return value
    return _check_datetime(name, value)


def _check_datetime(name: str, value: Any) -> str:
    # Edm.DateTimeOffset needs an offset; a naive time is rejected rather than guessed.
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise _conversion_error(name, "Edm.DateTimeOffset")
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
