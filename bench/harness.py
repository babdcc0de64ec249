"""A stack for one benchmark: Azurite, both simulators and the local host, on free ports.

`BenchStack` is devtools.stack.Stack with settings of its own (a settings file and secret store
under bench/.runs/, never the repository's .local/) and environment overrides that win over
both. `prepare()` brings the bridge to where the webhook hot path is warm-able: connector
onboarded with the PIN flow, webhook subscription synced (which creates the callback token), and
one survey sent through POST /api/actions, so its actionId is correlated.
"""

from __future__ import annotations

import copy
import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devtools.azurite import connection_string
from devtools.stack import Ports, Stack

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "bench" / ".runs"
GROUP_ID = "8c291050-9be8-45d6-97f5-bb7013930027"  # the simulators' seeded sample
OPPORTUNITY_ID = "b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a"
ADMIN_MOBILE = "+919100000001"
SAMPLE_EVENT_PATHS = (
    ROOT.parent / "shared" / "kaizala-api" / "events" / "survey_response.json",
    ROOT / "tests" / "fixtures" / "events" / "survey_response.json",  # a copy (worktrees)
)


@dataclass
class BenchStack(Stack):
    overrides: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env.update(self.overrides)
        return env

    @property
    def host_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.host}"

    @property
    def kaizala_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.kaizala}"

    @property
    def dataverse_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.dataverse}"

    @property
    def storage(self) -> str:
        return connection_string(self.ports.table)


def make_stack(name: str, run_dir: Path, **overrides: str) -> BenchStack:
    """A stack whose host reads bench/.runs/<run>/<name>/settings.json and its own secrets."""
    folder = run_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    settings = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))
    secrets_path = folder / "secrets.json"
    settings["Values"]["LOCAL_SECRETS_PATH"] = str(secrets_path)
    settings_path = folder / "settings.json"
    settings_path.write_text(json.dumps(settings, indent=1), encoding="utf-8")
    values = {"LOCAL_SECRETS_PATH": str(secrets_path), **overrides}
    return BenchStack(settings_path, Ports.free(), quiet=True, overrides=values)


class Sim:
    """The Kaizala simulator's control API."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30.0)

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"/_sim/{path}", **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def calls_since(self, seq: int) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = self.control("GET", "calls", params={"sinceSeq": seq})[
            "calls"
        ]
        return calls

    def last_seq(self) -> int:
        calls = self.calls_since(0)
        return int(calls[-1]["seq"]) if calls else 0

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.control("GET", "stats")
        return stats

    def close(self) -> None:
        self.http.close()


def dataverse_stats(stack: BenchStack) -> dict[str, Any]:
    response = httpx.get(f"{stack.dataverse_url}/_sim/stats", timeout=10.0)
    response.raise_for_status()
    stats: dict[str, Any] = response.json()
    return stats


@dataclass(frozen=True)
class Prepared:
    callback_token: str = field(repr=False)
    action_id: str
    correlation_id: str
    group_id: str


def survey_request(name: str) -> dict[str, Any]:
    return {
        "groupId": GROUP_ID,
        "template": "opportunity-survey",
        "variables": {"opportunityName": name},
        "regarding": {"entityType": "opportunity", "id": OPPORTUNITY_ID, "name": name},
    }


def onboard(stack: BenchStack, sim: Sim) -> None:
    """The PIN flow through the host's ADMIN endpoints; the PIN from the simulator."""
    with httpx.Client(base_url=stack.host_url, timeout=30.0) as host:
        _ok(host.post("/api/manage/kaizala/pin", json={"mobileNumber": ADMIN_MOBILE}))
        pin = sim.control("GET", "pin", params={"mobileNumber": ADMIN_MOBILE})["pin"]
        _ok(host.post("/api/manage/kaizala/login", json={"mobileNumber": ADMIN_MOBILE, "pin": pin}))


def prepare(stack: BenchStack, sim: Sim) -> Prepared:
    """Onboard (PIN flow), sync the webhook subscription, send one survey; all over HTTP."""
    onboard(stack, sim)
    with httpx.Client(base_url=stack.host_url, timeout=30.0) as host:
        _ok(host.post("/api/manage/webhooks/sync", json={}))
        sent = _ok(host.post("/api/actions", json=survey_request("Bench – webhook ingestion")))
    if sent.get("status") != "sent" or not sent.get("actionId"):
        raise RuntimeError(f"the survey was not sent: {sent}")
    return Prepared(
        callback_token=read_callback_token(stack),
        action_id=str(sent["actionId"]),
        correlation_id=str(sent["correlationId"]),
        group_id=GROUP_ID,
    )


def read_callback_token(stack: BenchStack) -> str:
    """The current callback token, from the local secret store the host uses."""
    path = Path(stack.overrides["LOCAL_SECRETS_PATH"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        versions = data.get("kaizala-callback-token") or []
        if versions:
            return str(versions[0]["value"])
        time.sleep(0.1)
    raise RuntimeError("the host did not create a callback token")


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 300:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:300]}"
        )
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def sample_event() -> dict[str, Any]:
    for path in SAMPLE_EVENT_PATHS:
        if path.is_file():
            event: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return event
    raise FileNotFoundError("survey_response.json sample not found")


class EventFactory:
    """Distinct SurveyResponse events for one correlated action (fresh eventId, responseId)."""

    def __init__(self, prepared: Prepared) -> None:
        self._template = sample_event()
        self._prepared = prepared

    def event(self) -> dict[str, Any]:
        event = copy.deepcopy(self._template)
        event["eventId"] = str(uuid.uuid4())
        event["objectId"] = self._prepared.group_id
        event["data"]["actionId"] = self._prepared.action_id
        event["data"]["groupId"] = self._prepared.group_id
        event["data"]["responseId"] = str(uuid.uuid4())
        return event

    def bodies(self, count: int) -> list[bytes]:
        return [json.dumps(self.event()).encode("utf-8") for _ in range(count)]


def settings_values(stack: BenchStack, **extra: str) -> Mapping[str, str]:
    """The bridge settings the stack's host runs with (for an in-process runtime)."""
    env = stack.environment()
    keys = json.loads(stack.settings_path.read_text(encoding="utf-8"))["Values"].keys()
    values = {k: env[k] for k in keys if k in env}
    values.update({k: v for k, v in stack.overrides.items()})
    values.update(extra)
    return values


# ---- CPU accounting ------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of one process, from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None:
                parents[int(entry.name)] = found[0]
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


def stack_processes(stack: BenchStack) -> dict[str, list[int]]:
    """The stack's processes (with their children) and this one (the load generator)."""
    pids = {name: proc.pid for name, proc in stack.procs.items()}
    if stack.azurite is not None and stack.azurite.proc is not None:
        pids["azurite"] = stack.azurite.proc.pid
    named = {name: _tree(pid) for name, pid in pids.items()}
    named["client"] = [os.getpid()]
    return named


def cpu_seconds(processes: Mapping[str, list[int]]) -> dict[str, float]:
    out = {}
    for name, pids in processes.items():
        out[name] = sum(found[1] for pid in pids if (found := _stat(pid)) is not None)
    return out
