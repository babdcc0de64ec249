"""The Dataverse adapter's generic read (`get_row`) against the simulator's people tables."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from devtools.dataverse_sim import DEFAULT_TOKEN
from shared.adapters.dataverse import (
    DataverseClient,
    DataverseInputError,
    StaticTokenSource,
    build_http_client,
)
from tests.groups.conftest import CONTACT, OPPORTUNITY, OWNER, DataverseSim


@pytest.fixture
async def client(dataverse: DataverseSim) -> AsyncIterator[DataverseClient]:
    http = build_http_client()
    try:
        yield DataverseClient(http, dataverse.url, StaticTokenSource(DEFAULT_TOKEN))
    finally:
        await http.aclose()


async def test_get_row_reads_the_people_of_an_opportunity(
    client: DataverseClient, dataverse: DataverseSim
) -> None:
    dataverse.seed("systemusers", id=OWNER, fullname="Vikram Shah", mobilephone="+919100000002")
    dataverse.seed("contacts", id=CONTACT, fullname="Ana Ruiz")
    dataverse.seed("opportunities", id=OPPORTUNITY, name="Deal", ownerId=OWNER, contactId=CONTACT)

    opp = await client.get_row(
        "opportunities", OPPORTUNITY, ["_ownerid_value", "_parentcontactid_value"]
    )
    assert opp == {
        "opportunityid": OPPORTUNITY,
        "_ownerid_value": OWNER,
        "_parentcontactid_value": CONTACT,
    }
    assert await client.get_row("systemusers", OWNER, ["mobilephone"]) == {
        "systemuserid": OWNER,
        "mobilephone": "+919100000002",
    }
    assert await client.get_row("contacts", CONTACT, ["mobilephone"]) == {
        "contactid": CONTACT,
        "mobilephone": None,
    }
    assert await client.get_row("contacts", OWNER, ["mobilephone"]) is None


async def test_get_row_checks_its_input_before_any_call(
    client: DataverseClient, dataverse: DataverseSim
) -> None:
    before = dataverse.state.stats()["requests"]
    for entity_set, row_id, select in [
        ("contacts/../tasks", CONTACT, ["mobilephone"]),
        ("contacts", "not-a-guid", ["mobilephone"]),
        ("contacts", CONTACT, ["mobilephone,fullname"]),
        ("contacts", CONTACT, []),
    ]:
        with pytest.raises(DataverseInputError):
            await client.get_row(entity_set, row_id, select)
    assert dataverse.state.stats()["requests"] == before


def test_people_are_read_only_in_the_simulator(dataverse: DataverseSim) -> None:
    dataverse.seed("contacts", id=CONTACT, fullname="Ana Ruiz")
    resp = dataverse.http.patch(
        f"/api/data/v9.2/contacts({CONTACT})",
        json={"mobilephone": "+919100000003"},
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
    )
    assert resp.status_code == 405
    resp = dataverse.http.get(
        "/api/data/v9.2/contacts?$filter=fullname eq 'Ana Ruiz'&$select=fullname",
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
    )
    assert resp.status_code == 200
    assert [r["contactid"] for r in resp.json()["value"]] == [CONTACT]
    assert dataverse.http.post("/_sim/contacts", json={"fullname": ""}).status_code == 400
