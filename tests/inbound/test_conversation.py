"""Chat in a group registered for conversation: each message or attachment one note, once.

Over real HTTP: the webhook handler, Azurite (inbox, group registry) and the Dataverse
simulator. Groups are registered straight into the registry (`GroupStore.register`), as the
groups slice does when it creates a group for an opportunity.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from devtools.dataverse_sim import SimState
from shared.adapters.dataverse import conversation_note_id
from shared.clock import iso_z
from shared.runtime import Runtime
from shared.services.inbound import process_event, sweep_inbox
from shared.stores.groups import GroupRecord, GroupStore
from shared.stores.inbox import InboxItem, inbox_key, partition_for
from tests.inbound.conftest import CONTOSO, Clock, post_event, row_of, sample
from tests.support import body_json

GROUP = "8c291050-9be8-45d6-97f5-bb7013930027"  # the samples' group


def chat(name: str, group: str = GROUP) -> dict[str, Any]:
    event = copy.deepcopy(sample(name))
    event["eventId"] = str(uuid.uuid4())
    event["objectId"] = group
    return event


async def register(rt: Runtime, group: str = GROUP, *, conversation: bool = True) -> None:
    record = GroupRecord(
        group_id=group,
        name="Contoso – 500 laptops",
        regarding_entity="opportunity",
        regarding_id=CONTOSO,
        conversation=conversation,
    )
    await GroupStore(rt.tables).register(record)


def note_writes(sim: SimState) -> int:
    return int(sim.stats()["annotationWrites"])


async def test_a_message_and_an_attachment_become_two_notes_once_each(
    rt: Runtime, token: str, sim: SimState, clock: Clock
) -> None:
    await register(rt)
    message, attachment = chat("text_message_created"), chat("attachment_created")
    for event in (message, attachment, message, attachment):  # each delivered twice
        await post_event(event, token)
    assert [(await row_of(rt.tables, e["eventId"]))["status"] for e in (message, attachment)] == [
        "done",
        "done",
    ]

    by_id = {n["annotationid"]: n for n in sim.annotations()}
    assert set(by_id) == {
        str(conversation_note_id(message["eventId"])),
        str(conversation_note_id(attachment["eventId"])),
    }
    assert note_writes(sim) == 2
    assert {n["_objectid_value"] for n in by_id.values()} == {CONTOSO}

    said = by_id[str(conversation_note_id(message["eventId"]))]
    assert said["subject"] == "Kaizala message from Asha Rao: Test Message"
    received = (await row_of(rt.tables, message["eventId"]))["receivedAt"]
    for line in (
        "Kaizala message in Contoso – 500 laptops",
        "From: Asha Rao (+919100000001)",
        f"Received: {iso(received)}",
        "Test Message",
        f"Event id: {message['eventId']}",
    ):
        assert f"\n{line}\n" in f"\n{said['notetext']}\n", line

    sent = by_id[str(conversation_note_id(attachment["eventId"]))]
    assert sent["subject"] == "Kaizala image from Asha Rao: Testing."
    for line in (
        "Kaizala attachment in Contoso – 500 laptops",
        "Caption: Testing.",
        "- IMG_18-03-22_165220084_1.jpg (Image): https://example.invalid/att/0ad142c5.jpg",
    ):
        assert f"\n{line}\n" in f"\n{sent['notetext']}\n", line
    row = await row_of(rt.tables, attachment["eventId"])
    assert row["activityId"] == sent["annotationid"]


async def test_an_attempt_repeated_after_its_note_was_written_adds_none(
    rt: Runtime, token: str, sim: SimState
) -> None:
    await register(rt)
    message = chat("text_message_created")
    await post_event(message, token)
    assert note_writes(sim) == 1
    # As if the first attempt's outcome had not been saved: the sweeper processes it again.
    item = InboxItem(
        partition_key=partition_for(None),
        row_key=inbox_key(message["eventId"]),
        event=message,
        attempts=1,
        received_at=0,
    )
    assert await process_event(rt.inbound, item) == "done"
    assert len(sim.annotations()) == 1
    assert note_writes(sim) == 1  # create-only: the second write was refused (412)
    assert sim.stats()["byMethodStatus"].get("PATCH 412") == 1


async def test_chat_of_other_groups_stays_ignored(
    rt: Runtime, token: str, sim: SimState, clock: Clock
) -> None:
    quiet = "6d1f0c3b-7e2a-4b59-9c84-2f3e4d5a6b7c"
    await register(rt, quiet, conversation=False)
    events = [chat("text_message_created", quiet), chat("attachment_created", "unregistered")]
    for event in events:
        assert body_json(await post_event(event, token))["status"] == "ignored"
        assert (await row_of(rt.tables, event["eventId"]))["status"] == "ignored"
    clock.advance(3600)
    assert (await sweep_inbox(rt.inbound)).found == 0
    assert sim.annotations() == []
    assert sim.stats()["requests"] == 0


async def test_a_failed_note_write_is_retried_by_the_sweeper(
    rt: Runtime, token: str, sim: SimState, clock: Clock
) -> None:
    await register(rt)
    message = chat("text_message_created")
    sim.set_down(True)
    assert body_json(await post_event(message, token))["status"] == "accepted"
    row = await row_of(rt.tables, message["eventId"])
    assert (row["status"], row["attempts"]) == ("pending", 1)
    sim.set_down(False)
    clock.advance(3600)
    report = await sweep_inbox(rt.inbound)
    assert report.outcomes == {"done": 1}
    assert [n["annotationid"] for n in sim.annotations()] == [
        str(conversation_note_id(message["eventId"]))
    ]


def iso(ms: int) -> str:
    return iso_z(ms) or ""
