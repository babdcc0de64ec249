"""In-memory state of the Dataverse simulator: tables, validation rules, faults and counters.

Everything here is synchronous and guarded by one lock, because tests read and change the state
from their own thread while uvicorn serves requests in another.
"""

from __future__ import annotations

import functools
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Error codes as the real service reports them (hex HRESULTs), so clients can be tested on them.
CODE_NOT_FOUND = "0x80040217"  # ObjectDoesNotExist
CODE_DUPLICATE = "0x80040237"  # DuplicateRecord
CODE_INVALID_ARGUMENT = "0x80040203"  # InvalidArgument (e.g. statuscode vs statecode)
CODE_LENGTH = "0x80044331"  # string longer than the column's MaxLength
CODE_PAYLOAD = "0x80048d19"  # error in the JSON payload
CODE_QUERY = "0x80060888"  # OData syntax / undeclared property
CODE_SEGMENT = "0x8006088a"  # resource not found for the segment
CODE_UNEXPECTED = "0x80040216"  # unexpected server error
CODE_THROTTLED = "0x80072322"  # service protection: number of requests
CODE_UNAUTHORIZED = "0x80072560"  # missing or invalid bearer token
CODE_UNAVAILABLE = "0x80040265"  # the simulator's 503 (down mode, injected faults)

_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
_BIND_VALUE_RE = re.compile(r"(?:^|/)(?P<set>[a-z_]+)\((?P<key>[^()]*)\)$")
_FILTER_CLAUSE_RE = re.compile(r"^\s*(?P<col>[a-z_]+)\s+(?P<op>eq|ne)\s+(?P<val>.+?)\s*$", re.I)
_AND_RE = re.compile(r"\s+and\s+", re.I)

# Regarding targets the simulator models (logical name -> entity set).
REGARDING_SETS: Mapping[str, str] = {"opportunity": "opportunities"}


class ODataError(Exception):
    """A Web API failure, rendered as `{"error": {"code", "message"}}` with `status`."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


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

OPPORTUNITY_COLUMNS = frozenset({"opportunityid", "name", "statecode", "createdon"})

DEFAULT_OPPORTUNITIES: tuple[tuple[str, str], ...] = (
    # En dashes on purpose: names with non-ASCII text exercise the clients' encoding.
    ("b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a", "Contoso \N{EN DASH} 500 laptops"),
    ("2f0c8e4d-6a1b-4c3d-8e9f-0a1b2c3d4e5f", "Fabrikam \N{EN DASH} fleet telematics renewal"),
    ("7a9b1c2d-3e4f-4a5b-8c6d-9e0f1a2b3c4d", "Northwind \N{EN DASH} 40 POS terminals"),
)


def parse_guid(text: str) -> str:
    """The canonical lower-case form of a GUID key, or a 400 like the service's."""
    if not _GUID_RE.match(text):
        raise ODataError(400, CODE_QUERY, f"Bad Request - Error in query syntax: '{text[:60]}'.")
    return text.lower()


def utf16_length(text: str) -> int:
    # Dataverse MaxLength counts UTF-16 code units (.NET strings), not code points.
    return len(text.encode("utf-16-le")) // 2


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    status: int | None  # None: only slow the request down
    remaining: int
    retry_after: int | None
    delay_seconds: float
    path_regex: re.Pattern[str] | None
    method: str | None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        return self.path_regex is None or self.path_regex.search(path) is not None

    def error(self) -> ODataError:
        assert self.status is not None
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        if self.status == 429:
            message = (
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds."
            )
            return ODataError(429, CODE_THROTTLED, message, headers)
        code = CODE_UNEXPECTED if self.status == 500 else CODE_UNAVAILABLE
        return ODataError(self.status, code, "Injected fault (simulator).", headers)

    def describe(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "remaining": self.remaining,
            "retryAfter": self.retry_after,
            "delaySeconds": self.delay_seconds,
            "pathRegex": self.path_regex.pattern if self.path_regex else None,
            "method": self.method,
        }


class SimState:
    def __init__(self, opportunities: Iterable[tuple[str, str]] = DEFAULT_OPPORTUNITIES) -> None:
        self._lock = threading.Lock()
        self._seed = tuple(opportunities)
        self.reset()

    # ---- control -------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._opportunities: dict[str, dict[str, Any]] = {}
            self._activities: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in TABLES}
            self._faults: list[Fault] = []
            self._down = False
            self._version = 1000
            self._requests = 0
            self._by_method_status: Counter[str] = Counter()
            self._writes = 0
            self._faults_served = 0
            for opp_id, name in self._seed:
                self._add_opportunity(opp_id, name)

    def add_opportunity(self, opp_id: str | None, name: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._add_opportunity(opp_id or str(uuid.uuid4()), name))

    def _add_opportunity(self, opp_id: str, name: str) -> dict[str, Any]:
        key = parse_guid(opp_id)
        row = {"opportunityid": key, "name": name, "statecode": 0, "createdon": _now()}
        self._opportunities[key] = row
        return row

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, consumed once."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    self._faults_served += 1
                    return fault
            return None

    @property
    def down(self) -> bool:
        return self._down

    def set_down(self, down: bool) -> None:
        with self._lock:
            self._down = down

    def record_request(self, method: str, status: int) -> None:
        with self._lock:
            self._requests += 1
            self._by_method_status[f"{method} {status}"] += 1

    @property
    def request_count(self) -> int:
        return self._requests

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "opportunities": [dict(r) for r in self._opportunities.values()],
                "activities": {
                    s: [self._present(TABLES[s], r) for r in rows.values()]
                    for s, rows in self._activities.items()
                },
                "down": self._down,
                "faults": [f.describe() for f in self._faults],
                "requests": self._requests,
            }

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self._requests,
                "byMethodStatus": dict(sorted(self._by_method_status.items())),
                "writes": self._writes,
                "throttled": sum(
                    n for k, n in self._by_method_status.items() if k.endswith(" 429")
                ),
                "faultsServed": self._faults_served,
            }

    def activities(self, entity_set: str) -> list[dict[str, Any]]:
        """Stored rows of one set, as the Web API would present them (for in-process tests)."""
        with self._lock:
            table = TABLES[entity_set]
            return [self._present(table, r) for r in self._activities[entity_set].values()]

    # ---- Web API operations ----------------------------------------------------------------

    def upsert(
        self,
        entity_set: str,
        key: str,
        body: Mapping[str, Any],
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        table = TABLES[entity_set]
        with self._lock:
            rows = self._activities[entity_set]
            existing = rows.get(key)
            if if_match is not None:
                if existing is None:
                    raise self._missing(table, key)
                if if_match.strip() != "*" and if_match.strip() != _etag(existing):
                    raise ODataError(412, "0x80060882", "The version of the record has changed.")
            if if_none_match is not None and if_none_match.strip() == "*" and existing is not None:
                raise _duplicate()
            if "activityid" in body and str(body["activityid"]).lower() != key:
                raise ODataError(400, CODE_PAYLOAD, "activityid in the body differs from the key.")
            changes = self._validate(table, body, existing)
            created = existing is None
            row = self._store(table, key, changes, existing)
            return self._present(table, row), created

    def create(self, entity_set: str, body: Mapping[str, Any]) -> dict[str, Any]:
        table = TABLES[entity_set]
        with self._lock:
            raw_id = body.get("activityid")
            key = parse_guid(str(raw_id)) if raw_id is not None else str(uuid.uuid4())
            if key in self._activities[entity_set]:
                raise _duplicate()
            changes = self._validate(table, body, None)
            return self._present(table, self._store(table, key, changes, None))

    def get(self, entity_set: str, key: str) -> dict[str, Any]:
        with self._lock:
            if entity_set == "opportunities":
                row = self._opportunities.get(key)
                if row is None:
                    raise _not_found("opportunity", key)
                return dict(row)
            table = TABLES[entity_set]
            found = self._activities[entity_set].get(key)
            if found is None:
                raise self._missing(table, key)
            return self._present(table, found)

    def delete(self, entity_set: str, key: str) -> None:
        table = TABLES[entity_set]
        with self._lock:
            if self._activities[entity_set].pop(key, None) is None:
                raise self._missing(table, key)
            self._writes += 1

    def query(
        self,
        entity_set: str,
        filter_text: str | None,
        orderby: str | None,
        top: int | None,
    ) -> list[dict[str, Any]]:
        with self._lock:
            if entity_set == "opportunities":
                columns, type_name = OPPORTUNITY_COLUMNS, "Microsoft.Dynamics.CRM.opportunity"
                rows = [dict(r) for r in self._opportunities.values()]
            else:
                table = TABLES[entity_set]
                columns, type_name = table.readable, table.type_name
                rows = [self._present(table, r) for r in self._activities[entity_set].values()]
        clauses = _parse_filter(filter_text, columns, type_name)
        rows = [r for r in rows if _matches(r, clauses)]
        # Stable sorts applied last key first give the multi-key order.
        for col, descending in reversed(_parse_orderby(orderby, columns, type_name)):
            rows.sort(key=functools.partial(_sort_key, col), reverse=descending)
        return rows[:top] if top is not None else rows

    # ---- helpers (call with the lock held) ------------------------------------------------

    def _missing(self, table: ActivityTable, key: str) -> ODataError:
        return _not_found(table.logical_name, key)

    def _validate(
        self, table: ActivityTable, body: Mapping[str, Any], existing: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        bound = False
        for name, value in body.items():
            if name == "activityid":
                continue
            if name.endswith("@odata.bind"):
                if bound:
                    raise ODataError(400, CODE_PAYLOAD, "More than one regarding binding.")
                changes["_regardingobjectid_value"] = self._resolve_bind(table, name, value)
                bound = True
            elif "@" in name or name not in table.writable:
                raise ODataError(
                    400,
                    CODE_QUERY,
                    f"Invalid property '{name[:100]}' was found in entity '{table.type_name}'.",
                )
            else:
                changes[name] = _check_value(table, name, value)
        self._check_state(table, changes, existing)
        return changes

    def _resolve_bind(self, table: ActivityTable, name: str, value: Any) -> str:
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
                f"The value of '{prop[:100]}@odata.bind' must be "
                f"'/{REGARDING_SETS[entity]}(<guid>)'.",
            )
        key = parse_guid(match["key"])
        if key not in self._opportunities:
            raise _not_found(entity, key)
        return key

    def _check_state(
        self, table: ActivityTable, changes: dict[str, Any], existing: Mapping[str, Any] | None
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

    def _store(
        self,
        table: ActivityTable,
        key: str,
        changes: Mapping[str, Any],
        existing: dict[str, Any] | None,
    ) -> dict[str, Any]:
        now = _now()
        self._version += 1
        self._writes += 1
        if existing is None:
            row: dict[str, Any] = {
                "activityid": key,
                "_regardingobjectid_value": None,
                "statecode": 0,
                "statuscode": table.default_status[0],
                "createdon": now,
            }
            self._activities[table.entity_set][key] = row
        else:
            row = existing
        row.update(changes)
        row["modifiedon"] = now
        row["versionnumber"] = self._version
        return row

    def _present(self, table: ActivityTable, row: Mapping[str, Any]) -> dict[str, Any]:
        shown: dict[str, Any] = {"@odata.etag": _etag(row)}
        shown.update({col: row.get(col) for col in sorted(table.readable)})
        return shown


def _not_found(logical_name: str, key: str) -> ODataError:
    return ODataError(404, CODE_NOT_FOUND, f"{logical_name} With Id = {key} Does Not Exist")


def _duplicate() -> ODataError:
    return ODataError(412, CODE_DUPLICATE, "A record with matching key values already exists.")


def _conversion_error(name: str, edm_type: str) -> ODataError:
    return ODataError(400, CODE_PAYLOAD, f"Cannot convert the value of '{name}' to {edm_type}.")


def _etag(row: Mapping[str, Any]) -> str:
    return f'W/"{row.get("versionnumber")}"'


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


def _parse_filter(
    text: str | None, columns: frozenset[str], type_name: str
) -> list[tuple[str, str, Any]]:
    if not text:
        return []
    clauses = []
    for part in _AND_RE.split(text.strip()):
        match = _FILTER_CLAUSE_RE.match(part)
        if match is None:
            raise ODataError(
                400,
                CODE_QUERY,
                "The simulator supports only '<column> eq|ne <value>' clauses joined by 'and'.",
            )
        col = match["col"]
        if col not in columns:
            raise ODataError(
                400, CODE_QUERY, f"Could not find a property named '{col}' on type '{type_name}'."
            )
        clauses.append((col, match["op"].lower(), _literal(match["val"])))
    return clauses


def _literal(text: str) -> Any:
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if _GUID_RE.match(text):
        return text.lower()
    if text == "null":
        return None
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        raise ODataError(400, CODE_QUERY, f"Unsupported literal '{text[:60]}'.") from None


def _matches(row: Mapping[str, Any], clauses: list[tuple[str, str, Any]]) -> bool:
    for col, op, value in clauses:
        actual = row.get(col)
        if isinstance(actual, str) and isinstance(value, str) and _GUID_RE.match(value):
            actual = actual.lower()
        if (actual == value) != (op == "eq"):
            return False
    return True


def _parse_orderby(
    text: str | None, columns: frozenset[str], type_name: str
) -> list[tuple[str, bool]]:
    if not text:
        return []
    order = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise ODataError(400, CODE_QUERY, f"Invalid $orderby clause '{part[:60]}'.")
        if words[0] not in columns:
            raise ODataError(
                400,
                CODE_QUERY,
                f"Could not find a property named '{words[0]}' on type '{type_name}'.",
            )
        order.append((words[0], len(words) == 2 and words[1] == "desc"))
    return order


def _sort_key(column: str, row: Mapping[str, Any]) -> tuple[int, Any]:
    # Nulls first in ascending order, as SQL Server sorts them.
    value = row.get(column)
    return (0, 0) if value is None else (1, value)
