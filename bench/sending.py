"""Action sending over HTTP: Kaizala calls per action, and a burst against a shrunk budget.

Kaizala calls are counted from the simulator's call log (`/_sim/calls`), never inferred from the
bridge's answers. The burst's figures (send rate, calls per window, 429s) come from the same log:
`ts` is when the simulator answered each call.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import azure.functions as func
import httpx

from bench.harness import (
    BenchStack,
    Sim,
    cpu_seconds,
    settings_values,
    stack_processes,
    survey_request,
)
from bench.ingest import count_table_calls, function_index
from bench.stats import Figure, figure, latency_summary, max_in_window
from shared.config import Settings
from shared.runtime import Runtime, set_runtime

SEND_DEADLINE_SECONDS = 120.0
DRAIN_DEADLINE_SECONDS = 60.0


def _route(call: dict[str, Any]) -> str:
    path = str(call["path"])
    if path.startswith("/ep/"):
        path = "/ep/…/" + path.split("/", 3)[3]
    if "/groups/" in path:
        head, _, rest = path.partition("/groups/")
        path = head + "/groups/{id}/" + rest.partition("/")[2]
    return f"{call['method']} {path}"


def _is_send(call: dict[str, Any]) -> bool:
    return call["method"] == "POST" and str(call["path"]).endswith("/actions")


async def run_sends(
    stack: BenchStack, sim: Sim, runs: int, per_run: int, replays: int, say: Callable[[str], None]
) -> dict[str, Any]:
    """`per_run` distinct surveys through POST /api/actions (sequential), `runs` times."""
    per_action: list[float] = []
    replay_calls: list[float] = []
    latency_p50: list[float] = []
    host_cpu: list[float] = []
    details = []
    async with httpx.AsyncClient(base_url=stack.host_url, timeout=30.0) as host:
        for n in range(runs):
            tag = uuid.uuid4().hex[:8]
            keys = [f"bench-{tag}-{i}" for i in range(per_run)]
            bodies = [survey_request(f"Bench send {tag} #{i:03d}") for i in range(per_run)]
            seq = sim.last_seq()
            statuses: Counter[int] = Counter()
            latencies = []
            processes = stack_processes(stack)
            cpu_before = cpu_seconds(processes)
            started = time.monotonic()
            for key, body in zip(keys, bodies, strict=True):
                t = time.perf_counter()
                answer = await host.post(
                    "/api/actions", json=body, headers={"Idempotency-Key": key}
                )
                latencies.append(time.perf_counter() - t)
                statuses[answer.status_code] += 1
                if time.monotonic() - started > SEND_DEADLINE_SECONDS:
                    raise RuntimeError("sends took too long")
            cpu_after = cpu_seconds(processes)
            cpu = {k: (cpu_after[k] - cpu_before[k]) * 1000 / per_run for k in cpu_before}
            host_cpu.append(cpu["host"])
            calls = sim.calls_since(seq)
            # The same requests again (a Power Automate retry): answered from the table.
            seq = sim.last_seq()
            replay_statuses: Counter[int] = Counter()
            for key, body in list(zip(keys, bodies, strict=True))[:replays]:
                answer = await host.post(
                    "/api/actions", json=body, headers={"Idempotency-Key": key}
                )
                replay_statuses[answer.status_code] += 1
            again = sim.calls_since(seq)
            per_action.append(len(calls) / per_run)
            replay_calls.append(len(again) / max(1, replays))
            summary = latency_summary(latencies)
            latency_p50.append(summary["p50_ms"])
            details.append(
                {
                    "actions": per_run,
                    "statuses": {str(k): v for k, v in statuses.items()},
                    "kaizala_calls": len(calls),
                    "kaizala_calls_by_route": dict(Counter(_route(c) for c in calls)),
                    "replays": replays,
                    "replay_statuses": {str(k): v for k, v in replay_statuses.items()},
                    "kaizala_calls_for_replays": len(again),
                    "send_latency": summary,
                    "cpu_ms_per_action": {k: round(v, 2) for k, v in cpu.items()},
                }
            )
            say(
                f"sends run {n + 1}/{runs}: {len(calls)} Kaizala calls for {per_run} actions, "
                f"statuses {dict(statuses)}, p50 {summary['p50_ms']:.1f} ms; "
                f"{len(again)} calls for {replays} replays"
            )
    counted = await count_send_path(stack, sim, 10)
    say(f"counted in-process: {len(counted['warm'])} warm sends")
    figures: dict[str, Figure] = {
        "actions.storage_transactions_per_action": figure(
            "transactions/action",
            [len(a["table_calls"]) for a in counted["warm"]],
            what="TableStore calls per warm POST /api/actions (counting wrapper, in-process; "
            f"e.g. {counted['warm'][-1]['table_calls']})",
        ),
        "actions.kaizala_calls_per_action": figure(
            "calls/action",
            per_action,
            what=f"Kaizala calls per action over {per_run} sequential POST /api/actions "
            "(simulator call log)",
            aim="1.0",
            met=statistics.median(per_action) == 1.0,
        ),
        "actions.kaizala_calls_per_replay": figure(
            "calls/request",
            replay_calls,
            what=f"Kaizala calls per repeated request (same Idempotency-Key, {replays} per run)",
            aim="0",
            met=max(replay_calls) == 0,
        ),
        "actions.send_p50_ms": figure(
            "ms", latency_p50, what="p50 latency of POST /api/actions (201, one Kaizala call)"
        ),
        "actions.host_cpu_ms_per_action": figure(
            "CPU ms/action",
            host_cpu,
            what="CPU of the host process per sent action (/proc utime+stime)",
        ),
    }
    return {"figures": figures, "runs": details, "counted_in_process": counted}


async def count_send_path(stack: BenchStack, sim: Sim, sends: int) -> dict[str, Any]:
    """POST /api/actions in-process with a counting TableStore: storage calls per action."""
    rt = Runtime(Settings.from_env(settings_values(stack)))
    table_calls = count_table_calls(rt)
    fn = function_index()["send_action"].get_user_function()
    per_action: list[dict[str, Any]] = []
    set_runtime(rt)
    try:
        for i in range(sends + 1):  # the first one is cold (token read, tables, clients)
            body = json.dumps(survey_request(f"Bench counted send {uuid.uuid4()} #{i}")).encode()
            req = func.HttpRequest(
                method="POST",
                url="http://127.0.0.1/api/actions",
                headers={"content-type": "application/json"},
                params={},
                route_params={},
                body=body,
            )
            before, seq = len(table_calls), sim.last_seq()
            answer = await fn(req)
            if answer.status_code != 201:
                raise RuntimeError(f"in-process send answered {answer.status_code}")
            per_action.append(
                {
                    "table_calls": table_calls[before:],
                    "kaizala_calls": [_route(c) for c in sim.calls_since(seq)],
                }
            )
    finally:
        set_runtime(None)
        await rt.aclose()
    return {"cold_first_action": per_action[0], "warm": per_action[1:]}


async def _post_all(
    host: httpx.AsyncClient, bodies: list[dict[str, Any]], concurrency: int
) -> Counter[int]:
    gate = asyncio.Semaphore(concurrency)
    statuses: Counter[int] = Counter()

    async def one(body: dict[str, Any]) -> None:
        async with gate:
            answer = await host.post("/api/actions", json=body)
            statuses[answer.status_code] += 1

    await asyncio.wait_for(asyncio.gather(*(one(b) for b in bodies)), timeout=SEND_DEADLINE_SECONDS)
    return statuses


async def _drain(host: httpx.AsyncClient, sim: Sim, seq: int, expected: int) -> None:
    """Run drain_outbox now (admin invoke) and again whenever it stops short; bounded."""
    deadline = time.monotonic() + DRAIN_DEADLINE_SECONDS
    sent, progress_at = -1, time.monotonic()
    await host.post("/admin/functions/drain_outbox", json={"input": ""})
    while time.monotonic() < deadline:
        now_sent = sum(1 for c in sim.calls_since(seq) if _is_send(c) and c["status"] == 200)
        if now_sent >= expected:
            return
        if now_sent != sent:
            sent, progress_at = now_sent, time.monotonic()
        elif time.monotonic() - progress_at > 3.0:
            # The drainer stopped (budget deadline or lease); start it again.
            await host.post("/admin/functions/drain_outbox", json={"input": ""})
            progress_at = time.monotonic()
        await asyncio.sleep(0.25)
    raise RuntimeError(f"burst not drained within {DRAIN_DEADLINE_SECONDS:.0f}s ({sent} sent)")


async def run_burst(
    stack: BenchStack,
    sim: Sim,
    *,
    budget: int,
    window: float,
    actions: int,
    runs: int,
    concurrency: int,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """`actions` POST /api/actions at once (`concurrency` in flight), then drained to the end."""
    slots = 10  # shared.stores.budget.Budget's default
    design_rate = (max(1, budget // (slots + 1)) * slots) / window
    budget_rate = budget / window
    rates, completion, max_window, throttled, per_action = [], [], [], [], []
    details = []
    async with httpx.AsyncClient(base_url=stack.host_url, timeout=60.0) as host:
        # One send first: the access token is fetched then, not inside the first run.
        warm = await host.post(
            "/api/actions", json=survey_request(f"Bench burst warm-up {uuid.uuid4()}")
        )
        if warm.status_code != 201:
            raise RuntimeError(f"warm-up send answered {warm.status_code}: {warm.text[:200]}")
        for n in range(runs):
            tag = uuid.uuid4().hex[:8]
            bodies = [survey_request(f"Bench burst {tag} #{i:03d}") for i in range(actions)]
            seq = sim.last_seq()
            t0 = time.time()
            statuses = await _post_all(host, bodies, concurrency)
            accepted_s = time.time() - t0
            await _drain(host, sim, seq, actions)
            calls = sim.calls_since(seq)
            sends = [c for c in calls if _is_send(c) and c["status"] == 200]
            admitted = [c["ts"] for c in calls if c["status"] != 429]
            n429 = sum(1 for c in calls if c["status"] == 429)
            first, last = sends[0]["ts"], sends[-1]["ts"]
            rate = (len(sends) - 1) / (last - first) if last > first else float("nan")
            titles = Counter(
                a["body"].get("title")
                for a in sim.control("GET", "state")["actions"]
                if tag in str(a["body"].get("title", ""))
            )
            duplicates = sum(v - 1 for v in titles.values() if v > 1)
            rates.append(rate)
            completion.append(last - t0)
            max_window.append(max_in_window(admitted, window))
            throttled.append(n429)
            per_action.append(len(calls) / actions)
            details.append(
                {
                    "actions": actions,
                    "http_statuses": {str(k): v for k, v in statuses.items()},
                    "accepted_all_s": round(accepted_s, 3),
                    "kaizala_calls": len(calls),
                    "kaizala_calls_by_route": dict(Counter(_route(c) for c in calls)),
                    "sends_ok": len(sends),
                    "distinct_actions_in_kaizala": len(titles),
                    "duplicates_in_kaizala": duplicates,
                    "send_rate_per_s": round(rate, 2),
                    "first_to_last_send_s": round(last - first, 3),
                    "completion_s": round(last - t0, 3),
                    "max_calls_in_any_window": max_window[-1],
                    "http_429": n429,
                }
            )
            if len(titles) != actions or duplicates:
                raise RuntimeError(f"burst run {n + 1}: {len(titles)} actions, {duplicates} dups")
            say(
                f"burst run {n + 1}/{runs}: {statuses.get(201, 0)}×201 {statuses.get(202, 0)}×202, "
                f"{rate:.1f} sends/s (budget {budget_rate:.0f}/s), max {max_window[-1]} calls "
                f"per {window:g}s window, {n429}×429, done in {last - t0:.1f}s"
            )
    final = sim.stats()["throttle"]
    sim_max = max(final["maxCallsPerWindowByConnector"].values() or [0])
    figures: dict[str, Figure] = {
        "burst.send_rate_per_s": figure(
            "sends/s",
            rates,
            what=f"sustained Kaizala send rate, first to last send, {actions} actions per run",
            digits=2,
        ),
        "burst.send_rate_vs_budget": figure(
            "ratio",
            [r / budget_rate for r in rates],
            what=f"send rate ÷ budget ({budget} calls per {window:g}s window = "
            f"{budget_rate:g}/s; the Budget's slotting allows at most {design_rate:g}/s)",
            aim="<= 1 (never above)",
            met=max(rates) <= budget_rate,
        ),
        "burst.send_rate_vs_slotting_cap": figure(
            "ratio",
            [r / design_rate for r in rates],
            what=f"send rate ÷ the most the Budget's slotting allows ({design_rate:g}/s)",
        ),
        "burst.completion_s": figure(
            "s", completion, what=f"first POST to last Kaizala send, {actions} actions"
        ),
        "burst.max_calls_per_window": figure(
            "calls/window",
            max_window,
            what=f"most Kaizala calls admitted in any {window:g}s sliding window (call log)",
            aim=f"<= {budget}",
            met=max(max_window) <= budget,
        ),
        "burst.http_429": figure(
            "responses",
            throttled,
            what="429 answers from Kaizala during the burst",
            aim="0",
            met=max(throttled) == 0,
        ),
        "burst.kaizala_calls_per_action": figure(
            "calls/action",
            per_action,
            what="Kaizala calls per action during the burst",
            aim="1.0",
            met=max(per_action) == 1.0,
        ),
    }
    return {
        "figures": figures,
        "runs": details,
        "config": {
            "KAIZALA_CALLS_PER_MINUTE": budget,
            "KAIZALA_THROTTLE_WINDOW_SECONDS": window,
            "simulator_window_s": window,
            "simulator_connector_limit": budget,
            "budget_rate_per_s": budget_rate,
            "budget_slotting_max_rate_per_s": design_rate,
            "concurrent_posts": concurrency,
        },
        "simulator_max_calls_per_window_all_runs": sim_max,
        "simulator_throttled_429_all_runs": final["throttled429"],
    }
