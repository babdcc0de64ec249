"""The people of an opportunity, read-only: `systemusers` (the owner) and `contacts`.

The bridge's group-per-opportunity mode reads `opportunities(<id>)?$select=_ownerid_value,
_parentcontactid_value`, then `systemusers(<id>)` / `contacts(<id>)` `?$select=mobilephone`.
Rows are seeded through the control API (`POST /_sim/systemusers`, `POST /_sim/contacts`, and
`ownerId` / `contactId` on `POST /_sim/opportunities`); the Web API only reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devtools.dataverse_sim.odata import CODE_QUERY, ODataError, parse_guid


@dataclass(frozen=True)
class PeopleSet:
    entity_set: str
    logical_name: str
    key: str
    columns: frozenset[str]

    @property
    def type_name(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"


PEOPLE_SETS: Mapping[str, PeopleSet] = {
    "systemusers": PeopleSet(
        "systemusers",
        "systemuser",
        "systemuserid",
        frozenset({"systemuserid", "fullname", "mobilephone", "internalemailaddress"}),
    ),
    "contacts": PeopleSet(
        "contacts",
        "contact",
        "contactid",
        frozenset({"contactid", "fullname", "mobilephone", "emailaddress1"}),
    ),
}
# The lookups an opportunity row carries (as the Web API names them), besides the base columns.
OPPORTUNITY_LOOKUPS = frozenset({"_ownerid_value", "_parentcontactid_value"})


def person_row(
    people: PeopleSet, person_id: str, fullname: str, mobilephone: str | None
) -> dict[str, Any]:
    return {
        people.key: parse_guid(person_id),
        "fullname": fullname,
        "mobilephone": mobilephone,
        **{c: None for c in people.columns - {people.key, "fullname", "mobilephone"}},
    }


def lookup_value(value: str | None) -> str | None:
    """A lookup column's value: the GUID (canonical), or null."""
    return None if value is None else parse_guid(value)


def read_only_error(entity_set: str) -> ODataError:
    return ODataError(
        405, CODE_QUERY, f"The simulator serves {entity_set} read-only (POST /_sim/{entity_set})."
    )


# ---- control API ------------------------------------------------------------------------------


class _PersonSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    fullname: str = Field(min_length=1, max_length=200)
    mobilephone: str | None = Field(default=None, max_length=100)


async def _control_add_person(request: Request) -> Response:
    entity_set = request.url.path.rsplit("/", 1)[-1]
    try:
        spec = _PersonSpec.model_validate_json(await request.body() or b"{}")
    except ValueError as exc:
        return JSONResponse({"error": {"code": "sim.bad-request", "message": str(exc)}}, 400)
    try:
        row = request.app.state.sim.add_person(entity_set, spec.id, spec.fullname, spec.mobilephone)
    except ODataError as exc:
        return JSONResponse({"error": {"code": "sim.bad-request", "message": exc.message}}, 400)
    return JSONResponse(row, 201)


PEOPLE_CONTROL_ROUTES = tuple(
    Route(f"/_sim/{name}", _control_add_person, methods=["POST"]) for name in PEOPLE_SETS
)
