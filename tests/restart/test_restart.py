"""`make run` survives a restart: the stack entry point (`python -m devtools.stack`, what `make
run` runs) in a subprocess with a temporary state directory and free ports, onboarded with the
PIN its output points at, an action sent, stopped with SIGTERM and started again: health is
`ok` without onboarding again, the action is still there, and a new response still becomes a
task in the Dataverse simulator.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.serving import free_port
from shared.settings_spec import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0  # the whole stack on a loaded 2-core machine
STEP_TIMEOUT = 60.0
ADMIN = "+919100000001"
GROUP = "8c291050-9be8-45d6-97f5-bb7013930027"
OPPORTUNITY = "b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a"
UP_LINE = re.compile(r"Kaizala Bridge on http://127\.0\.0\.1:\d+/api/health")
PIN_URL = re.compile(r"(http://127\.0\.0\.1:\d+/_sim/pin\?mobileNumber=\S+?) answers it")
SYNCED_LINE = re.compile(r"onboarded; webhook subscriptions synced \((?P<outcome>.*)\)")


class StackProcess:
    """`python -m devtools.stack` in its own session, its output read line by line."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own module
            [sys.executable, "-m", "devtools.stack", *argv],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its children share the session: killpg cleans up all
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self._queue.put(raw.decode("utf-8", errors="replace"))
        self._queue.put(None)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_line(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if found := pattern.search(line):
                return found
        pytest.fail(f"no line matching {pattern.pattern!r} within {timeout:g} s:\n{self.output}")

    def stop(self, ctrl_c: bool = False) -> int:
        """SIGTERM to the stack, as `kill` would, or SIGINT to its whole session, as a
        terminal's Ctrl-C does: either way the stack stops its parts cleanly."""
        if self.proc.poll() is None:
            if ctrl_c:
                os.killpg(self.proc.pid, signal.SIGINT)
            else:
                self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the stack did not stop within 60 s:\n{self.output}")

    def kill(self) -> None:
        """Whatever is left of its session (only after a failed stop)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)


def until(check: Any, timeout: float, what: str) -> Any:
    """Poll `check()` until it returns something truthy, within a deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.25)
    pytest.fail(f"{what} not seen within {timeout:g} s")


@pytest.fixture
def stack_args(tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    example = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))
    example["Values"]["LOCAL_SECRETS_PATH"] = str(tmp_path / "state" / "secrets.json")
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps(example), encoding="utf-8")
    state = tmp_path / "state"
    ports = {
        "--port": free_port(),
        "--kaizala-port": free_port(),
        "--dataverse-port": free_port(),
        "--table-port": free_port(),
    }
    argv = ["--settings", str(settings), "--state-dir", str(state)]
    argv += [str(item) for pair in ports.items() for item in pair]
    # The settings file decides, not whatever this test process has exported.
    names = {spec.name for spec in SETTINGS}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env["PYTHONUNBUFFERED"] = "1"
    return argv, env, state


def _port(argv: list[str], flag: str) -> int:
    return int(argv[argv.index(flag) + 1])


@pytest.mark.timeout(2 * START_TIMEOUT + 4 * STEP_TIMEOUT)
def test_restart_keeps_onboarding_actions_and_webhooks(
    stack_args: tuple[list[str], dict[str, str], Path],
) -> None:
    argv, env, state = stack_args
    host = f"http://127.0.0.1:{_port(argv, '--port')}"
    kaizala = f"http://127.0.0.1:{_port(argv, '--kaizala-port')}"
    dataverse = f"http://127.0.0.1:{_port(argv, '--dataverse-port')}"
    http = httpx.Client(timeout=30.0)

    def health() -> str | None:
        try:
            return str(http.get(f"{host}/api/health").json()["status"])
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    first = StackProcess(argv, env)
    try:
        first.wait_line(UP_LINE, START_TIMEOUT)
        pin_url = first.wait_line(PIN_URL, STEP_TIMEOUT)[1]
        resp = http.post(f"{host}/api/manage/kaizala/pin", json={"mobileNumber": ADMIN})
        assert resp.status_code == 202, resp.text
        pin = http.get(pin_url).json()["pin"]  # the URL the stack printed, as a user would
        resp = http.post(
            f"{host}/api/manage/kaizala/login", json={"mobileNumber": ADMIN, "pin": pin}
        )
        assert resp.json().get("status") == "onboarded", resp.text
        resp = http.post(f"{host}/admin/functions/renew_kaizala_token", json={"input": ""})
        assert resp.status_code == 202, resp.text
        until(lambda: health() == "ok", STEP_TIMEOUT, "health ok after onboarding")
        # The stack subscribes by itself once onboarded: no manual webhooks/sync.
        assert "created" in first.wait_line(SYNCED_LINE, STEP_TIMEOUT)["outcome"]
        resp = http.post(
            f"{host}/api/actions",
            json={
                "groupId": GROUP,
                "template": "opportunity-survey",
                "variables": {"opportunityName": "Contoso – 500 laptops"},
                "regarding": {"entityType": "opportunity", "id": OPPORTUNITY},
            },
        )
        assert resp.status_code == 201, resp.text
        sent = resp.json()
        assert first.stop() == 0, first.output
    finally:
        first.kill()

    assert (state / "kaizala-sim.json").is_file()
    assert (state / "dataverse-sim.json").is_file()

    second = StackProcess(argv, env)
    try:
        second.wait_line(UP_LINE, START_TIMEOUT)
        # Onboarded from the saved state: the stack syncs (the subscription is already there)
        # instead of pointing at a PIN.
        second.wait_line(SYNCED_LINE, STEP_TIMEOUT)
        assert "not onboarded" not in second.output, second.output
        assert health() == "ok"
        resp = http.get(f"{host}/api/actions/{sent['correlationId']}")
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "sent"
        assert resp.json()["actionId"] == sent["actionId"]
        hooks = http.get(f"{kaizala}/_sim/state").json()["webhooks"]
        assert sum(1 for h in hooks if h["active"]) == 1, hooks

        resp = http.post(
            f"{kaizala}/_sim/actions/{sent['actionId']}/respond-random",
            json={"count": 1, "seed": 7},
        )
        assert resp.status_code == 200, resp.text

        def task_written() -> list[dict[str, Any]]:
            tasks = http.get(f"{dataverse}/_sim/state").json()["activities"]["tasks"]
            return [t for t in tasks if t.get("_regardingobjectid_value") == OPPORTUNITY]

        until(task_written, STEP_TIMEOUT, "the new response as a task in Dataverse")
        assert second.stop(ctrl_c=True) == 0, second.output
        # Checked before the clean-up below: the stack itself left nothing running.
        flags = ("--port", "--kaizala-port", "--dataverse-port", "--table-port")
        assert not [f for f in flags if listening(_port(argv, f))], second.output
    finally:
        second.kill()
        http.close()


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
