"""The drain_outbox timer: a refusal does not stall the queue; one drainer across instances."""

from __future__ import annotations

from typing import Any

from shared.runtime import Runtime
from shared.services.outbound.drain import DRAIN_LEASE
from tests.bridge_fixtures import OPPORTUNITY, SAMPLE_GROUP, KaizalaSim
from tests.outbound.conftest import ShiftedClock
from tests.support import body_json, call, request


def poll(title: str, group: str = SAMPLE_GROUP) -> dict[str, Any]:
    return {
        "groupId": group,
        "actionType": "Poll",
        "actionBody": {"question": title, "choices": [{"title": "Yes"}, {"title": "No"}]},
        "regarding": {"id": OPPORTUNITY},
    }


async def post(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    resp = await call("send_action", request("POST", "/api/actions", body=body))
    return resp.status_code, body_json(resp)


async def status_of(cid: str) -> tuple[int, dict[str, Any]]:
    resp = await call("get_action", request("GET", "/", route_params={"correlationId": cid}))
    return resp.status_code, body_json(resp)


def throttle_next_send(kaizala: KaizalaSim) -> None:
    """Kaizala answers 429 until the client gives up: the request is queued, not sent."""
    kaizala.control(
        "POST",
        "faults",
        json={"pathRegex": "/actions$", "status": 429, "count": 3, "retryAfter": 1},
    )


def posts(kaizala: KaizalaSim) -> list[dict[str, Any]]:
    return kaizala.calls("/actions", "POST")


async def test_a_queued_action_refused_while_draining_fails_and_the_queue_goes_on(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    throttle_next_send(kaizala)
    code, refused = await post(poll("To nowhere", group="0000-missing"))
    assert (code, refused["status"]) == (202, "queued")
    code, fine = await post(poll("Behind it"))  # queued behind it, to keep the order
    assert (code, fine["status"]) == (202, "queued")
    before = len(posts(kaizala))

    report = await bridge.outbound.drain(max_seconds=5)
    assert (report["failed"], report["sent"]) == (1, 1)
    assert len(posts(kaizala)) == before + 2  # one attempt each, no retry of the refusal
    assert [r async for r in bridge.tables.query("outbox", "PartitionKey eq 'q'")] == []
    code, failed = await status_of(refused["correlationId"])
    assert (code, failed["status"]) == (200, "failed")
    assert failed["lastError"].startswith("Kaizala")
    code, sent = await status_of(fine["correlationId"])
    assert (code, sent["status"]) == (200, "sent")
    # A repeat of the refused request is answered from its row: refused, and not sent again.
    resp = await call(
        "send_action", request("POST", "/api/actions", body=poll("To nowhere", "0000-missing"))
    )
    assert resp.status_code == 502
    assert body_json(resp)["correlationId"] == refused["correlationId"]
    assert len(posts(kaizala)) == before + 2


async def test_a_drain_lease_held_elsewhere_skips_the_run_until_it_lapses(
    bridge: Runtime, kaizala: KaizalaSim, clock: ShiftedClock
) -> None:
    throttle_next_send(kaizala)
    code, queued = await post(poll("Waiting for the drainer"))
    assert (code, queued["status"]) == (202, "queued")
    before = len(posts(kaizala))
    # Another instance is draining (its lease outlives its 50 s run by 30 s).
    assert await bridge.leases.take(DRAIN_LEASE, "other-instance", 80)

    report = await bridge.outbound.drain(max_seconds=5)
    assert report["skipped"] == 1
    assert report["sent"] == 0
    assert len(posts(kaizala)) == before
    lease = await bridge.leases.read(DRAIN_LEASE)
    assert lease is not None
    assert lease.holder == "other-instance"  # not ours to release
    assert (await status_of(queued["correlationId"]))[1]["status"] == "queued"

    clock.offset += 81  # that instance died mid-run; its lease lapsed
    report = await bridge.outbound.drain(max_seconds=5, holder="this-instance")
    assert (report["skipped"], report["sent"]) == (0, 1)
    assert len(posts(kaizala)) == before + 1
    lease = await bridge.leases.read(DRAIN_LEASE)
    assert lease is not None
    assert (lease.holder, lease.until) == ("", 0.0)  # released at the end of the run
