"""shared.adapters.dataverse against the simulator over real HTTP: writes, reads, input checks."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from devtools.dataverse_sim import SimState
from shared.adapters.dataverse import (
    ACTIVITY_NAMESPACE,
    DataverseClient,
    DataverseConflictError,
    DataverseInputError,
    DataversePermanentError,
    DataverseTransientError,
    activity_id_for,
    entity_set_for,
    regarding_bind_property,
)
from tests.dataverse.conftest import CONTOSO, FABRIKAM, requests_served, upsert

# ---- writes ------------------------------------------------------------------------------------


async def test_upsert_twice_updates_one_row(client: DataverseClient, sim: SimState) -> None:
    first = await upsert(client, fields={"subject": "first"})
    second = await upsert(client, fields={"subject": "second", "prioritycode": 2})

    rows = sim.activities("tasks")
    assert len(rows) == 1
    assert rows[0]["activityid"] == str(activity_id_for("r-1")) == str(second.activity_id)
    assert (rows[0]["subject"], rows[0]["prioritycode"]) == ("second", 2)
    assert (first.status, second.status, second.attempts) == (204, 204, 1)
    assert second.entity_url is not None
    assert second.entity_url.endswith(f"/tasks({second.activity_id})")


@pytest.mark.parametrize("entity_set", ["tasks", "phonecalls"])
async def test_regarding_bind_fits_each_activity_table(
    client: DataverseClient, sim: SimState, entity_set: str
) -> None:
    # The simulator rejects any bind name that does not fit the table, as Dataverse does.
    await upsert(client, entity_set=entity_set, regarding_id=FABRIKAM)

    rows = sim.activities(entity_set)
    assert [r["_regardingobjectid_value"] for r in rows] == [FABRIKAM]
    singular = entity_set.removesuffix("s")
    assert (
        regarding_bind_property(entity_set, "opportunity")
        == f"regardingobjectid_opportunity_{singular}@odata.bind"
    )


async def test_subject_is_cut_to_200_utf16_units(client: DataverseClient, sim: SimState) -> None:
    await upsert(client, "long", fields={"subject": "s" * 300})
    await upsert(client, "emoji", fields={"subject": "\U0001f600" * 150})

    subjects = {r["activityid"]: r["subject"] for r in sim.activities("tasks")}
    long_subject = subjects[str(activity_id_for("long"))]
    emoji_subject = subjects[str(activity_id_for("emoji"))]
    assert long_subject == "s" * 199 + "…"
    assert len(emoji_subject.encode("utf-16-le")) // 2 <= 200
    assert emoji_subject.endswith("\U0001f600…")


async def test_list_activities_filters_by_regarding(client: DataverseClient) -> None:
    await upsert(client, "a", fields={"subject": "one"})
    await upsert(client, "b", fields={"subject": "two"})
    await upsert(client, "c", regarding_id=FABRIKAM, fields={"subject": "other"})

    rows = await client.list_activities("tasks", CONTOSO, select=("subject",))

    assert sorted(r["subject"] for r in rows) == ["one", "two"]
    assert {k for r in rows for k in r} == {"@odata.etag", "activityid", "subject"}


# ---- conditional writes ------------------------------------------------------------------------


async def test_get_activity_gives_the_selected_columns_and_the_etag(
    client: DataverseClient, sim: SimState
) -> None:
    assert await client.get_activity("tasks", activity_id_for("r-1"), ("description",)) is None

    await upsert(client)
    found = await client.get_activity("tasks", activity_id_for("r-1"), ("description",))

    assert found is not None
    fields, etag = found
    assert fields == {"activityid": str(activity_id_for("r-1")), "description": "Budget approved"}
    assert etag == f'W/"{sim.activities("tasks")[0]["versionnumber"]}"'
    assert sim.stats()["byMethodStatus"] == {"GET 404": 1, "PATCH 204": 1, "GET 200": 1}


async def test_if_match_writes_only_over_the_version_read(
    client: DataverseClient, sim: SimState
) -> None:
    await upsert(client, fields={"subject": "first"})
    found = await client.get_activity("tasks", activity_id_for("r-1"), ("subject",))
    assert found is not None
    _, etag = found

    await upsert(client, fields={"subject": "second"}, if_match=etag)  # the version read
    with pytest.raises(DataverseConflictError) as caught:  # that version is gone now
        await upsert(client, fields={"subject": "third"}, if_match=etag)

    assert (caught.value.upstream_status, caught.value.retry_after) == (412, None)
    assert isinstance(caught.value, DataverseTransientError)
    assert [r["subject"] for r in sim.activities("tasks")] == ["second"]
    assert sim.stats()["byMethodStatus"]["PATCH 412"] == 1  # not retried in-call


async def test_if_none_match_only_creates(client: DataverseClient, sim: SimState) -> None:
    await upsert(client, fields={"subject": "first"}, if_none_match=True)
    with pytest.raises(DataverseConflictError) as caught:
        await upsert(client, fields={"subject": "second"}, if_none_match=True)

    assert caught.value.code == "0x80040237"
    assert [r["subject"] for r in sim.activities("tasks")] == ["first"]


async def test_if_match_on_a_deleted_activity_is_not_found(
    client: DataverseClient, sim: SimState
) -> None:
    await upsert(client)
    found = await client.get_activity("tasks", activity_id_for("r-1"), ())
    assert found is not None
    sim.delete("tasks", str(activity_id_for("r-1")))

    with pytest.raises(DataversePermanentError) as caught:
        await upsert(client, if_match=found[1])

    assert caught.value.upstream_status == 404
    assert sim.activities("tasks") == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"if_match": 'W/"1"', "if_none_match": True},
        {"if_match": "1"},
        {"if_match": ""},
        {"if_match": 'W/"1"\r\nX-Injected: yes'},
    ],
)
async def test_bad_conditions_are_rejected_before_any_request(
    client: DataverseClient, sim: SimState, overrides: dict[str, Any]
) -> None:
    with pytest.raises(DataverseInputError):
        await upsert(client, **overrides)

    assert requests_served(sim) == 0


async def test_get_activity_checks_its_input(client: DataverseClient, sim: SimState) -> None:
    for args in (
        ("appointments", activity_id_for("r"), ()),
        ("tasks", "not-a-guid", ()),
        ("tasks", activity_id_for("r"), "description"),
        ("tasks", activity_id_for("r"), ("description,subject",)),
    ):
        with pytest.raises(DataverseInputError):
            await client.get_activity(*args)
    assert requests_served(sim) == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"entity_set": "appointments"},
        {"regarding_entity": "Opportunity"},
        {"regarding_entity": "opportunity)/../x"},
        {"regarding_id": "not-a-guid"},
        {"regarding_id": f"{CONTOSO})/tasks("},
        {"regarding_id": "00000000-0000-0000-0000-000000000000"},
        {"activity_id": "1234"},
        {"fields": {"regardingobjectid_opportunity_task@odata.bind": "/opportunities(x)"}},
        {"fields": {"activityid": str(uuid.uuid4())}},
        {"fields": {"Subject": "capital"}},
        {"fields": {"scheduledend": object()}},
    ],
)
async def test_invalid_input_is_rejected_before_any_request(
    client: DataverseClient, sim: SimState, overrides: dict[str, Any]
) -> None:
    before = requests_served(sim)

    with pytest.raises(DataverseInputError):
        await upsert(client, **overrides)

    assert requests_served(sim) == before == 0


# ---- helpers -----------------------------------------------------------------------------------


def test_activity_id_is_deterministic_per_response() -> None:
    first = activity_id_for("response-1")

    assert first == activity_id_for("response-1")
    assert first != activity_id_for("response-2")
    assert first.version == 5
    assert first == uuid.uuid5(ACTIVITY_NAMESPACE, "response-1")
    assert activity_id_for("response-1", namespace=uuid.NAMESPACE_URL) != first
    with pytest.raises(DataverseInputError):
        activity_id_for("  ")


@pytest.mark.parametrize(
    ("logical", "entity_set"),
    [
        ("opportunity", "opportunities"),
        ("account", "accounts"),
        ("activityparty", "activityparties"),
        ("survey", "surveys"),
        ("customeraddress", "customeraddresses"),
    ],
)
def test_entity_set_names(logical: str, entity_set: str) -> None:
    assert entity_set_for(logical) == entity_set
