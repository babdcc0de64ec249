"""Quieter logs: one INFO line per event; expected failures one line, no traceback."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from devtools.host import main
from devtools.serving import free_port
from functions.http import handle_errors, handle_timer
from shared.runtime import Runtime
from tests.bridge_fixtures import KaizalaSim
from tests.conftest import installed_runtime, register_secret
from tests.inbound.conftest import Clock, correlate, post_event, row_of, survey_event
from tests.support import call, request, run_timer

OURS = ("shared", "functions")


def ours(caplog: pytest.LogCaptureFixture, level: int | None = None) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.startswith(OURS) and (level is None or r.levelno == level)
    ]


async def test_one_info_line_per_processed_event(
    rt: Runtime, token: str, sim: object, caplog: pytest.LogCaptureFixture
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    caplog.set_level(logging.DEBUG)

    await post_event(survey_event(action_id), token)

    info = [r.getMessage() for r in ours(caplog, logging.INFO)]
    assert len(info) == 1, info
    assert "outcome=done" in info[0]


async def test_a_duplicate_delivery_is_one_info_line(
    rt: Runtime, token: str, sim: object, caplog: pytest.LogCaptureFixture
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    event = survey_event(action_id)
    await post_event(event, token)
    caplog.clear()
    caplog.set_level(logging.DEBUG)

    await post_event(event, token)

    info = [r.getMessage() for r in ours(caplog, logging.INFO)]
    assert len(info) == 1, info
    assert "result=duplicate" in info[0]


async def test_an_expected_http_failure_is_one_line_without_traceback(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cid = str(uuid.uuid4())

    resp = await call(
        "get_action", request("GET", f"/api/actions/{cid}", route_params={"correlationId": cid})
    )

    assert resp.status_code == 404
    [line] = [r for r in ours(caplog) if r.name == "functions"]
    assert line.getMessage() == "get_action answered 404 problem=not-found"
    assert line.exc_info is None


async def test_a_refused_refresh_token_is_one_warning_without_traceback(
    bridge: Runtime, kaizala: KaizalaSim, caplog: pytest.LogCaptureFixture
) -> None:
    kaizala.refresh_token()  # an admin issued a new one: the bridge's is revoked
    caplog.set_level(logging.DEBUG)

    await run_timer("renew_kaizala_token")  # expected: not raised to the host

    assert all(r.exc_info is None for r in caplog.records)
    [line] = [r for r in ours(caplog) if r.name == "functions"]
    assert line.levelno == logging.WARNING
    message = line.getMessage()
    assert message.startswith("renew_kaizala_token failed: KaizalaAuthError ")
    assert message.endswith(" problem=upstream")


async def test_dataverse_down_in_the_sweeper_is_one_line_without_traceback(
    inbound_env: dict[str, str], clock: Clock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    values = {**inbound_env, "DATAVERSE_URL": f"http://127.0.0.1:{free_port()}"}  # nobody there
    async with installed_runtime(values, clock=clock) as runtime:
        token = await runtime.callbacks.ensure()
        register_secret(token)
        action_id = str(uuid.uuid4())
        await correlate(runtime.tables, action_id)
        event = survey_event(action_id)
        await post_event(event, token)  # the inline attempt fails: left pending
        clock.advance(3600)
        caplog.clear()
        caplog.set_level(logging.DEBUG)

        await run_timer("process_inbox")

        row = await row_of(runtime.tables, event["eventId"])
    assert row["status"] == "pending"
    assert all(r.exc_info is None for r in caplog.records)
    lines = [r.getMessage() for r in ours(caplog) if "outcome=pending" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "error=DataverseUnavailableError problem=dataverse-unavailable" in lines[0]


# ---- the unexpected keeps its traceback -------------------------------------------------------


async def test_an_unexpected_http_failure_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @handle_errors
    async def broken(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("a bug")

    caplog.set_level(logging.DEBUG)
    resp = await broken(request("GET", "/api/x"))

    assert resp.status_code == 500
    [line] = ours(caplog)
    assert line.getMessage() == "broken failed unexpectedly"
    assert line.exc_info is not None
    assert line.exc_info[0] is RuntimeError


async def test_an_unexpected_timer_failure_is_logged_with_its_traceback_and_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @handle_timer
    async def broken(timer: func.TimerRequest) -> None:
        raise RuntimeError("a bug")

    caplog.set_level(logging.DEBUG)
    with pytest.raises(RuntimeError):
        await broken(TimerRequest(past_due=False))

    [line] = ours(caplog)
    assert line.exc_info is not None


# ---- the local host's start-up line -----------------------------------------------------------


def test_the_host_says_nothing_about_settings_the_file_did_not_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": {"TEL_TEST_A": "x"}}))
    monkeypatch.setenv("TEL_TEST_A", "already")  # as `make run` exports the file first
    caplog.set_level(logging.INFO)

    assert main(["--app", "tests.host.sample_app", "--list", "--settings", str(path)]) == 0
    assert "setting(s)" not in caplog.text

    monkeypatch.delenv("TEL_TEST_A")
    assert main(["--app", "tests.host.sample_app", "--list", "--settings", str(path)]) == 0
    assert "loaded 1 setting(s) from" in caplog.text
    assert "(0 already set in the environment)" in caplog.text
