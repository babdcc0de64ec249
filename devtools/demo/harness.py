"""The demo's stack (Azurite, both simulators, the local host) and the calls the demo makes.

Every component runs as its own process on a free port, its output in the demo's ComponentLog;
the simulators' `/_sim/` endpoints and a read-only view of the inbox table show what happened.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import EntityProperty, TableClient

from devtools.demo.logs import ComponentLog
from devtools.stack import ROOT, Ports, Stack

EXAMPLE_SETTINGS = ROOT / "local.settings.example.json"
# Settings that point at the stack's own ports (Stack.environment() sets them unconditionally).
PORT_SETTINGS = ("AzureWebJobsStorage", "KAIZALA_API_ROOT", "DATAVERSE_URL", "WEBHOOK_CALLBACK_URL")
# Settings the second part changes (cast.TEAM_SETTINGS): the first part runs without them.
MODE_SETTINGS = ("OPPORTUNITY_GROUP_MODE", "OPPORTUNITY_GROUP_EXTRA_MEMBERS")
PIN_LINE = re.compile(r"PIN for (?P<mobile>\+\d+) : (?P<pin>\d+)")
HTTP_TIMEOUT = 30.0


class DemoError(Exception):
    """A step could not be done (an unexpected answer, a timeout): the demo stops there."""


def write_settings(workdir: Path) -> Path:
    """local.settings.json for the demo: the example, with its own secrets file and tables."""
    settings = json.loads(EXAMPLE_SETTINGS.read_text(encoding="utf-8"))
    settings["Values"].update(
        {
            "LOCAL_SECRETS_PATH": str(workdir / "secrets.json"),
            "TABLE_NAME_PREFIX": "demo" + uuid.uuid4().hex[:8],
        }
    )
    path = workdir / "local.settings.json"
    path.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return path


class Harness:
    """The running stack of one demo, and the HTTP calls into it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.log = ComponentLog(workdir / "components.log")
        self.stack = Stack(write_settings(workdir), Ports.free(), quiet=True, on_line=self.log.add)
        self.http = httpx.Client(timeout=HTTP_TIMEOUT, trust_env=False)
        self.inbox: TableClient | None = None
        self.activity_set = "tasks"  # DATAVERSE_ACTIVITY_SET

    @property
    def ports(self) -> Ports:
        return self.stack.ports

    def start(self) -> None:
        self.isolate_environment()
        self.stack.start()
        values = self.stack.environment()
        self.activity_set = values.get("DATAVERSE_ACTIVITY_SET", "tasks")
        self.inbox = TableClient.from_connection_string(  # read-only, for the report
            values["AzureWebJobsStorage"],
            values["TABLE_NAME_PREFIX"] + "inbox",
            transport=RequestsTransport(use_env_settings=False),  # loopback: never a proxy
        )

    def isolate_environment(self) -> None:
        """The stack's own settings only: an exported setting would win over the demo's."""
        values = json.loads(self.stack.settings_path.read_text(encoding="utf-8"))["Values"]
        inherited = sorted(k for k in {*values, *PORT_SETTINGS, *MODE_SETTINGS} if k in os.environ)
        for key in inherited:
            del os.environ[key]
        if inherited:
            print(f"  ignoring exported settings: {', '.join(inherited)}", flush=True)

    def restart_host(self, values: dict[str, str]) -> None:
        """The host again, with `values` added to its settings (an app-setting change)."""
        path = self.stack.settings_path
        settings = json.loads(path.read_text(encoding="utf-8"))
        settings["Values"].update(values)
        path.write_text(json.dumps(settings, indent=2), encoding="utf-8")
        self.stack.restart_host()

    def close(self) -> None:
        self.http.close()
        if self.inbox is not None:
            self.inbox.close()
        self.stack.stop()
        self.log.close()

    def stopped_components(self) -> str:
        """'; stopped: host (exit code 1)' when a component is no longer running, else ''."""
        stopped = [
            f"{name} (exit code {proc.returncode})"
            for name, proc in self.stack.procs.items()
            if proc.poll() is not None
        ]
        return f"; stopped: {', '.join(stopped)}" if stopped else ""

    # -- calls ------------------------------------------------------------------------------------

    def host(self, path: str) -> str:
        return f"http://127.0.0.1:{self.stack.ports.host}{path}"

    def kaizala(self, path: str) -> str:
        return f"http://127.0.0.1:{self.stack.ports.kaizala}/_sim/{path}"

    def dataverse(self, path: str) -> str:
        return f"http://127.0.0.1:{self.stack.ports.dataverse}/_sim/{path}"

    def call(
        self, method: str, url: str, expect: Sequence[int], body: Any = None
    ) -> httpx.Response:
        resp = self.http.request(method, url, json=body)
        if resp.status_code not in expect:
            raise DemoError(
                f"{method} {url} answered {resp.status_code} (expected "
                f"{'/'.join(map(str, expect))}): {resp.text[:300]}"
            )
        return resp

    def read_pin(self, mobile: str, since: int) -> str:
        """The PIN from the simulator's log line (the documented SMS stand-in), else /_sim/pin."""
        found = self.log.wait_for("kaizala", PIN_LINE, since, timeout=5.0)
        if found is not None and found["mobile"] == mobile:
            return found["pin"]
        print("  (no PIN line in the simulator's log: reading it from /_sim/pin)", flush=True)
        resp = self.call("GET", self.kaizala(f"pin?mobileNumber={mobile}"), [200])
        return str(resp.json()["pin"])

    def run_function(self, name: str, timeout: float = 50.0) -> str:
        """POST /admin/functions/<name> and wait for the host's line saying how it ended."""
        since = self.log.mark()
        self.call("POST", self.host(f"/admin/functions/{name}"), [202], {"input": ""})
        ended = re.compile(rf"function={name} trigger=admin (?P<outcome>\S+)")
        found = self.log.wait_for("host", ended, since, timeout)
        if found is None:
            raise DemoError(f"{name} did not finish within {timeout:g} s")
        if found["outcome"] not in ("ok", "skipped(still-running)"):
            raise DemoError(f"{name} ended with {found['outcome']}")
        return found["outcome"]

    def last_call_seq(self) -> int:
        calls = self.call("GET", self.kaizala("calls"), [200]).json()["calls"]
        return max((int(c["seq"]) for c in calls), default=0)

    def activities(self) -> list[dict[str, Any]]:
        state = self.call("GET", self.dataverse("state"), [200]).json()
        rows: list[dict[str, Any]] = state["activities"].get(self.activity_set, [])
        return rows

    def kaizala_state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.call("GET", self.kaizala("state"), [200]).json()
        return state

    def deliveries(self) -> list[dict[str, Any]]:
        made: list[dict[str, Any]] = self.call("GET", self.kaizala("deliveries"), [200]).json()[
            "deliveries"
        ]
        return made

    def deliveries_done(self, timeout: float = 20.0) -> None:
        body = {"timeoutSeconds": timeout}
        idle = self.call("POST", self.kaizala("deliveries/wait"), [200], body).json()
        if not idle["idle"]:
            raise DemoError(f"the simulator's deliveries did not finish within {timeout:g} s")

    def notes(self) -> list[dict[str, Any]]:
        state = self.call("GET", self.dataverse("state"), [200]).json()
        rows: list[dict[str, Any]] = state["annotations"]
        return rows

    def inbox_rows(self) -> list[dict[str, Any]]:
        assert self.inbox is not None
        wanted = ["eventId", "eventType", "actionId", "responseId", "status", "attempts"]
        wanted.append("nextAttemptAt")
        return [
            {k: v.value if isinstance(v, EntityProperty) else v for k, v in e.items()}
            for e in self.inbox.list_entities(select=wanted)
        ]
