"""In-memory state of the Dataverse simulator: tables, faults and counters, behind one lock.

Everything here is synchronous and guarded by one lock, because tests read and change the state
from their own thread while uvicorn serves requests in another. The write rules live in
`tables`, the query subset in `query`, the faults in `faults`.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from copy import deepcopy
from datetime import UTC, datetime
from typing import Any

from devtools.dataverse_sim.faults import Fault
from devtools.dataverse_sim.limits import Limits
from devtools.dataverse_sim.notes import NOTE_COLUMNS, NOTE_TYPE, validate_note
from devtools.dataverse_sim.odata import (
    CODE_PAYLOAD,
    ODataError,
    duplicate,
    not_found,
    parse_guid,
)
from devtools.dataverse_sim.people import PEOPLE_SETS, lookup_value, person_row
from devtools.dataverse_sim.query import select_rows
from devtools.dataverse_sim.tables import (
    DEFAULT_OPPORTUNITIES,
    OPPORTUNITY_COLUMNS,
    TABLES,
    ActivityTable,
    etag,
    validate,
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimState:
    def __init__(self, opportunities: Iterable[tuple[str, str]] = DEFAULT_OPPORTUNITIES) -> None:
        self._lock = threading.Lock()
        self.limits = Limits()  # service protection (limits.py), off until set
        self._seed = tuple(opportunities)
        self.reset()

    # ---- control -------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._opportunities: dict[str, dict[str, Any]] = {}
            self._activities: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in TABLES}
            self._annotations: dict[str, dict[str, Any]] = {}
            self._annotation_writes = 0
            self._faults: list[Fault] = []
            self._down = False
            self._version = 1000
            self._requests = 0
            self._by_method_status: Counter[str] = Counter()
            self._writes = 0
            self._faults_served = 0
            self._reset_people()
            self.limits.reset()
            for opp_id, name in self._seed:
                self._add_opportunity(opp_id, name)

    def add_opportunity(
        self,
        opp_id: str | None,
        name: str,
        owner_id: str | None = None,
        contact_id: str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            key = opp_id or str(uuid.uuid4())
            return dict(self._add_opportunity(key, name, owner_id, contact_id))

    def _add_opportunity(
        self, opp_id: str, name: str, owner_id: str | None = None, contact_id: str | None = None
    ) -> dict[str, Any]:
        key = parse_guid(opp_id)
        row = {"opportunityid": key, "name": name, "statecode": 0, "createdon": _now()}
        # The lookups, as the Web API names them (read by the group-per-opportunity mode).
        row["_ownerid_value"] = lookup_value(owner_id)
        row["_parentcontactid_value"] = lookup_value(contact_id)
        self._opportunities[key] = row
        return row

    # ---- people (systemusers, contacts: read-only, seeded by the control API) --------------

    def _reset_people(self) -> None:
        self._people: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in PEOPLE_SETS}

    def add_person(
        self, entity_set: str, person_id: str | None, fullname: str, mobilephone: str | None
    ) -> dict[str, Any]:
        people = PEOPLE_SETS[entity_set]
        with self._lock:
            row = person_row(people, person_id or str(uuid.uuid4()), fullname, mobilephone)
            self._people[entity_set][row[people.key]] = row
            return dict(row)

    def _get_person(self, entity_set: str, key: str) -> dict[str, Any]:
        row = self._people[entity_set].get(key)
        if row is None:
            raise not_found(PEOPLE_SETS[entity_set].logical_name, key)
        return dict(row)

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
                **{s: [dict(r) for r in rows.values()] for s, rows in self._people.items()},
                "activities": {
                    s: [self._present(TABLES[s], r) for r in rows.values()]
                    for s, rows in self._activities.items()
                },
                "annotations": [_note_view(r) for r in self._annotations.values()],
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
                "annotationWrites": self._annotation_writes,
                **self.limits.stats(),
            }

    def activities(self, entity_set: str) -> list[dict[str, Any]]:
        """Stored rows of one set, as the Web API would present them (for in-process tests)."""
        with self._lock:
            table = TABLES[entity_set]
            return [self._present(table, r) for r in self._activities[entity_set].values()]

    def records(self) -> dict[str, Any]:
        """Every stored row as it is held (for `--state-path`; see persist.py)."""
        with self._lock:
            rows = {"opportunities": self._opportunities, "people": self._people}
            rows |= {"activities": self._activities, "annotations": self._annotations}
            return {**deepcopy(rows), "version": self._version}

    def load_records(self, records: Mapping[str, Any]) -> None:
        """Replace every row with saved ones (shape checked by persist.py first)."""
        with self._lock:
            self._opportunities = deepcopy(records["opportunities"])
            self._people = {s: deepcopy(records["people"].get(s, {})) for s in PEOPLE_SETS}
            self._activities = {s: deepcopy(records["activities"].get(s, {})) for s in TABLES}
            self._annotations = deepcopy(records["annotations"])
            self._version = int(records["version"])

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
                if if_match.strip() != "*" and if_match.strip() != etag(existing):
                    raise ODataError(412, "0x80060882", "The version of the record has changed.")
            if if_none_match is not None and if_none_match.strip() == "*" and existing is not None:
                raise duplicate()
            if "activityid" in body and str(body["activityid"]).lower() != key:
                raise ODataError(400, CODE_PAYLOAD, "activityid in the body differs from the key.")
            changes = validate(table, body, existing, self._opportunities)
            created = existing is None
            row = self._store(table, key, changes, existing)
            return self._present(table, row), created

    def create(self, entity_set: str, body: Mapping[str, Any]) -> dict[str, Any]:
        table = TABLES[entity_set]
        with self._lock:
            raw_id = body.get("activityid")
            key = parse_guid(str(raw_id)) if raw_id is not None else str(uuid.uuid4())
            if key in self._activities[entity_set]:
                raise duplicate()
            changes = validate(table, body, None, self._opportunities)
            return self._present(table, self._store(table, key, changes, None))

    def get(self, entity_set: str, key: str) -> dict[str, Any]:
        with self._lock:
            if entity_set == "opportunities":
                row = self._opportunities.get(key)
                if row is None:
                    raise not_found("opportunity", key)
                return dict(row)
            if entity_set in PEOPLE_SETS:
                return self._get_person(entity_set, key)
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
            elif entity_set in PEOPLE_SETS:
                people = PEOPLE_SETS[entity_set]
                columns, type_name = people.columns, people.type_name
                rows = [dict(r) for r in self._people[entity_set].values()]
            else:
                table = TABLES[entity_set]
                columns, type_name = table.readable, table.type_name
                rows = [self._present(table, r) for r in self._activities[entity_set].values()]
        return select_rows(rows, columns, type_name, filter_text, orderby, top)

    # ---- annotations (notes) ----------------------------------------------------------------

    def annotations(self) -> list[dict[str, Any]]:
        """Stored notes, as the Web API would present them (for in-process tests)."""
        with self._lock:
            return [_note_view(r) for r in self._annotations.values()]

    def upsert_annotation(
        self,
        key: str,
        body: Mapping[str, Any],
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            existing = self._annotations.get(key)
            if if_match is not None:
                if existing is None:
                    raise not_found("annotation", key)
                if if_match.strip() != "*" and if_match.strip() != etag(existing):
                    raise ODataError(412, "0x80060882", "The version of the record has changed.")
            if if_none_match is not None and if_none_match.strip() == "*" and existing is not None:
                raise duplicate()
            if "annotationid" in body and str(body["annotationid"]).lower() != key:
                differs = "annotationid in the body differs from the key."
                raise ODataError(400, CODE_PAYLOAD, differs)
            changes = validate_note(body, self._opportunities)
            return _note_view(self._store_note(key, changes, existing))

    def create_annotation(self, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            raw_id = body.get("annotationid")
            key = parse_guid(str(raw_id)) if raw_id is not None else str(uuid.uuid4())
            if key in self._annotations:
                raise duplicate()
            changes = validate_note(body, self._opportunities)
            return _note_view(self._store_note(key, changes, None))

    def get_annotation(self, key: str) -> dict[str, Any]:
        with self._lock:
            found = self._annotations.get(key)
            if found is None:
                raise not_found("annotation", key)
            return _note_view(found)

    def delete_annotation(self, key: str) -> None:
        with self._lock:
            if self._annotations.pop(key, None) is None:
                raise not_found("annotation", key)
            self._annotation_writes += 1

    def query_annotations(
        self, filter_text: str | None, orderby: str | None, top: int | None
    ) -> list[dict[str, Any]]:
        with self._lock:
            rows = [_note_view(r) for r in self._annotations.values()]
        return select_rows(rows, NOTE_COLUMNS, NOTE_TYPE, filter_text, orderby, top)

    def _store_note(
        self, key: str, changes: Mapping[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        now = _now()
        self._version += 1
        self._annotation_writes += 1  # not in `writes`, which counts activity writes
        if existing is None:
            row: dict[str, Any] = {"annotationid": key, "isdocument": False, "createdon": now}
            self._annotations[key] = row
        else:
            row = existing
        row.update(changes)
        row["modifiedon"] = now
        row["versionnumber"] = self._version
        return row

    # ---- helpers (call with the lock held) ------------------------------------------------

    def _missing(self, table: ActivityTable, key: str) -> ODataError:
        return not_found(table.logical_name, key)

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
        shown: dict[str, Any] = {"@odata.etag": etag(row)}
        shown.update({col: row.get(col) for col in sorted(table.readable)})
        return shown


def _note_view(row: Mapping[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {"@odata.etag": etag(row)}
    shown.update({col: row.get(col) for col in sorted(NOTE_COLUMNS)})
    return shown
