from __future__ import annotations

import json

from devtools.azurite import Azurite
from shared.config import Settings
from shared.runtime import Runtime, set_runtime
from tests.support import body_json, call, request


async def test_health_ok_against_azurite(runtime: Runtime) -> None:
    resp = await call("manage_health", request("GET", "/api/manage/health"))
    assert resp.status_code == 200
    body = body_json(resp)
    assert body["checks"]["storage"] == {"status": "ok"}
    # nothing onboarded yet: visible, but not an outage
    assert body["checks"]["kaizalaToken"]["status"] == "warn"
    assert body["status"] == "warn"
    # the anonymous route says the same, and nothing more
    anonymous = await call("health", request("GET", "/api/health"))
    assert (anonymous.status_code, body_json(anonymous)) == (200, {"status": "warn"})


async def test_anonymous_health_hides_token_dates(bridge: Runtime) -> None:
    await bridge.tokens.current()
    resp = await call("health", request("GET", "/api/health"))
    assert (resp.status_code, body_json(resp)) == (200, {"status": "ok"})
    text = resp.get_body().decode()
    for detail in ("checks", "kaizalaToken", "ExpiresOn", "RotatedOn", "storage"):
        assert detail not in text


async def test_health_reports_token_state(bridge: Runtime) -> None:
    await bridge.tokens.current()
    body = body_json(await call("manage_health", request("GET", "/api/manage/health")))
    assert body["status"] == "ok"
    token = body["checks"]["kaizalaToken"]
    assert token["status"] == "ok"
    assert token["accessTokenExpiresOn"]
    assert "refreshTokenExpiresOn" in token
    text = json.dumps(body)
    assert (await bridge.tokens.current()).value not in text


async def test_health_503_when_storage_stops() -> None:
    with Azurite() as own:
        rt = Runtime(Settings.from_env({"AzureWebJobsStorage": own.connection_string}))
        set_runtime(rt)
        try:
            assert (await call("health", request("GET", "/api/health"))).status_code == 200
            own.stop()
            resp = await call("health", request("GET", "/api/health"))
            assert (resp.status_code, body_json(resp)) == (503, {"status": "fail"})
            resp = await call("manage_health", request("GET", "/api/manage/health"))
            body = body_json(resp)
            assert resp.status_code == 503
            assert body["status"] == "fail"
            assert body["checks"]["storage"]["status"] == "fail"
            text = resp.get_body().decode()
            assert "AccountKey" not in text
            assert "devstoreaccount1" not in text
        finally:
            set_runtime(None)
            await rt.aclose()
