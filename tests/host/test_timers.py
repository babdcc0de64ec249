"""Timer functions: admin invoke, NCRONTAB scheduling, no overlap, runOnStartup, shutdown."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from devtools.host import HostError, create_host_app
from devtools.serving import ServerThread, serve
from tests.host import sample_app
from tests.host.sample_app import recorder
from tests.host.waiting import wait_for

HERE = Path(__file__).parent
FAR_AWAY = "0 0 0 1 1 *"  # once a year: never during a test


@pytest.fixture(autouse=True)
def schedules(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SAMPLE_SLOW_SCHEDULE", FAR_AWAY)
    monkeypatch.setenv("SAMPLE_TICK_SCHEDULE", FAR_AWAY)
    monkeypatch.delenv("KAIZALA_RENEW_SCHEDULE", raising=False)  # use the settings default
    recorder.reset()
    yield
    recorder.release_all()  # never leave a worker thread waiting


@pytest.fixture
def host_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="devtools.host")
    return caplog


def lines(caplog: pytest.LogCaptureFixture, start: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "devtools.host" and r.getMessage().startswith(start)
    ]


def test_admin_invoke_runs_a_timer_once_and_skips_while_it_is_still_running(
    host_log: pytest.LogCaptureFixture,
) -> None:
    host_app = create_host_app(sample_app.build_app(), base_dir=HERE, timers=False)
    with serve(host_app) as server, httpx.Client(base_url=server.url, timeout=5.0) as client:
        response = client.post("/admin/functions/slow_timer", json={"input": ""})
        assert response.status_code == 202
        wait_for(lambda: recorder.active["slow_timer"] == 1, what="slow_timer to start")

        again = client.post("/admin/functions/SLOW_TIMER", json={"input": ""})  # any case
        assert again.status_code == 202
        wait_for(lambda: bool(lines(host_log, "function=slow_timer trigger=admin skipped")))
        recorder.release.set()
        wait_for(lambda: bool(lines(host_log, "function=slow_timer trigger=admin ok")))
        assert recorder.calls["slow_timer"] == 1
        assert recorder.max_active["slow_timer"] == 1
        [seen] = recorder.seen
        assert seen == {"name": "slow_timer", "past_due": False, "request_type": "TimerRequest"}

        # Finished invocations do not block the next one.
        assert client.post("/admin/functions/slow_timer", content=b"").status_code == 202
        wait_for(lambda: recorder.calls["slow_timer"] == 2, what="a second run")


def test_admin_invoke_refuses_unknown_http_and_malformed(
    host_log: pytest.LogCaptureFixture,
) -> None:
    host_app = create_host_app(sample_app.build_app(), base_dir=HERE, timers=False)
    with serve(host_app) as server, httpx.Client(base_url=server.url, timeout=5.0) as client:
        unknown = client.post("/admin/functions/no_such_function", json={"input": ""})
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"

        http_function = client.post("/admin/functions/hello", json={"input": ""})
        assert http_function.status_code == 400
        assert http_function.headers["content-type"] == "application/problem+json"
        assert "/sample-api/hello/{name:alpha}" in http_function.json()["detail"]

        assert client.post("/admin/functions/slow_timer", content=b"[1]").status_code == 400
        assert client.post("/admin/functions/slow_timer", content=b"{").status_code == 400
        assert client.get("/admin/functions/slow_timer").status_code == 405
    assert recorder.calls == {}
    assert lines(host_log, "function=") == []


def test_timer_fires_on_schedule_without_overlap_and_stops_with_the_server(
    monkeypatch: pytest.MonkeyPatch, host_log: pytest.LogCaptureFixture
) -> None:
    # Every second, and each run lasts until the test grants it a permit: the occurrences
    # while a run is held must be skipped, however slow the machine is.
    monkeypatch.setenv("SAMPLE_TICK_SCHEDULE", "* * * * * *")
    host_app = create_host_app(sample_app.build_app(), base_dir=HERE, shutdown_grace=30.0)
    server = ServerThread(host_app).start()
    try:
        wait_for(lambda: recorder.active["tick_timer"] == 1, what="the first tick")
        skipped = "function=tick_timer trigger=timer skipped"
        wait_for(lambda: bool(lines(host_log, skipped)), what="a tick skipped while one runs")
        assert recorder.calls["tick_timer"] == 1
        recorder.tick_permits.release()
        wait_for(lambda: bool(lines(host_log, "function=tick_timer trigger=timer ok")))
        wait_for(lambda: recorder.calls["tick_timer"] == 2, what="the next tick")
        assert recorder.max_active["tick_timer"] == 1
        first = recorder.seen[[s["name"] for s in recorder.seen].index("tick_timer")]
        assert first["function_name"] == "tick_timer"
        assert set(first["status"]) >= {"Next", "LastUpdated"}
        # runOnStartup, and its %KAIZALA_RENEW_SCHEDULE% fell back to the settings default.
        assert recorder.calls["startup_timer"] == 1
        assert recorder.calls["slow_timer"] == 0
        # Shut down while the second tick is held; let it finish only once the host waits.
        server.server.should_exit = True
        wait_for(
            lambda: bool(lines(host_log, "waiting up to 30.0s for 1 running invocation(s)")),
            what="the shutdown to wait for the running tick",
        )
        recorder.tick_permits.release()
    finally:
        server.stop()
    assert not server.thread.is_alive()
    # Shutdown cancelled the schedule first (no tick or skip during the wait), then let the
    # running invocation finish instead of cancelling it.
    messages = [r.getMessage() for r in host_log.records if r.name == "devtools.host"]
    waiting = next(i for i, m in enumerate(messages) if m.startswith("waiting up to"))
    after = [m for m in messages[waiting:] if m.startswith("function=tick_timer ")]
    assert len(after) == 1
    assert after[0].startswith("function=tick_timer trigger=timer ok ")
    assert not [m for m in messages if " cancelled " in m]
    assert recorder.calls["tick_timer"] == 2
    assert recorder.active["tick_timer"] == 0

    # An every-second timer's successes are DEBUG (they would drown the log); a run that is not
    # frequent (runOnStartup here) stays INFO.
    def levels(start: str) -> set[int]:
        return {
            r.levelno
            for r in host_log.records
            if r.name == "devtools.host" and r.getMessage().startswith(start)
        }

    assert levels("function=tick_timer trigger=timer ok") == {logging.DEBUG}
    assert levels("function=startup_timer trigger=timer ok") == {logging.INFO}


def test_timer_requests_carry_the_injected_clock(host_log: pytest.LogCaptureFixture) -> None:
    # The schedule status is read from the host's clock, not from the machine's.
    instant = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)
    host_app = create_host_app(
        sample_app.build_app(), base_dir=HERE, timers=False, clock=instant.timestamp
    )
    recorder.tick_permits.release(2)
    with serve(host_app) as server, httpx.Client(base_url=server.url, timeout=5.0) as client:
        done = "function=tick_timer trigger=admin ok"
        assert client.post("/admin/functions/tick_timer", json={}).status_code == 202
        wait_for(lambda: len(lines(host_log, done)) == 1, what="the first run")
        assert client.post("/admin/functions/tick_timer", json={}).status_code == 202
        wait_for(lambda: len(lines(host_log, done)) == 2, what="the second run")
    first, second = (s["status"] for s in recorder.seen if s["name"] == "tick_timer")
    assert first == {"LastUpdated": instant.isoformat()}
    assert second == {"LastUpdated": instant.isoformat(), "Last": instant.isoformat()}


def test_unresolved_or_invalid_schedule_fails_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAMPLE_TICK_SCHEDULE")
    with pytest.raises(HostError, match=r"'tick_timer'.*'SAMPLE_TICK_SCHEDULE'"):
        create_host_app(sample_app.build_app(), base_dir=HERE)
    monkeypatch.setenv("SAMPLE_TICK_SCHEDULE", "*/5 * * * *")
    with pytest.raises(HostError, match=r"'tick_timer'.*5 field\(s\)"):
        create_host_app(sample_app.build_app(), base_dir=HERE)
    # Without timers the schedules are not needed.
    create_host_app(sample_app.build_app(), base_dir=HERE, timers=False)
