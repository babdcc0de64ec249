"""Cold start: fresh processes, timed from just before the spawn (interpreter start-up included).

- `baseline`: `python -c` that imports only azure.functions, azure.identity,
  azure.keyvault.secrets, httpx and azure.data.tables.
- `app`: `python -c` that imports function_app, indexes it (app.get_functions(), as the Python
  worker does) and calls the health function with a real azure.functions.HttpRequest; health
  pings Azurite and reads the token lease row, so the answer includes the first storage round
  trips and the lazy runtime set-up.
- `host`: `python -m devtools.host` on a free port; the first request is GET
  /api/kaizala/webhook?validationToken= (Kaizala's handshake), then one SurveyResponse event
  (the first storage and Dataverse use of that process), then GET /api/health.

- `deployed` (.pyc cached): `baseline` and `app` again with the packages a deployment does
  not have made unimportable (every installed distribution outside requirements.txt and its
  dependencies: `dev_only_modules()`). This venv carries dev tools whose mere presence changes
  the path: selenium brings trio, which httpcore imports whenever it is installed (~90 ms), and
  click/rich/pygments, which httpx imports for its CLI (in the baseline too).
- `floor_aiohttp`: the five packages plus azure-core's aiohttp transport (what the async Azure
  clients import on first use with azure-core's default transport), for the floor with aiohttp.

Bytecode: this environment sets PYTHONDONTWRITEBYTECODE=1, so the project's own modules have no
.pyc while the installed packages do. Each variant is therefore made explicit with a private
PYTHONPYCACHEPREFIX under bench/.runs/: `cached` has .pyc for everything (warmed by a discarded
first run); `compiled` removes the project's .pyc from that prefix and forbids writing them, so
function_app and its modules are compiled from source at every start (what a read-only
run-from-package deployment without precompiled bytecode does), while the packages stay cached.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.stats import Figure, figure
from devtools.serving import free_port

ROOT = Path(__file__).resolve().parent.parent
HANDSHAKE_LIMIT_S = 5.0
CHILD_TIMEOUT_S = 60.0

BASELINE = """
import time
t_enter = time.time()
import azure.functions, azure.identity, azure.keyvault.secrets, httpx, azure.data.tables
t_ready = time.time()
cpu = time.process_time()
import json
print(json.dumps({"enter": t_enter, "ready": t_ready, "cpu": cpu}))
"""

APP = """
import time
t_enter = time.time()
import asyncio
import function_app
t_import = time.time()
functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
t_index = time.time()
import azure.functions as func
from shared.runtime import get_runtime
request = func.HttpRequest(method="GET", url="http://127.0.0.1:7071/api/health", headers={},
                           params={}, route_params={}, body=b"")
async def first_request():
    response = await functions["health"].get_user_function()(request)
    ready, cpu = time.time(), time.process_time()
    await get_runtime().aclose()
    return response, ready, cpu
response, t_ready, cpu = asyncio.run(first_request())
import json
print(json.dumps({"enter": t_enter, "import": t_import, "index": t_index, "ready": t_ready,
                  "cpu": cpu, "status": response.status_code}))
"""


FLOOR_AIOHTTP = BASELINE.replace(
    "azure.data.tables\n", "azure.data.tables, azure.core.pipeline.transport._aiohttp\n"
)

# Run first in a `deployed` child: what a deployment lacks fails to import, as it would there.
ABSENT = """
import sys
class _Absent:
    names = frozenset({names!r})
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in cls.names:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Absent)
"""


def dev_only_modules(requirements: Path = ROOT / "requirements.txt") -> list[str]:
    """Top-level modules of the installed distributions that requirements.txt does not pull in."""
    import importlib.metadata as md

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    dists: dict[str, md.Distribution] = {
        canonicalize_name(d.metadata["Name"]): d for d in md.distributions()
    }
    todo = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            todo.append(Requirement(line))
    needed: set[str] = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        dist = dists.get(name)
        if dist is None or name in needed:
            continue
        needed.add(name)
        for spec in dist.requires or []:
            sub = Requirement(spec)
            extras = ["", *req.extras]
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append(sub)
    keep = {top for n in needed for top in (dists[n].read_text("top_level.txt") or "").split()}
    names: set[str] = set()
    for name, dist in dists.items():
        if name in needed:
            continue
        tops = (dist.read_text("top_level.txt") or "").split()
        if not tops:
            for f in dist.files or []:
                first = f.parts[0]
                if f.suffix == ".py" or (len(f.parts) > 1 and not first.endswith("-info")):
                    tops.append(first.removesuffix(".py"))
        names.update(t for t in tops if t and not t.startswith(("_", ".")) and t not in keep)
    # The project's own packages are never blocked.
    return sorted(names - {"shared", "functions", "devtools", "bench", "tests", "function_app"})


def _child(script: str, env: Mapping[str, str]) -> dict[str, float]:
    """Run one child; its marks in ms after the spawn, and `cpu`: its CPU ms up to `ready`."""
    t0 = time.time()
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    t_exit = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"cold-start child failed: {done.stderr[-2000:]}")
    marks: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    out = {k: (v - t0) * 1000 for k, v in marks.items() if k not in ("status", "cpu")}
    out["exit"] = (t_exit - t0) * 1000
    out["cpu"] = marks["cpu"] * 1000
    if "status" in marks:
        out["status"] = marks["status"]
    return out


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"host exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.005)
    raise RuntimeError("host did not listen in time")


def _http(
    port: int, method: str, target: str, body: bytes = b"", headers: str = ""
) -> tuple[int, bytes]:
    """One request on its own connection (Connection: close), read to the end."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"{headers}Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


FirstEvent = Callable[[], tuple[bytes, str]]  # a fresh SurveyResponse body and the token


def _host(env: Mapping[str, str], settings: Path, first_event: FirstEvent) -> dict[str, float]:
    port = free_port()
    t0 = time.time()
    proc = subprocess.Popen(  # noqa: S603 - our own modules
        [sys.executable, "-m", "devtools.host", "--port", str(port), "--settings", str(settings)],
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, proc, CHILD_TIMEOUT_S)
        t_listen = time.time()
        token = "Cold+start/handshake=="  # like Kaizala's: '+', '/' and '=' percent-encoded
        status, body = _http(
            port, "GET", "/api/kaizala/webhook?validationToken=Cold%2Bstart%2Fhandshake%3D%3D"
        )
        t_echo = time.time()
        if status != 200 or body.decode() != token:
            raise RuntimeError(f"validation handshake failed: {status} {body[:80]!r}")
        event, callback_token = first_event()
        headers = f"Content-Type: application/json\r\nkz-callback-token: {callback_token}\r\n"
        status, body = _http(port, "POST", "/api/kaizala/webhook", event, headers)
        t_event = time.time()
        if status != 200 or b'"accepted"' not in body:
            raise RuntimeError(f"first webhook event answered {status} {body[:80]!r}")
        status, _ = _http(port, "GET", "/api/health")
        t_health = time.time()
        if status != 200:
            raise RuntimeError(f"first health answered {status}")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return {
        "listening": (t_listen - t0) * 1000,
        "handshake_answered": (t_echo - t0) * 1000,
        "handshake_request": (t_echo - t_listen) * 1000,
        "first_event_request": (t_event - t_echo) * 1000,
        "first_health_request": (t_health - t_event) * 1000,
    }


def run_coldstart(
    env: Mapping[str, str],
    settings: Path,
    first_event: FirstEvent,
    run_dir: Path,
    runs: int,
    say: Callable[[str], None],
) -> dict[str, Any]:
    prefix = run_dir / "pycache"
    base_env = {k: v for k, v in env.items() if k not in ("PYTHONDONTWRITEBYTECODE",)}
    cached = {**base_env, "PYTHONPYCACHEPREFIX": str(prefix)}
    compiled = {**cached, "PYTHONDONTWRITEBYTECODE": "1"}
    # Warm the prefix (and the OS page cache): everything gets its .pyc; results discarded.
    _child(BASELINE, cached)
    _child(APP, cached)
    _host(cached, settings, first_event)

    absent = ABSENT.format(names=dev_only_modules())
    samples: dict[str, list[dict[str, float]]] = {
        "baseline_deployed": [],
        "app_deployed": [],
        "floor_aiohttp": [],
        "baseline": [],
        "app_cached": [],
        "app_compiled": [],
        "host_cached": [],
        "host_compiled": [],
    }
    for n in range(runs):
        samples["baseline"].append(_child(BASELINE, cached))
        samples["app_cached"].append(_child(APP, cached))
        samples["host_cached"].append(_host(cached, settings, first_event))
        samples["baseline_deployed"].append(_child(absent + BASELINE, cached))
        samples["app_deployed"].append(_child(absent + APP, cached))
        samples["floor_aiohttp"].append(_child(FLOOR_AIOHTTP, cached))
        say(
            f"cold start (cached .pyc) {n + 1}/{runs}: five packages "
            f"{samples['baseline'][-1]['ready']:.0f} ms, app first answer "
            f"{samples['app_cached'][-1]['ready']:.0f} ms, host handshake "
            f"{samples['host_cached'][-1]['handshake_answered']:.0f} ms"
        )
    # The project's own bytecode out of the prefix (the venv's stays); from here on the
    # project is compiled at each start.
    own = prefix / str(ROOT).lstrip(os.sep)
    for entry in own.iterdir() if own.is_dir() else ():
        if entry.name == ".venv":
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    baseline_again = []
    for n in range(runs):
        baseline_again.append(_child(BASELINE, compiled))
        samples["app_compiled"].append(_child(APP, compiled))
        samples["host_compiled"].append(_host(compiled, settings, first_event))
        say(
            f"cold start (project compiled) {n + 1}/{runs}: five packages "
            f"{baseline_again[-1]['ready']:.0f} ms, app first answer "
            f"{samples['app_compiled'][-1]['ready']:.0f} ms, host handshake "
            f"{samples['host_compiled'][-1]['handshake_answered']:.0f} ms"
        )
    shutil.rmtree(prefix, ignore_errors=True)  # ~17 MB of .pyc, rebuilt by the next run
    apps = samples["app_cached"] + samples["app_compiled"] + samples["app_deployed"]
    if any(s.get("status") != 200 for s in apps):
        raise RuntimeError("the health function did not answer 200 in a cold-start child")
    samples["baseline_compiled_phase"] = baseline_again

    def col(kind: str, key: str) -> list[float]:
        return [s[key] for s in samples[kind]]

    ratio_cached = [
        a["ready"] / b["ready"]
        for a, b in zip(samples["app_cached"], samples["baseline"], strict=True)
    ]
    ratio_compiled = [
        a["ready"] / b["ready"]
        for a, b in zip(samples["app_compiled"], baseline_again, strict=True)
    ]

    def ratio(a: str, b: str, key: str = "ready") -> list[float]:
        return [x[key] / y[key] for x, y in zip(samples[a], samples[b], strict=True)]

    ratio_deployed = ratio("app_deployed", "baseline_deployed")
    ratio_floor = ratio("app_cached", "floor_aiohttp")
    handshake = col("host_cached", "handshake_answered")
    handshake_compiled = col("host_compiled", "handshake_answered")
    figures: dict[str, Figure] = {
        "coldstart.baseline_ms": figure(
            "ms",
            col("baseline", "ready") + [s["ready"] for s in baseline_again],
            what="spawn → azure.functions, azure.identity, azure.keyvault.secrets, httpx, "
            "azure.data.tables imported (fresh process)",
            digits=1,
        ),
        "coldstart.app_first_answer_ms.cached": figure(
            "ms",
            col("app_cached", "ready"),
            what="spawn → function_app imported, indexed, health answered (Azurite), .pyc cached",
            digits=1,
        ),
        "coldstart.baseline_cpu_ms": figure(
            "CPU ms",
            col("baseline", "cpu"),
            what="CPU time of the five-package child up to its ready mark (process_time)",
            digits=1,
        ),
        "coldstart.app_cpu_ms.cached": figure(
            "CPU ms",
            col("app_cached", "cpu"),
            what="CPU time of the app child up to the health answer (process_time, .pyc cached)",
            digits=1,
        ),
        "coldstart.app_import_ms.cached": figure(
            "ms",
            col("app_cached", "import"),
            what="spawn → function_app imported, .pyc cached",
            digits=1,
        ),
        "coldstart.ratio.cached": figure(
            "ratio",
            ratio_cached,
            what="app first answer ÷ five-package import, per pair of runs (.pyc cached)",
            aim="<= 1.3",
            met=statistics.median(ratio_cached) <= 1.3,
        ),
        "coldstart.cpu_ratio.cached": figure(
            "ratio",
            [
                a["cpu"] / b["cpu"]
                for a, b in zip(samples["app_cached"], samples["baseline"], strict=True)
            ],
            what="the same ratio in CPU time (the child's process_time() at its ready mark), "
            "less sensitive to other load on the machine",
        ),
        "coldstart.app_first_answer_ms.compiled": figure(
            "ms",
            col("app_compiled", "ready"),
            what="spawn → first answer with the project's modules compiled from source",
            digits=1,
        ),
        "coldstart.cpu_ratio.compiled": figure(
            "ratio",
            [
                a["cpu"] / b["cpu"]
                for a, b in zip(samples["app_compiled"], baseline_again, strict=True)
            ],
            what="the same in CPU time, project compiled at start",
        ),
        "coldstart.ratio.compiled": figure(
            "ratio",
            ratio_compiled,
            what="app first answer ÷ five-package import, project compiled at start",
            aim="<= 1.3",
            met=statistics.median(ratio_compiled) <= 1.3,
        ),
        "coldstart.baseline_ms.deployed": figure(
            "ms",
            col("baseline_deployed", "ready"),
            what="the five-package import with only the deployed packages importable "
            "(requirements.txt and its dependencies; the venv's dev tools hidden), .pyc cached",
            digits=1,
        ),
        "coldstart.app_first_answer_ms.deployed": figure(
            "ms",
            col("app_deployed", "ready"),
            what="spawn → health answered, only the deployed packages importable, .pyc cached",
            digits=1,
        ),
        "coldstart.ratio.deployed": figure(
            "ratio",
            ratio_deployed,
            what="app first answer ÷ five-package import, both with only the deployed packages "
            "importable (.pyc cached): what a deployment built from requirements.txt sees",
            aim="<= 1.3",
            met=statistics.median(ratio_deployed) <= 1.3,
        ),
        "coldstart.cpu_ratio.deployed": figure(
            "ratio",
            ratio("app_deployed", "baseline_deployed", "cpu"),
            what="the same in CPU time",
        ),
        "coldstart.floor_aiohttp_ms": figure(
            "ms",
            col("floor_aiohttp", "ready"),
            what="spawn → the five packages and azure-core's aiohttp transport imported (the "
            "floor if the async Azure clients kept azure-core's default transport)",
            digits=1,
        ),
        "coldstart.ratio_vs_aiohttp_floor.cached": figure(
            "ratio",
            ratio_floor,
            what="app first answer ÷ that floor, per pair of runs (.pyc cached)",
            aim="<= 1.3",
            met=statistics.median(ratio_floor) <= 1.3,
        ),
        "coldstart.host_handshake_ms.cached": figure(
            "ms",
            handshake,
            what="spawn of python -m devtools.host → first GET ?validationToken= answered",
            digits=1,
            aim=f"< {HANDSHAKE_LIMIT_S * 1000:.0f}",
            met=max(handshake) < HANDSHAKE_LIMIT_S * 1000,
        ),
        "coldstart.host_handshake_ms.compiled": figure(
            "ms",
            handshake_compiled,
            what="the same with the project's modules compiled from source",
            digits=1,
            aim=f"< {HANDSHAKE_LIMIT_S * 1000:.0f}",
            met=max(handshake_compiled) < HANDSHAKE_LIMIT_S * 1000,
        ),
        "coldstart.host_handshake_request_ms": figure(
            "ms",
            col("host_cached", "handshake_request"),
            what="the first request alone (GET ?validationToken=), once the new host listens",
            digits=2,
        ),
        "coldstart.host_first_event_ms": figure(
            "ms",
            col("host_cached", "first_event_request"),
            what="the first webhook event on a new host (after the handshake): callback token "
            "load, table clients, first Azurite and Dataverse connections, all lazy",
            digits=1,
        ),
        "coldstart.host_first_health_ms": figure(
            "ms",
            col("host_cached", "first_health_request"),
            what="the GET /api/health after that (runtime already built)",
            digits=2,
        ),
    }
    return {
        "figures": figures,
        "samples_ms": {
            k: [{kk: round(vv, 2) for kk, vv in s.items()} for s in v] for k, v in samples.items()
        },
    }
