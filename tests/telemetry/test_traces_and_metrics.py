"""Spans and counters through the real handlers, read back from the SDK's in-memory exporters."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanKind, StatusCode

from devtools.serving import ServerThread
from shared import telemetry
from shared.runtime import Runtime
from tests.bridge_fixtures import SAMPLE_GROUP, KaizalaSim, bridge_env
from tests.conftest import SECRET_VALUES, installed_runtime
from tests.inbound.conftest import correlate, post_event, survey_event
from tests.outbound.test_send_actions import action_request, post
from tests.outbound.test_webhook_sync import host  # noqa: F401 - a fixture
from tests.support import body_json, call, fresh_python, request, run_timer
from tests.telemetry.conftest import Captured

ROOT = Path(__file__).resolve().parents[2]


def assert_no_secret_in(captured: Captured, *extra: str) -> None:
    values = captured.attribute_values()
    assert values, "nothing was recorded: the scan would prove nothing"
    leaked = [s[:4] for s in {*SECRET_VALUES, *extra} if any(s in v for v in values)]
    assert leaked == []


# ---- the webhook ----------------------------------------------------------------------------


async def test_webhook_event_span_has_its_ids_and_a_dataverse_child(
    rt: Runtime, token: str, sim: object, captured: Captured
) -> None:
    action_id = str(uuid.uuid4())
    correlation_id = await correlate(rt.tables, action_id)
    event = survey_event(action_id)

    resp = await post_event(event, token)

    assert body_json(resp)["status"] == "accepted"
    invocation = captured.span("kaizala_webhook")
    attrs = dict(invocation.attributes or {})
    assert attrs["eventId"] == event["eventId"]
    assert attrs["actionId"] == action_id
    assert attrs["correlationId"] == correlation_id
    assert attrs["groupId"] == SAMPLE_GROUP
    assert attrs["http.response.status_code"] == 200
    dataverse = [s for s in captured.spans() if s.name.startswith("dataverse ")]
    assert dataverse
    for child in dataverse:
        assert child.kind == SpanKind.CLIENT
        assert child.parent is not None
        assert child.parent.span_id == invocation.context.span_id
        assert child.context.trace_id == invocation.context.trace_id
        url = str((child.attributes or {})["url.full"])
        assert url.startswith("http://127.0.0.1:")
        assert "?" not in url
    assert captured.added(telemetry.EVENTS, outcome="accepted") == 1
    assert captured.added(telemetry.EVENTS, outcome="processed") == 1
    assert_no_secret_in(captured, token)


async def test_a_duplicate_delivery_counts_as_duplicate(
    rt: Runtime, token: str, sim: object, captured: Captured
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    event = survey_event(action_id)

    await post_event(event, token)
    resp = await post_event(event, token)

    assert body_json(resp)["status"] == "duplicate"
    assert captured.added(telemetry.EVENTS, outcome="accepted") == 1
    assert captured.added(telemetry.EVENTS, outcome="duplicate") == 1
    assert captured.added(telemetry.EVENTS, outcome="processed") == 1


async def test_a_dead_event_counts_as_dead(
    rt: Runtime, token: str, sim: object, captured: Captured
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    event = survey_event(action_id)
    event["data"]["responseDetails"] = "not an object"  # a shape retrying can never fix

    await post_event(event, token)

    assert captured.added(telemetry.EVENTS, outcome="dead") == 1
    assert captured.added(telemetry.EVENTS, outcome="processed") == 0


# ---- sending --------------------------------------------------------------------------------


async def test_a_send_is_counted_and_its_kaizala_call_is_a_child_span(
    bridge: Runtime, kaizala: KaizalaSim, captured: Captured
) -> None:
    resp = await post(action_request())

    body = body_json(resp)
    assert resp.status_code == 201, body
    assert captured.added(telemetry.SENDS, outcome="sent") == 1
    invocation = captured.span("send_action")
    attrs = dict(invocation.attributes or {})
    assert attrs["correlationId"] == body["correlationId"]
    assert attrs["actionId"] == body["actionId"]
    assert attrs["groupId"] == SAMPLE_GROUP
    calls = [s for s in captured.spans() if s.name.startswith("kaizala ")]
    posted = [s for s in calls if s.name == "kaizala POST groups/{groupId}/actions"]
    assert len(posted) == 1, [s.name for s in calls]
    assert posted[0].kind == SpanKind.CLIENT
    assert posted[0].parent is not None
    assert posted[0].parent.span_id == invocation.context.span_id
    for span in calls:
        assert "?" not in str((span.attributes or {})["url.full"])
    kaizala.register_issued_secrets()  # the access token the bridge obtained, for the scan
    assert_no_secret_in(captured)


async def test_a_kaizala_429_is_counted(
    bridge: Runtime, kaizala: KaizalaSim, captured: Captured
) -> None:
    kaizala.control(
        "POST",
        "faults",
        json={"pathRegex": "/actions$", "status": 429, "count": 1, "retryAfter": 1},
    )

    resp = await post(action_request())

    assert resp.status_code == 201  # retried once the pause was over
    assert captured.added(telemetry.KAIZALA_THROTTLED) == 1
    assert captured.added(telemetry.SENDS, outcome="sent") == 1


# ---- tokens and health ----------------------------------------------------------------------


async def test_a_token_refresh_counts_as_ok(
    bridge: Runtime, kaizala: KaizalaSim, captured: Captured
) -> None:
    await run_timer("renew_kaizala_token")  # no access token yet: one refresh

    assert captured.added(telemetry.TOKEN_REFRESHES, outcome="ok") == 1
    assert captured.added(telemetry.TOKEN_REFRESHES, outcome="failed") == 0


async def test_a_refused_refresh_token_counts_as_failed(
    bridge: Runtime, kaizala: KaizalaSim, captured: Captured
) -> None:
    kaizala.refresh_token()  # revokes the one the bridge was given

    await run_timer("renew_kaizala_token")  # an expected failure: logged, not raised

    assert captured.added(telemetry.TOKEN_REFRESHES, outcome="failed") == 1
    timer = captured.span("renew_kaizala_token")
    assert timer.status.status_code == StatusCode.ERROR
    kaizala.register_issued_secrets()
    assert_no_secret_in(captured)


async def test_health_sets_the_refresh_token_gauge(
    bridge: Runtime, kaizala: KaizalaSim, captured: Captured
) -> None:
    # A refresh that rotates the refresh token: its expiry is known from then on (a token
    # handed over in settings has none, and no gauge is set for an unknown).
    kaizala.config(refreshRotationFraction=1e-9)
    await run_timer("renew_kaizala_token")
    resp = await call("health", request("GET", "/api/health"))

    assert resp.status_code == 200
    days = captured.value(telemetry.REFRESH_TOKEN_DAYS_LEFT)
    assert days is not None
    assert 0 < days <= 366


async def test_webhook_sync_sets_the_disabled_gauge(
    env: dict[str, str],
    kaizala: KaizalaSim,
    tmp_path: Path,
    host: ServerThread,  # noqa: F811 - the fixture imported above
    captured: Captured,
) -> None:
    url = f"{host.url}/api/kaizala/webhook"  # the handshake needs a live webhook route
    values = bridge_env(env, kaizala, tmp_path, WEBHOOK_CALLBACK_URL=url)
    async with installed_runtime(values):
        resp = await call("sync_kaizala_webhooks", request("POST", "/api/manage/webhooks/sync"))
        assert resp.status_code == 200, resp.get_body()
        assert captured.value(telemetry.WEBHOOKS_DISABLED) == 0
        webhook_id = body_json(resp)["groups"][0]["webhookId"]
        # Kaizala disables a subscription after failed deliveries.
        kaizala.server.server.config.app.state.sim.state.webhooks[webhook_id].active = False

        await run_timer("reconcile_webhooks")

        assert captured.value(telemetry.WEBHOOKS_DISABLED) == 1
        kaizala.register_issued_secrets()
        assert_no_secret_in(captured)


# ---- off ------------------------------------------------------------------------------------


_PROBE = """
import json, sys
import function_app
ours = ("opentelemetry", "azure.monitor")
report = {"modules": sorted(m for m in sys.modules if m.startswith(ours))}
if "opentelemetry.trace" in sys.modules:
    from opentelemetry import trace
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    report["provider"] = type(trace.get_tracer_provider()).__module__
    report["httpx"] = HTTPXClientInstrumentor().is_instrumented_by_opentelemetry
print(json.dumps(report))
"""


def _load_the_app(env: dict[str, str]) -> dict[str, Any]:
    result = fresh_python(_PROBE, env)
    report: dict[str, Any] = json.loads(result)
    return report


def test_without_the_connection_string_no_opentelemetry_module_is_loaded() -> None:
    env = {k: v for k, v in os.environ.items() if k != telemetry.CONNECTION_STRING}
    assert _load_the_app(env) == {"modules": []}


def test_with_the_connection_string_the_distro_is_configured() -> None:
    # Loopback, nothing listening: the process only has to configure, not to export.
    fake = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"
    env = {**os.environ, telemetry.CONNECTION_STRING: fake}
    report = _load_the_app(env)
    assert "azure.monitor.opentelemetry" in report["modules"]
    assert report["provider"] == "opentelemetry.sdk.trace"
    assert report["httpx"] is False  # our transports make the client spans
