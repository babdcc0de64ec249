"""The bridge side of the fidelity fixes, end to end over real HTTP: the token manager's
tokens carry the connector FetchGroupDetails needs (on the refreshing instance and on a peer
that reads the published token), and the bridge's Custom action model takes what the swagger
documents (a string `value`, the `{title, validity}` body, a dotted package id)."""

from __future__ import annotations

from pathlib import Path

from devtools.kaizala_sim import SAMPLE_APPLICATION_ID
from shared.adapters.secrets import ACCESS_TOKEN
from shared.config import Settings
from shared.runtime import Runtime
from tests.bridge_fixtures import OPPORTUNITY, SAMPLE_GROUP, KaizalaSim, bridge_env
from tests.support import body_json, call, request

PACKAGE = "com.microsoft.kaizala.miniapps.BdayMessage.12"
REGARDING = {"entityType": "opportunity", "id": OPPORTUNITY}


async def test_group_details_on_the_refreshing_and_on_a_peer_instance(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path
) -> None:
    settings = Settings.from_env(bridge_env(env, kaizala, tmp_path))
    first, peer, older = Runtime(settings), Runtime(settings), Runtime(settings)
    try:
        assert (await first.kaizala.get_group(SAMPLE_GROUP)).groupId == SAMPLE_GROUP
        stored = await first.secrets.get(ACCESS_TOKEN)
        assert stored is not None and stored.tags["applicationId"] == SAMPLE_APPLICATION_ID
        # The peer finds the published token (no second /accessToken) and its connector.
        assert (await peer.kaizala.get_group(SAMPLE_GROUP)).groupId == SAMPLE_GROUP
        # A token published before the tag existed: the connector comes from its own secret.
        untagged = {k: v for k, v in stored.tags.items() if k != "applicationId"}
        await first.secrets.set(ACCESS_TOKEN, stored.value, untagged)
        assert (await older.kaizala.get_group(SAMPLE_GROUP)).groupId == SAMPLE_GROUP
    finally:
        for runtime in (first, peer, older):
            await runtime.aclose()
    assert len(kaizala.calls("/v1/accessToken", "GET")) == 1
    details = kaizala.calls(f"/v1/groups/{SAMPLE_GROUP}", "GET")
    assert [c["status"] for c in details] == [200, 200, 200]


async def _send(body: dict[str, object], package: str = PACKAGE) -> tuple[int, object]:
    payload = {
        "groupId": SAMPLE_GROUP,
        "actionType": "Custom",
        "actionPackageId": package,
        "actionBody": body,
        "regarding": REGARDING,
    }
    resp = await call("send_action", request("POST", "/api/actions", body=payload))
    return resp.status_code, body_json(resp)


async def test_the_custom_title_validity_body_reaches_kaizala(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    status, answer = await _send({"title": "override title", "validity": 24})
    assert status == 201, answer
    [sent] = [c for c in kaizala.calls("/actions", "POST")]
    assert sent["body"] == {
        "id": PACKAGE,
        "actionBody": {"title": "override title", "validity": 24},
    }
    assert sent["status"] == 200


async def test_a_custom_property_value_must_be_a_string(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    numeric = {"name": "age", "type": "Numeric", "value": 30}
    status, answer = await _send({"properties": [numeric]})
    assert status == 400, answer
    assert isinstance(answer, dict)
    assert [e["field"] for e in answer["errors"]] == ["actionBody.properties.0.value"]
    half = await _send({"title": "no validity"})
    assert half[0] == 400
    assert kaizala.calls("/actions", "POST") == []  # refused before Kaizala
    status, answer = await _send(
        {"properties": [{"name": "age", "type": "Numeric", "value": "30"}]}
    )
    assert status == 201, answer
