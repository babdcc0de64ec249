"""Notes (`annotations`): the adapter's `upsert_note` and the simulator's table, over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devtools.dataverse_sim import DEFAULT_TOKEN, SimState
from devtools.serving import ServerThread
from shared.adapters.dataverse import (
    CONVERSATION_NOTE_NAMESPACE,
    SUMMARY_NOTE_NAMESPACE,
    DataverseClient,
    DataverseConflictError,
    DataverseInputError,
    DataversePermanentError,
    conversation_note_id,
    note_bind_property,
    summary_note_id,
)
from tests.dataverse.conftest import CONTOSO, FABRIKAM, UNKNOWN_OPPORTUNITY, requests_served

API = "/api/data/v9.2"
HEADERS = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "Accept": "application/json"}
CID = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"


async def note(client: DataverseClient, **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "note_id": summary_note_id(CID),
        "regarding_entity": "opportunity",
        "regarding_id": CONTOSO,
        "subject": "Kaizala results",
        "text": "Responses: 1",
    }
    args.update(overrides)
    return await client.upsert_note(**args)


def test_note_ids_are_fixed_for_good() -> None:
    # Changing a namespace would give every note already written a twin.
    url = "https://kaizala-bridge.invalid/dataverse/"
    assert uuid.uuid5(uuid.NAMESPACE_URL, url + "summary-note") == SUMMARY_NOTE_NAMESPACE
    assert uuid.uuid5(uuid.NAMESPACE_URL, url + "conversation-note") == CONVERSATION_NOTE_NAMESPACE
    assert str(summary_note_id(CID)) == "32627e3a-76d5-5484-ab5a-b342ae62e7d0"
    assert summary_note_id(CID.upper()) == summary_note_id(CID)  # a GUID, whatever its case
    assert summary_note_id(CID) != conversation_note_id(CID)
    assert note_bind_property("opportunity") == "objectid_opportunity@odata.bind"


async def test_upsert_note_writes_one_row_bound_to_the_record(
    client: DataverseClient, sim: SimState
) -> None:
    first = await note(client, text="Responses: 1")
    second = await note(client, text="Responses: 2")

    [row] = sim.annotations()
    assert row["annotationid"] == str(summary_note_id(CID)) == str(second.activity_id)
    assert (row["_objectid_value"], row["objecttypecode"]) == (CONTOSO, "opportunity")
    assert (row["subject"], row["notetext"]) == ("Kaizala results", "Responses: 2")
    assert (first.status, second.status, second.entity_set) == (204, 204, "annotations")
    assert second.entity_url is not None
    assert second.entity_url.endswith(f"/annotations({second.activity_id})")
    assert sim.stats()["annotationWrites"] == 2
    assert sim.stats()["writes"] == 0  # activity writes only


async def test_subject_and_text_are_cut_to_the_columns_lengths(
    client: DataverseClient, sim: SimState
) -> None:
    # Dataverse counts UTF-16 code units: an emoji is two.
    await note(client, subject="\U0001f600" * 300, text="t" * 100_050)

    [row] = sim.annotations()
    assert len(row["subject"].encode("utf-16-le")) // 2 <= 500
    assert row["subject"].endswith("\U0001f600…")
    assert len(row["notetext"]) == 100_000
    assert row["notetext"].endswith("t…")


async def test_create_only_refuses_an_existing_note(client: DataverseClient, sim: SimState) -> None:
    await note(client, note_id=conversation_note_id("ev-1"), if_none_match=True)
    with pytest.raises(DataverseConflictError):
        await note(client, note_id=conversation_note_id("ev-1"), text="again", if_none_match=True)
    assert [r["notetext"] for r in sim.annotations()] == ["Responses: 1"]


async def test_a_missing_record_is_permanent(client: DataverseClient) -> None:
    with pytest.raises(DataversePermanentError) as caught:
        await note(client, regarding_id=UNKNOWN_OPPORTUNITY)
    assert caught.value.upstream_status == 404


@pytest.mark.parametrize(
    "overrides",
    [
        {"note_id": "not-a-guid"},
        {"regarding_id": "nope"},
        {"regarding_entity": "Opportunity!"},
        {"subject": None},
        {"text": 12},
    ],
)
async def test_bad_input_costs_no_call(
    client: DataverseClient, sim: SimState, overrides: dict[str, Any]
) -> None:
    with pytest.raises(DataverseInputError):
        await note(client, **overrides)
    assert requests_served(sim) == 0


# ---- the simulator's table ----------------------------------------------------------------------


@pytest.fixture
def web(sim_server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim_server.url, headers=HEADERS, timeout=5) as client:
        yield client


def bind(opportunity: str = CONTOSO) -> dict[str, str]:
    return {"objectid_opportunity@odata.bind": f"/opportunities({opportunity})"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        # the activity's binding names are not declared on annotations
        (
            {"regardingobjectid_opportunity_task@odata.bind": f"/opportunities({CONTOSO})"},
            400,
            "0x80060888",
        ),
        ({"objectid_opportunity@odata.bind": f"/accounts({CONTOSO})"}, 400, "0x80048d19"),
        ({**bind(), "description": "not a note column"}, 400, "0x80060888"),
        ({**bind(), "subject": "s" * 501}, 400, "0x80044331"),
        ({**bind(), "notetext": 5}, 400, "0x80048d19"),
        (bind(UNKNOWN_OPPORTUNITY), 404, "0x80040217"),
    ],
)
def test_simulator_refuses_what_dataverse_refuses(
    web: httpx.Client, sim: SimState, body: dict[str, Any], status: int, code: str
) -> None:
    response = web.patch(f"{API}/annotations({uuid.uuid4()})", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert sim.annotations() == []


def test_simulator_queries_notes_like_tasks(web: httpx.Client, sim: SimState) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for key, (opp, subject) in zip(
        ids, [(CONTOSO, "one"), (CONTOSO, "two"), (FABRIKAM, "other")], strict=True
    ):
        response = web.patch(f"{API}/annotations({key})", json={**bind(opp), "subject": subject})
        assert response.status_code == 204
    listed = web.get(
        f"{API}/annotations",
        params={
            "$filter": f"_objectid_value eq {CONTOSO}",
            "$select": "subject",
            "$orderby": "subject",
        },
    ).json()["value"]
    assert [(r["subject"], set(r)) for r in listed] == [
        ("one", {"@odata.etag", "annotationid", "subject"}),
        ("two", {"@odata.etag", "annotationid", "subject"}),
    ]
    single = web.get(f"{API}/annotations({ids[2]})").json()
    assert (single["_objectid_value"], single["subject"]) == (FABRIKAM, "other")
    assert web.delete(f"{API}/annotations({ids[2]})").status_code == 204
    assert web.get(f"{API}/annotations({ids[2]})").status_code == 404
    state = web.get("/_sim/state").json()
    assert sorted(n["subject"] for n in state["annotations"]) == ["one", "two"]
