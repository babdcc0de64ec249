"""`make demo` end to end: `python -m devtools.demo` as a subprocess, its exit code and report.

The demo starts its own Azurite, simulators and host on free ports; these tests also check that
it leaves nothing listening behind, after a normal run and after Ctrl-C.
"""

from __future__ import annotations

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

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT = 180.0
WORKDIR_LINE = re.compile(r"work directory (?P<path>\S+)\)")
STACK_LINE = re.compile(
    r"stack up: host :(\d+), Kaizala simulator :(\d+), Dataverse simulator :(\d+), Azurite :(\d+)"
)


class DemoProcess:
    """`python -m devtools.demo` in its own session, its output read line by line."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devtools.demo"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # a terminal's Ctrl-C would hit only the demo itself
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

    def wait_line(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str] | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            found = pattern.search(line)
            if found:
                return found
        return None

    def finish(self, timeout: float) -> int:
        """Read to the end and wait for the exit code; on timeout stop it, then fail."""
        deadline = time.monotonic() + timeout
        self.wait_line(re.compile(r"(?!)"), timeout)  # every line, until EOF or the deadline
        try:
            return self.proc.wait(timeout=max(5.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"the demo did not finish within {timeout:g} s:\n{self.output}")

    def stop(self) -> None:
        """SIGTERM lets the demo stop what it started; SIGKILL its session if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def assert_nothing_left(output: str, ports: list[int]) -> None:
    """No component still listening, and the temporary work directory removed."""
    deadline = time.monotonic() + 10
    while (still := [p for p in ports if listening(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not still, f"still listening after the demo ended: {still}"
    workdir = WORKDIR_LINE.search(output)
    assert workdir is not None, output
    assert not Path(workdir["path"]).exists(), f"{workdir['path']} left behind"


@pytest.mark.timeout(DEMO_TIMEOUT + 60)
def test_demo_runs_the_whole_loop_and_checks_it() -> None:
    demo = DemoProcess()
    try:
        stack = demo.wait_line(STACK_LINE, 60)
        code = demo.finish(DEMO_TIMEOUT)
    finally:
        demo.stop()
    out = demo.output
    assert stack is not None, out
    assert code == 0, out
    expected = [
        r"Kaizala calls\s+1 POST groups/\{groupId\}/actions for it "
        r"\(Dataverse posted the Create twice: 201, then 200\)",
        r"Responses: 3 members, 1 edit\(s\), 4 answers given",
        r"Activities on the opportunity in the Dataverse simulator: 3",
        r"Duplicates suppressed: the simulator made 5 deliveries, 4 distinct events stored "
        r"\(1 suppressed\)",
        r"Retries: 1 event\(s\) needed more than one attempt; Rohan Das: 2 attempts",
        r"Rohan Das\s+\d+\.\d\d s\s+delayed by the Dataverse outage",
        r"ok\s+exactly one survey sent",
        r"ok\s+the edited answer is the final one",
        r"ok\s+GET /api/actions/\{correlationId\} reports every response \(3 reported",
        # the second part: a group per opportunity, its chat, the missed webhook's backfill
        r"A group per opportunity \(host restarted with OPPORTUNITY_GROUP_MODE=per-opportunity",
        r"Kaizala calls\s+1 CreateGroup, 1 survey send \(Dataverse posted the Create twice: "
        r"201, then 200\)",
        r"Responses: 3, 3 tasks on the opportunity",
        r"Rohan Das\s+\+919100000004\s+missed by the webhook, backfilled",
        r"Backfill \(subscription removed in Kaizala\): 0 deliveries; .* seen 3, new 2, "
        r"already 1; webhooks/sync: created",
        r"Conversation notes: 2 \(4 deliveries\)",
        r"Summary note: Kaizala results: .* — 3 responses",
        r"ok\s+the group holds the owner and the contact from Dynamics \(4 members",
        r"ok\s+a chat message and a photo became two notes on it, once each",
        r"ok\s+the missed responses were backfilled",
        r"ok\s+the summary note counts every response",
        r"ok\s+the summary note's figures match the answers \(6 of 6",
        r"PASSED: the whole loop in",
    ]
    for pattern in expected:
        assert re.search(pattern, out), f"missing {pattern!r} in:\n{out}"
    assert "FAIL" not in out, out
    assert len(re.findall(r"final answers: ", out)) == 3, out
    assert_nothing_left(out, [int(p) for p in stack.groups()])


@pytest.mark.timeout(120)
def test_demo_stops_everything_on_ctrl_c() -> None:
    demo = DemoProcess()
    try:
        stack = demo.wait_line(STACK_LINE, 60)
        assert stack is not None, demo.output
        demo.proc.send_signal(signal.SIGINT)
        code = demo.finish(60)
    finally:
        demo.stop()
    assert code == 130, demo.output
    assert "interrupted: stopping everything" in demo.output
    assert_nothing_left(demo.output, [int(p) for p in stack.groups()])
