"""Webhook subscriptions: created once, re-activated when disabled, never duplicated.

Kaizala's validation handshake is real: the simulator calls GET <callBackUrl>?validationToken=
on the product's function served by the local host.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.host import create_host_app, index_functions
from devtools.serving import ServerThread
from shared.adapters.kaizala import WebhookCreate
from shared.config import Settings
from shared.runtime import Runtime, set_runtime
from tests.bridge_fixtures import SAMPLE_GROUP, KaizalaSim, bridge_env
from tests.support import body_json, call, functions_by_name, request, run_timer


@pytest.fixture(scope="module")
def host() -> Iterator[ServerThread]:
    app = create_host_app(index_functions(functions_by_name().values()), timers=False)
    server = ServerThread(app).start()
    yield server
    server.stop()


def hooks(kaizala: KaizalaSim) -> list[dict[str, Any]]:
    return [h for h in kaizala.state()["webhooks"] if h.get("objectId") == SAMPLE_GROUP]


async def sync() -> Any:
    resp = await call("sync_kaizala_webhooks", request("POST", "/api/manage/webhooks/sync"))
    assert resp.status_code == 200, resp.get_body()
    return body_json(resp)["groups"][0]


async def test_sync_creates_reactivates_and_never_duplicates(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path, host: ServerThread
) -> None:
    url = f"{host.url}/api/kaizala/webhook"
    rt = Runtime(Settings.from_env(bridge_env(env, kaizala, tmp_path, WEBHOOK_CALLBACK_URL=url)))
    set_runtime(rt)
    try:
        first = await sync()
        assert first["actions"] == ["created"]
        [hook] = hooks(kaizala)
        assert hook["active"] is True
        assert set(hook["events"]) >= {"SurveyResponse", "ActionResponse", "JobResponse"}
        assert (await sync())["actions"] == ["unchanged"]
        assert len(hooks(kaizala)) == 1

        # Kaizala disabled it after failed deliveries
        state = kaizala.server.server.config.app.state.sim.state
        state.webhooks[first["webhookId"]].active = False
        await run_timer("reconcile_webhooks")
        [hook] = hooks(kaizala)
        assert hook["active"] is True

        # someone registered a second one by hand: removed
        token = await rt.callbacks.ensure()
        await rt.kaizala.create_webhook(
            WebhookCreate(
                objectId=SAMPLE_GROUP,
                objectType="Group",
                eventTypes=["SurveyResponse", "ActionResponse", "JobResponse"],
                callBackUrl=url,
                callBackToken=token,
            )
        )
        assert len(hooks(kaizala)) == 2
        report = await sync()
        assert report["actions"].count("removed") == 1
        assert len(hooks(kaizala)) == 1

        # after a callback-token rotation the subscription is replaced
        await rt.callbacks.rotate()
        resp = await call(
            "sync_kaizala_webhooks",
            request("POST", "/api/manage/webhooks/sync", body={"recreate": True}),
        )
        assert body_json(resp)["groups"][0]["actions"] == ["created", "removed"]
        assert len(hooks(kaizala)) == 1
    finally:
        set_runtime(None)
        await rt.aclose()


async def test_recreate_must_be_a_json_boolean(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path, host: ServerThread
) -> None:
    url = f"{host.url}/api/kaizala/webhook"
    rt = Runtime(Settings.from_env(bridge_env(env, kaizala, tmp_path, WEBHOOK_CALLBACK_URL=url)))
    set_runtime(rt)
    try:
        first = await sync()
        for value in ("yes", 1, "true", "True", 0, "false", None):
            resp = await call(
                "sync_kaizala_webhooks",
                request("POST", "/api/manage/webhooks/sync", body={"recreate": value}),
            )
            assert resp.status_code == 400, (value, resp.get_body())
            problem = body_json(resp)
            assert problem["errors"][0]["field"] == "recreate"
            assert problem["detail"] == "Invalid field recreate: Input should be a valid boolean"
        # Nothing was recreated: the same subscription, and no Kaizala call about webhooks.
        assert [h["id"] for h in hooks(kaizala)] == [first["webhookId"]]
        calls = len(kaizala.calls("webhook"))
        resp = await call(
            "sync_kaizala_webhooks",
            request("POST", "/api/manage/webhooks/sync", body={"recreate": False}),
        )
        assert body_json(resp)["groups"][0]["actions"] == ["unchanged"]
        assert len(kaizala.calls("webhook")) - calls == 1  # the one list call
    finally:
        set_runtime(None)
        await rt.aclose()


async def test_failed_handshake_creates_nothing(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path, host: ServerThread
) -> None:
    # /api/health does not echo the validation token, so Kaizala refuses the subscription
    url = f"{host.url}/api/health"
    rt = Runtime(Settings.from_env(bridge_env(env, kaizala, tmp_path, WEBHOOK_CALLBACK_URL=url)))
    set_runtime(rt)
    try:
        resp = await call("sync_kaizala_webhooks", request("POST", "/api/manage/webhooks/sync"))
        assert resp.status_code == 502
        assert hooks(kaizala) == []
    finally:
        set_runtime(None)
        await rt.aclose()


async def test_sync_requires_callback_url(bridge: Runtime) -> None:
    bad = Runtime(Settings.from_env({**_env_of(bridge), "WEBHOOK_CALLBACK_URL": ""}))
    set_runtime(bad)
    try:
        resp = await call("sync_kaizala_webhooks", request("POST", "/api/manage/webhooks/sync"))
        assert resp.status_code == 500
        assert body_json(resp)["setting"] == "WEBHOOK_CALLBACK_URL"
    finally:
        set_runtime(bridge)
        await bad.aclose()


def _env_of(rt: Runtime) -> dict[str, str]:
    s = rt.settings
    return {
        "AzureWebJobsStorage": s.storage.connection_string or "",
        "TABLE_NAME_PREFIX": s.table_prefix,
        "KAIZALA_API_ROOT": s.kaizala_api_root,
        "LOCAL_SECRETS_PATH": s.local_secrets_path,
    }
