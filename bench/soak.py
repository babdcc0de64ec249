"""Soak: many distinct webhook events at a fixed concurrency; does the host stay the same?

After a warm-up, `events` SurveyResponse events are POSTed to the host at `concurrency`, in
windows of `window` events. After the warm-up and after every window the host process is read
from /proc: resident memory (VmRSS; VmHWM for the peak) and open file descriptors
(/proc/<pid>/fd), and each window's latencies give its p50/p99. At the end every inbox row of the
action must be `done` and the Dataverse simulator must have counted one write per event.

Aims (issue 11): RSS growth from after the warm-up to the end ≤ 30 MB; open fds constant: the
fds that are not sockets exactly, the sockets within the few that the connection pools to
Azurite and the Dataverse simulator open and close with the load (no window may end more than
FD_SLACK above the count after the warm-up, nor the last); p99 steady (the median p99 of the
second half of the windows ≤ 1.25 × that of the first half: a leak or a growing scan shows as a
trend).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import BenchStack, EventFactory, Prepared, dataverse_stats
from bench.ingest import WEBHOOK, HttpRun, _inbox_not_done
from bench.stats import Figure, figure
from bench.wire import HttpConnection

RSS_GROWTH_AIM_MB = 30.0
P99_DRIFT_AIM = 1.25
# A window may end with a few more sockets than the warm-up left (keep-alive connections to
# Azurite and the Dataverse simulator opened under a burst and not yet closed by their idle
# timeout); more than this, or more at the end, is a leak.
FD_SLACK = 4
SETTLE_SECONDS = 120.0  # late inline failures: a few sweeper runs (every 10 s)
WINDOW_TIMEOUT_S = 300.0  # one window; ~10 s at the measured rate


@dataclass(frozen=True)
class SoakPlan:
    events: int = 10_000
    window: int = 1_000
    concurrency: int = 16
    warmup: int = 500


FULL_SOAK = SoakPlan()
QUICK_SOAK = SoakPlan(events=1_000, window=200, warmup=200)


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of one process, in kB, from /proc/<pid>/status."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            out[key] = int(value.split()[0])
    return out


def host_sample(pid: int) -> dict[str, Any]:
    """The host's memory, fds and threads now; fds by kind (socket, pipe, file...)."""
    kinds: Counter[str] = Counter()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(fd_dir / fd)
        except OSError:  # closed between listdir and readlink
            continue
        kinds[target.split(":", 1)[0] if ":" in target else "file"] += 1
    status = _status(pid)
    return {
        "t": time.monotonic(),
        "rss_mb": round(status["VmRSS"] / 1024, 2),
        "hwm_mb": round(status["VmHWM"] / 1024, 2),
        "threads": status.get("Threads", 0),
        "fds": sum(kinds.values()),
        "fds_by_kind": dict(kinds),
    }


async def run_soak(
    stack: BenchStack,
    prepared: Prepared,
    plan: SoakPlan,
    say: Callable[[str], None],
) -> dict[str, Any]:
    factory = EventFactory(prepared)
    port = stack.ports.host
    dv_before = dataverse_stats(stack)

    # One set of keep-alive connections for the whole soak, so the host's fd count does not
    # depend on how fast it reaps the load generator's closed sockets.
    conns = [HttpConnection("127.0.0.1", port) for _ in range(plan.concurrency)]
    await asyncio.gather(*(c.connect() for c in conns))
    try:
        return await _soak(stack, prepared, plan, say, conns, factory, dv_before)
    finally:
        await asyncio.gather(*(c.close() for c in conns))


async def _soak(
    stack: BenchStack,
    prepared: Prepared,
    plan: SoakPlan,
    say: Callable[[str], None],
    conns: list[HttpConnection],
    factory: EventFactory,
    dv_before: dict[str, Any],
) -> dict[str, Any]:
    host = stack.procs["host"]
    token = prepared.callback_token
    warm = await _window(conns, factory.bodies(plan.warmup), token)
    if warm.failures:
        raise RuntimeError(f"soak warm-up failures: {dict(warm.failures)}")
    after_warmup = host_sample(host.pid)
    say(
        f"soak: warmed up with {plan.warmup} events; host RSS {after_warmup['rss_mb']} MB, "
        f"{after_warmup['fds']} fds"
    )
    windows: list[dict[str, Any]] = []
    failures: Counter[str] = Counter()
    started = time.monotonic()
    for n in range(plan.events // plan.window):
        # Bodies per window, so the load generator's own memory stays flat too.
        run = await _window(conns, factory.bodies(plan.window), token)
        failures.update(run.failures)
        sample = host_sample(host.pid)
        windows.append({**run.describe(), **sample})
        say(
            f"soak window {n + 1}/{plan.events // plan.window}: "
            f"{run.events_per_second:.0f} events/s, p99 {windows[-1]['p99_ms']:.0f} ms, "
            f"RSS {sample['rss_mb']} MB, {sample['fds']} fds"
        )
    duration = time.monotonic() - started
    end = windows[-1]
    # An event whose inline attempt ran out of budget is acknowledged and left pending for
    # `process_inbox` (every 10 s): it is late, not lost. Wait for the sweeper (bounded) before
    # counting, and record how long that took.
    settle_started = time.monotonic()
    not_done = _inbox_not_done(stack, prepared.action_id)
    while not_done and time.monotonic() - settle_started < SETTLE_SECONDS:
        await asyncio.sleep(1.0)
        not_done = _inbox_not_done(stack, prepared.action_id)
    settle_s = round(time.monotonic() - settle_started, 1)
    dv_after = dataverse_stats(stack)
    writes = int(dv_after["writes"]) - int(dv_before["writes"])
    sent = plan.warmup + plan.window * len(windows)

    rss_growth = end["rss_mb"] - after_warmup["rss_mb"]
    fds_end = end["fds"] - after_warmup["fds"]
    fds_peak = max(w["fds"] for w in windows) - after_warmup["fds"]
    others_end = _not_sockets(end) - _not_sockets(after_warmup)
    p99s = [w["p99_ms"] for w in windows]
    half = len(p99s) // 2
    drift = statistics.median(p99s[-half:]) / statistics.median(p99s[:half]) if half else 1.0
    what_run = f"{plan.events} events at concurrency {plan.concurrency} after {plan.warmup} warm-up"
    figures: dict[str, Figure] = {
        "soak.rss_after_warmup_mb": figure(
            "MB", [after_warmup["rss_mb"]], what="host VmRSS after the warm-up", digits=1
        ),
        "soak.rss_end_mb": figure(
            "MB", [end["rss_mb"]], what=f"host VmRSS at the end ({what_run})", digits=1
        ),
        "soak.rss_growth_mb": figure(
            "MB",
            [rss_growth],
            what="host VmRSS at the end − after the warm-up",
            digits=1,
            aim=f"<= {RSS_GROWTH_AIM_MB:.0f}",
            met=rss_growth <= RSS_GROWTH_AIM_MB,
        ),
        "soak.window_rss_mb": figure(
            "MB",
            [w["rss_mb"] for w in windows],
            what=f"host VmRSS after each {plan.window}-event window",
            digits=1,
        ),
        "soak.fds_after_warmup": figure(
            "fds", [after_warmup["fds"]], what="host open fds after the warm-up", digits=0
        ),
        "soak.fds_growth": figure(
            "fds",
            [fds_end],
            what="host open fds at the end − after the warm-up",
            digits=0,
            aim=f"<= {FD_SLACK}",
            met=fds_end <= FD_SLACK,
        ),
        "soak.fds_peak_over_warmup": figure(
            "fds",
            [fds_peak],
            what="most open fds after any window − after the warm-up",
            digits=0,
            aim=f"<= {FD_SLACK}",
            met=fds_peak <= FD_SLACK,
        ),
        "soak.fds_other_growth": figure(
            "fds",
            [others_end],
            what="open fds other than sockets (files, pipes, eventfd...) at the end − after the "
            "warm-up",
            digits=0,
            aim="0",
            met=others_end == 0,
        ),
        "soak.window_fds": figure(
            "fds", [w["fds"] for w in windows], what="host open fds after each window", digits=0
        ),
        "soak.window_p99_ms": figure(
            "ms", p99s, what=f"p99 acknowledgement latency of each {plan.window}-event window"
        ),
        "soak.window_p50_ms": figure(
            "ms", [w["p50_ms"] for w in windows], what="p50 of each window"
        ),
        "soak.window_events_per_s": figure(
            "events/s", [w["events_per_s"] for w in windows], what="throughput of each window"
        ),
        "soak.p99_drift": figure(
            "ratio",
            [drift],
            what="median window p99 of the second half ÷ that of the first half",
            aim=f"<= {P99_DRIFT_AIM}",
            met=drift <= P99_DRIFT_AIM,
        ),
        "soak.lost_or_failed": figure(
            "events",
            [sum(failures.values()) + not_done + abs(writes - sent)],
            what=(
                "non-200 answers + inbox rows not done (after the sweeper, <= 120 s)"
                " + |Dataverse writes − events|"
            ),
            digits=0,
            aim="0",
            met=not failures and not_done == 0 and writes == sent,
        ),
    }
    return {
        "figures": figures,
        "plan": plan.__dict__,
        "duration_s": round(duration, 1),
        "after_warmup": after_warmup,
        "windows": windows,
        "failures": dict(failures),
        "inbox_rows_not_done": not_done,
        "settle_s": settle_s,
        "dataverse_writes": writes,
        "events_sent": sent,
    }


def _not_sockets(sample: dict[str, Any]) -> int:
    return int(sample["fds"]) - int(sample["fds_by_kind"].get("socket", 0))


async def _window(conns: list[HttpConnection], bodies: list[bytes], token: str) -> HttpRun:
    """POST every body, one worker per connection (as bench.ingest.drive, connections kept)."""
    headers = (("Content-Type", "application/json"), ("kz-callback-token", token))
    pending = iter(bodies)
    latencies: list[float] = []
    failures: Counter[str] = Counter()

    async def worker(conn: HttpConnection) -> None:
        for body in pending:
            started = time.perf_counter()
            status, answer = await conn.request("POST", WEBHOOK, body, headers)
            latencies.append(time.perf_counter() - started)
            if status != 200 or b'"accepted"' not in answer:
                failures[f"{status} {answer[:80].decode(errors='replace')}"] += 1

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker(c) for c in conns)), WINDOW_TIMEOUT_S)
    wall = time.perf_counter() - started
    return HttpRun(len(conns), len(bodies), wall, latencies, failures)


def main(argv: list[str] | None = None) -> int:
    """The soak alone, on a stack of its own: python -m bench.soak [--quick] [--out FILE]."""
    import argparse
    import json
    from datetime import UTC, datetime

    from bench.harness import RUNS, Sim, make_stack, prepare

    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write the soak's JSON here")
    args = parser.parse_args(argv)
    run_dir = RUNS / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-soak")
    run_dir.mkdir(parents=True, exist_ok=True)

    def say(text: str) -> None:
        print(f"[soak] {text}", flush=True)

    stack = make_stack("soak", run_dir)
    with stack:
        sim = Sim(stack.kaizala_url)
        try:
            prepared = prepare(stack, sim)
            plan = QUICK_SOAK if args.quick else FULL_SOAK
            result = asyncio.run(run_soak(stack, prepared, plan, say))
        finally:
            sim.close()
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    for key, f in result["figures"].items():
        print(f"{key:28} {f['median']!s:>10} {f['unit']:9} {f.get('aim', '')} {f.get('met', '')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
