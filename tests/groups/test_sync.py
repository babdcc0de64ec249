"""The webhook sync (`/api/manage/webhooks/sync`, `reconcile_webhooks`) covers every registered
group as well as the configured ones, each with the event types its group needs."""

from __future__ import annotations

from typing import Any

from shared.runtime import Runtime
from tests.bridge_fixtures import SAMPLE_GROUP, KaizalaSim
from tests.groups.conftest import OPPORTUNITY, create, hooks_on
from tests.support import body_json, call, request, run_timer

CHAT = {"TextMessageCreated", "AttachmentCreated"}


async def sync() -> tuple[int, dict[str, Any]]:
    resp = await call("sync_kaizala_webhooks", request("POST", "/api/manage/webhooks/sync"))
    body = body_json(resp)
    groups = body.get("groups", [])
    return resp.status_code, {g["groupId"]: g for g in groups}


async def test_sync_covers_registered_groups(bridge: Runtime, kaizala: KaizalaSim) -> None:
    _, team = await create({"name": "Team", "members": []})
    regarding = {"entityType": "opportunity", "id": OPPORTUNITY}
    _, deal = await create({"name": "Deal", "members": [], "regarding": regarding})
    # Their subscriptions went away (deleted by hand, or never made: Kaizala was down).
    for gid in (team["groupId"], deal["groupId"]):
        [hook] = hooks_on(kaizala, gid)
        await bridge.kaizala.delete_webhook(hook["id"])

    status, report = await sync()
    assert status == 200, report
    assert set(report) == {team["groupId"], deal["groupId"], SAMPLE_GROUP}
    assert {r["actions"][0] for r in report.values()} == {"created"}
    [survey_hook] = hooks_on(kaizala, SAMPLE_GROUP)
    assert not CHAT & set(survey_hook["events"])
    [team_hook] = hooks_on(kaizala, team["groupId"])
    assert not CHAT & set(team_hook["events"])
    [deal_hook] = hooks_on(kaizala, deal["groupId"])
    assert set(deal_hook["events"]) >= CHAT

    # the hourly timer finds everything in place
    await run_timer("reconcile_webhooks")
    assert len(kaizala.state()["webhooks"]) == 3
    status, report = await sync()
    assert {r["actions"][0] for r in report.values()} == {"unchanged"}


async def test_a_subscription_without_the_chat_events_is_replaced(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    regarding = {"entityType": "opportunity", "id": OPPORTUNITY}
    _, deal = await create({"name": "Deal", "members": [], "regarding": regarding})
    gid = deal["groupId"]
    [old] = hooks_on(kaizala, gid)
    # An older bridge subscribed only the response events.
    sim: Any = kaizala.server.server.config.app
    sim.state.sim.state.webhooks[old["id"]].event_types = [
        "SurveyResponse",
        "ActionResponse",
        "JobResponse",
    ]
    status, report = await sync()
    assert status == 200
    assert report[gid]["actions"] == ["created", "removed"]  # the new one first
    [hook] = hooks_on(kaizala, gid)
    assert hook["id"] != old["id"]
    assert set(hook["events"]) >= CHAT


async def test_one_group_kaizala_refuses_does_not_stop_the_others(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    _, team = await create({"name": "Team", "members": []})
    [hook] = hooks_on(kaizala, team["groupId"])
    await bridge.kaizala.delete_webhook(hook["id"])
    # a registered group that Kaizala no longer has
    from shared.stores.groups import GroupRecord

    await bridge.groups.register(GroupRecord("0b1c2d3e-0000-4000-8000-00000000dead", "Gone"))
    status, body = await sync()
    assert status == 502
    gone = body["0b1c2d3e-0000-4000-8000-00000000dead"]
    assert "error" in gone
    assert body[team["groupId"]]["actions"] == ["created"]
    assert hooks_on(kaizala, team["groupId"])
