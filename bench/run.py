"""`make bench`: every benchmark of the bridge, into bench/results.json and a printed summary.

    python -m bench.run [--quick] [--out bench/results.json]

Two stacks are started in turn (devtools.stack: Azurite, the Kaizala and Dataverse simulators
and the local Functions host, each its own process, on free loopback ports, with settings and a
secret store under bench/.runs/): the first for webhook ingestion, action sending and cold
start, the second with a shrunk Kaizala budget for the throttled burst, a third for the backlog
drain after a Dataverse outage (bench/backlog.py). Then the sweep scaling
(bench/sweeps.py, its own Azurite; `python -m bench.sweeps` runs that part alone). Every load
loop is bounded in count and time. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine
from bench.backlog import FULL_BACKLOG, QUICK_BACKLOG, run_backlog
from bench.coldstart import run_coldstart
from bench.harness import RUNS, EventFactory, Sim, make_stack, onboard, prepare
from bench.ingest import Plan, run_ingestion
from bench.sending import run_burst, run_sends
from bench.soak import FULL_SOAK, QUICK_SOAK, run_soak
from bench.stats import Figure
from bench.sweeps import run_sweeps

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results.json"
KEEP_RUNS = 3  # scratch folders of the latest runs kept under bench/.runs/


@dataclass(frozen=True)
class Sizes:
    ingestion: Plan
    send_runs: int
    sends_per_run: int
    replays: int
    burst_actions: int
    burst_runs: int
    cold_runs: int


FULL = Sizes(Plan(), 3, 50, 10, 200, 3, 7)
QUICK = Sizes(
    Plan(
        rounds=2,
        c1_events=40,
        baseline_events=20,
        inproc_events=20,
        echo_requests=20,
        concurrency_runs=1,
        events_at={4: 60, 16: 120},
        count_events=5,
        warmup_events=10,
    ),
    1,
    10,
    3,
    60,
    1,
    2,
)
SEND_BUDGET = 100  # calls per 1 s window for the plain sends: never throttled (cap: 90/s)
# The burst's budget: 60 calls per 5 s window (the Budget's slotting lets 5 through per 0.5 s slot:
# at most 10/s), below what the host can send, so the budget and not the host sets the pace.
BURST_BUDGET = 60
BURST_WINDOW_S = 5.0
BURST_CONCURRENCY = 50


def say(text: str) -> None:
    print(f"[bench] {text}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = RUNS / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    for old in sorted(p for p in RUNS.glob("2*T*Z") if p.is_dir())[:-KEEP_RUNS]:
        shutil.rmtree(old, ignore_errors=True)  # scratch of earlier runs (settings, secrets)
    results: dict[str, Any] = {
        "schema": 1,
        "quick": args.quick,
        "machine": machine.describe(),
        "source": machine.source(),
        "figures": {},
        "details": {},
    }
    figures: dict[str, Figure] = results["figures"]
    details: dict[str, Any] = results["details"]

    stack = make_stack(
        "main",
        run_dir,
        KAIZALA_CALLS_PER_MINUTE=str(SEND_BUDGET),
        KAIZALA_THROTTLE_WINDOW_SECONDS="1",
        # Ingestion and the soak run at this machine's rate (about 60 events/s), three times
        # what one Dataverse user may send (6,000 per 5 minutes): they measure the bridge, so
        # the request window is lifted here; the backlog stack keeps the real limits.
        DATAVERSE_REQUESTS_PER_5_MINUTES="1000000",
    )
    say("starting Azurite, the simulators and the host (stack 1)")
    with stack:
        sim = Sim(stack.kaizala_url)
        try:
            sim.control(
                "POST", "config", json={"throttleWindowSeconds": 1, "connectorLimitPerWindow": 100}
            )
            prepared = prepare(stack, sim)
            say(f"onboarded, webhook synced, survey sent (actionId {prepared.action_id})")
            ingestion = asyncio.run(run_ingestion(stack, prepared, sim, sizes.ingestion, say))
            figures.update(ingestion.pop("figures"))
            details["webhook"] = ingestion
            sends = asyncio.run(
                run_sends(stack, sim, sizes.send_runs, sizes.sends_per_run, sizes.replays, say)
            )
            figures.update(sends.pop("figures"))
            details["actions"] = sends
            factory = EventFactory(prepared)
            cold = run_coldstart(
                stack.environment(),
                stack.settings_path,
                lambda: (json.dumps(factory.event()).encode(), prepared.callback_token),
                run_dir,
                sizes.cold_runs,
                say,
            )
            figures.update(cold.pop("figures"))
            details["coldstart"] = cold
            soak = asyncio.run(
                run_soak(stack, prepared, QUICK_SOAK if args.quick else FULL_SOAK, say)
            )
            figures.update(soak.pop("figures"))
            details["soak"] = soak
        finally:
            sim.close()

    burst_stack = make_stack(
        "burst",
        run_dir,
        KAIZALA_CALLS_PER_MINUTE=str(BURST_BUDGET),
        KAIZALA_THROTTLE_WINDOW_SECONDS=str(BURST_WINDOW_S),
    )
    say("starting stack 2 (Kaizala budget shrunk for the burst)")
    with burst_stack:
        sim = Sim(burst_stack.kaizala_url)
        try:
            sim.control(
                "POST",
                "config",
                json={
                    "throttleWindowSeconds": BURST_WINDOW_S,
                    "connectorLimitPerWindow": BURST_BUDGET,
                },
            )
            onboard(burst_stack, sim)
            burst = asyncio.run(
                run_burst(
                    burst_stack,
                    sim,
                    budget=BURST_BUDGET,
                    window=BURST_WINDOW_S,
                    actions=sizes.burst_actions,
                    runs=sizes.burst_runs,
                    concurrency=BURST_CONCURRENCY,
                    say=say,
                )
            )
            figures.update(burst.pop("figures"))
            details["burst"] = burst
        finally:
            sim.close()

    # issue 11: the backlog drain, on a stack of its own (no load left over from the others).
    backlog_stack = make_stack("backlog", run_dir)
    say("starting stack 3 (backlog: 2,000 events accepted while Dataverse is down)")
    with backlog_stack:
        sim = Sim(backlog_stack.kaizala_url)
        try:
            prepared = prepare(backlog_stack, sim)
            plan = QUICK_BACKLOG if args.quick else FULL_BACKLOG
            backlog = asyncio.run(run_backlog(backlog_stack, prepared, plan, say))
            figures.update(backlog.pop("figures"))
            details["backlog"] = backlog
        finally:
            sim.close()

    say("sweep scaling: 1k, 10k and 100k stored rows (its own Azurite)")
    sweeps = run_sweeps(args.quick, say)
    figures.update(sweeps.pop("figures"))
    details["sweeps"] = sweeps

    results["machine"]["load_average_at_end"] = machine.load_average()
    results["duration_seconds"] = round(time.monotonic() - started, 1)
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(summary(results))
    say(f"wrote {args.out} in {results['duration_seconds']:.0f}s")
    return 0


def _value(f: Figure) -> str:
    median = f["median"]
    if isinstance(median, float) and median >= 100:
        return f"{median:.0f}"
    if isinstance(median, float) and median >= 10:
        return f"{median:.1f}"
    return f"{median:.3g}" if isinstance(median, float) else str(median)


def summary(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "",
        f"Kaizala Bridge benchmarks — {m['date']}, {m['nproc']} CPU ({m['cpu_model']}), "
        f"{m['memory_gib']} GiB, Python {m['python']}, Node {m['node']}, Azurite {m['azurite']}",
        f"load average at start {m['load_average_at_start']}, at end "
        f"{m.get('load_average_at_end')}",
        "",
        f"| {'figure':48} | {'median':>9} | {'unit':18} | runs | {'aim':20} | met |",
        f"|{'-' * 50}|{'-' * 11}|{'-' * 20}|------|{'-' * 22}|-----|",
    ]
    for key, f in results["figures"].items():
        met = "" if "met" not in f else ("yes" if f["met"] else "NO")
        lines.append(
            f"| {key:48} | {_value(f):>9} | {f['unit']:18} | {f['runs']:4} | "
            f"{f.get('aim', ''):20} | {met:3} |"
        )
    checks = results["details"].get("webhook", {}).get("checks")
    if checks:
        lines += ["", "webhook checks: " + json.dumps(checks)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
