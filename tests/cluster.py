"""Several local host processes (`python -m devtools.host`) on one Azurite, as Azure scales out.

Every host reads the same settings file and the same secret store file, as instances of one
Function App share their app settings and Key Vault. The Kaizala and Dataverse simulators run
in this process (real HTTP on 127.0.0.1), so a test reads their call logs and state directly.
Hosts run with `--no-schedules`: a test starts each timer itself through the admin API
(`POST /admin/functions/<name>`), on every host at once when it wants a race.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from devtools.dataverse_sim import DEFAULT_TOKEN, SimState
from devtools.dataverse_sim import create_app as create_dataverse
from devtools.kaizala_sim import (
    SAMPLE_APPLICATION_ID,
    SAMPLE_APPLICATION_SECRET,
    SimConfig,
    create_app,
)
from devtools.serving import ServerThread, free_port
from tests.bridge_fixtures import OPPORTUNITY, SAMPLE_GROUP, KaizalaSim
from tests.conftest import register_secret

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "fixtures" / "events"
WEBHOOK = "/api/kaizala/webhook"
# Timers a test starts itself; these schedules never fire within a run (and --no-schedules).
NEVER = "0 0 0 1 1 *"
TIMERS = (
    "drain_outbox",
    "process_inbox",
    "renew_kaizala_token",
    "reconcile_webhooks",
    "backfill_responses",
    "deliver_flow_responses",
)
# Prefixes of the real environment that must not leak into a host (a developer's own settings).
_FOREIGN = ("KAIZALA_", "DATAVERSE_", "AzureWebJobsStorage", "TABLE_NAME_PREFIX", "WEBHOOK_")


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it returns something truthy; a deadline, never a margin."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Host:
    """One host process; its output goes to a log file the test can read."""

    index: int
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def invocations(self, function: str, outcome: str = "") -> int:
        """Finished invocations of a function through the admin API, from the host's log."""
        marker = f"function={function} trigger=admin {outcome}"
        return sum(
            1 for line in self.text().splitlines() if marker in line and "duration_ms=" in line
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    storage: str  # the connection string every host uses (Azurite, or a proxy in front of it)
    folder: Path
    size: int = 3
    extra: dict[str, str] = field(default_factory=dict)
    hosts: list[Host] = field(default_factory=list)
    kaizala: KaizalaSim | None = None
    dataverse: SimState | None = None
    dataverse_url: str = ""
    _servers: list[ServerThread] = field(default_factory=list)

    # ---- start and stop -------------------------------------------------------------------

    def start(self) -> Cluster:
        try:
            kz = ServerThread(create_app(SimConfig())).start()
            self._servers.append(kz)
            self.kaizala = KaizalaSim(kz)
            dv_app: Starlette = create_dataverse()
            dv = ServerThread(dv_app).start()
            self._servers.append(dv)
            self.dataverse = dv_app.state.sim
            self.dataverse_url = dv.url
            ports = [free_port() for _ in range(self.size)]
            self.hosts = [
                Host(i, port, self.folder / f"host{i}.log") for i, port in enumerate(ports)
            ]
            self._write_settings(ports[0])
            for host in self.hosts:
                self.start_host(host)
        except BaseException:
            self.stop()
            raise
        return self

    def _write_settings(self, first_port: int) -> None:
        assert self.kaizala is not None
        register_secret(SAMPLE_APPLICATION_SECRET)
        values = {
            "AzureWebJobsStorage": self.storage,
            "TABLE_NAME_PREFIX": "m" + uuid.uuid4().hex[:12],
            "KAIZALA_API_ROOT": f"{self.kaizala.url}/v1",
            "KAIZALA_ALLOWED_HOSTS": "*.kaiza.la,127.0.0.1",
            "KAIZALA_APPLICATION_ID": SAMPLE_APPLICATION_ID,
            "KAIZALA_APPLICATION_SECRET": SAMPLE_APPLICATION_SECRET,
            "KAIZALA_REFRESH_TOKEN": self.kaizala.refresh_token(),
            "KAIZALA_RENEW_SCHEDULE": NEVER,
            "BACKFILL_SCHEDULE": NEVER,
            "LOCAL_SECRETS_PATH": str(self.folder / "secrets.json"),
            "OPPORTUNITY_SURVEY_GROUP_ID": SAMPLE_GROUP,
            # Kaizala's deliveries (the handshake) go to the first host, like a load balancer's
            # one public URL; tests spread their own deliveries across every host.
            "WEBHOOK_CALLBACK_URL": f"http://127.0.0.1:{first_port}{WEBHOOK}",
            "DATAVERSE_URL": self.dataverse_url,
            "DATAVERSE_STATIC_TOKEN": DEFAULT_TOKEN,
            **self.extra,
        }
        register_secret(DEFAULT_TOKEN)
        settings = {"IsEncrypted": False, "Values": values}
        self.settings_path.write_text(json.dumps(settings), encoding="utf-8")

    @property
    def settings_path(self) -> Path:
        return self.folder / "local.settings.json"

    def start_host(self, host: Host) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN)}
        env["PYTHONUNBUFFERED"] = "1"
        argv = [sys.executable, "-m", "devtools.host", "--port", str(host.port)]
        argv += ["--settings", str(self.settings_path), "--no-schedules"]
        with host.log.open("ab") as out:
            host.proc = subprocess.Popen(  # noqa: S603 - our own module, no shell
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_until(lambda: self._answers(host), 60, f"host {host.index} to start")

    def _answers(self, host: Host) -> bool:
        if not host.alive():
            raise AssertionError(f"host {host.index} exited:\n{host.text()[-3000:]}")
        try:
            return httpx.get(f"{host.url}/admin/host/status", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self, host: Host) -> None:
        """kill -9: no shutdown hook, no graceful drain, whatever was in flight is cut."""
        assert host.proc is not None
        host.proc.send_signal(signal.SIGKILL)
        host.proc.wait(10)

    def stop(self) -> None:
        for host in self.hosts:
            if host.alive():
                assert host.proc is not None
                host.proc.send_signal(signal.SIGTERM)
        for host in self.hosts:
            if host.proc is not None:
                try:
                    host.proc.wait(15)
                except subprocess.TimeoutExpired:
                    host.proc.kill()
                    host.proc.wait(5)
        if self.kaizala is not None:
            self.kaizala.register_issued_secrets()
            self.kaizala.http.close()
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()

    # ---- the bridge, as its callers use it ------------------------------------------------

    def onboard(self) -> str:
        """Sync the webhook subscription (the callback token) and return that token."""
        response = httpx.post(f"{self.hosts[0].url}/api/manage/webhooks/sync", json={}, timeout=60)
        assert response.status_code < 300, response.text
        token = self.callback_token()
        register_secret(token)
        return token

    def callback_token(self) -> str:
        data = json.loads((self.folder / "secrets.json").read_text(encoding="utf-8"))
        return str(data["kaizala-callback-token"][0]["value"])

    def send_survey(self, name: str, key: str | None = None) -> dict[str, Any]:
        """One survey through host 0; its action id is correlated for the response events."""
        headers = {"Idempotency-Key": key} if key else {}
        response = httpx.post(
            f"{self.hosts[0].url}/api/actions",
            json=survey_request(name),
            headers=headers,
            timeout=60,
        )
        assert response.status_code == 201, response.text
        found: dict[str, Any] = response.json()
        return found

    def run_timer(self, name: str, hosts: list[Host] | None = None) -> None:
        self.run_timers([name], hosts)

    def run_timers(self, names: list[str], hosts: list[Host] | None = None) -> None:
        """Start every named timer on these hosts (default: all) at the same moment, and wait
        until each invocation has finished (its line in the host's log)."""
        chosen = hosts if hosts is not None else self.hosts
        before = {(h.index, n): h.invocations(n) for h in chosen for n in names}
        with httpx.Client(timeout=10) as client:
            for name in names:
                for host in chosen:
                    answer = client.post(f"{host.url}/admin/functions/{name}", json={"input": ""})
                    assert answer.status_code == 202, answer.text
        for (index, name), count in before.items():
            host = self.hosts[index]

            def finished(h: Host = host, n: str = name, c: int = count) -> bool:
                return h.invocations(n) > c

            wait_until(finished, 90, f"{name} on host {index}")
            failed = host.invocations(name, "error")
            assert failed == 0, f"{name} failed on host {index}:\n{host.text()[-3000:]}"

    def values(self) -> dict[str, str]:
        """The settings every host runs with (for a runtime in the test process)."""
        values: dict[str, str] = json.loads(self.settings_path.read_text(encoding="utf-8"))[
            "Values"
        ]
        return values

    def kaizala_calls(self, since: int, path_contains: str, method: str | None = None) -> list[Any]:
        assert self.kaizala is not None
        return [c for c in self.kaizala.calls(path_contains, method) if c["seq"] > since]

    def last_seq(self) -> int:
        assert self.kaizala is not None
        calls = self.kaizala.calls()
        return int(calls[-1]["seq"]) if calls else 0


def survey_request(name: str) -> dict[str, Any]:
    return {
        "groupId": SAMPLE_GROUP,
        "template": "opportunity-survey",
        "variables": {"opportunityName": name},
        "regarding": {"entityType": "opportunity", "id": OPPORTUNITY, "name": name},
    }


def survey_event(action_id: str, event_id: str | None = None) -> dict[str, Any]:
    """The published SurveyResponse sample for this action, with fresh ids."""
    event: dict[str, Any] = copy.deepcopy(
        json.loads((EVENTS / "survey_response.json").read_text(encoding="utf-8"))
    )
    event["eventId"] = event_id or str(uuid.uuid4())
    event["objectId"] = SAMPLE_GROUP
    event["data"].update(
        {"actionId": action_id, "groupId": SAMPLE_GROUP, "responseId": str(uuid.uuid4())}
    )
    return event


@contextlib.contextmanager
def cluster(storage: str, folder: Path, *, size: int = 3, **extra: str) -> Iterator[Cluster]:
    running = Cluster(storage, folder, size, dict(extra)).start()
    try:
        yield running
    finally:
        running.stop()
