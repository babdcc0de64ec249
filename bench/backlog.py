"""Backlog: 2,000 distinct events accepted while the Dataverse simulator is down, then drained.

On one stack (the local host runs its timers on their real schedules: `process_inbox` every
10 s), with the Dataverse simulator enforcing the real service protection (52 requests in
flight, 6,000 per 300 s: a 429 with Retry-After past either):

1. inline: `inline_events` distinct events at `concurrency` with Dataverse up (each written
   inline, in the webhook's call): the inline rate;
2. outage: the simulator down (every call 503), `events` distinct events at `concurrency`: the
   acknowledgement rate (the process's circuit opens after a few failures: the webhook stores
   and answers without calling Dataverse), and how many Dataverse calls the outage cost;
3. recovery: the simulator up at t0; the inbox is polled until every row of the action is
   `done`: time to drain from t0 (the timer's real schedule, the circuit's next probe and the
   drain itself), the drain rate (events ÷ that time), its ratio to the inline rate;
4. checks: 0 lost (rows not done), 0 duplicates (Dataverse writes and tasks = events), the
   number of 429s the simulator answered.

Aims (issue 11): ack rate during the outage ≥ 0.8 × inline; drain rate ≥ 0.5 × inline; 0 lost,
0 duplicates. `python -m bench.backlog [--quick] [--merge bench/results.json]` runs this part
alone on its own stack (and, with --merge, puts its figures into an existing results file).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.harness import BenchStack, EventFactory, Prepared, dataverse_stats
from bench.ingest import _inbox_not_done, drive
from bench.partial import merge_part, print_figures
from bench.stats import Figure, figure

ACK_RATIO_AIM = 0.8
DRAIN_RATIO_AIM = 0.5
POLL_SECONDS = 0.5
# Dataverse's service protection per user, as the simulator is told to enforce it.
SERVICE_PROTECTION = {"maxConcurrent": 52, "perWindow": 6000, "windowSeconds": 300, "retryAfter": 5}


@dataclass(frozen=True)
class BacklogPlan:
    events: int = 2000
    inline_events: int = 400
    warmup: int = 50
    concurrency: int = 16
    drain_timeout_s: float = 300.0


FULL_BACKLOG = BacklogPlan()
QUICK_BACKLOG = BacklogPlan(events=300, inline_events=100, warmup=20)


def _dv(stack: BenchStack, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = httpx.request(method, f"{stack.dataverse_url}/_sim/{path}", json=body, timeout=60)
    response.raise_for_status()
    return response.json() if response.content else None


def _tasks(stack: BenchStack) -> int:
    return len(_dv(stack, "GET", "state")["activities"]["tasks"])


async def run_backlog(
    stack: BenchStack, prepared: Prepared, plan: BacklogPlan, say: Callable[[str], None]
) -> dict[str, Any]:
    factory = EventFactory(prepared)
    port, token, c = stack.ports.host, prepared.callback_token, plan.concurrency
    _dv(stack, "POST", "limits", SERVICE_PROTECTION)
    await drive(port, factory.bodies(plan.warmup), token, c)

    before = dataverse_stats(stack)
    inline = await drive(port, factory.bodies(plan.inline_events), token, c)
    say(f"backlog: inline {inline.events_per_second:.1f} events/s ({plan.inline_events} events)")
    await _until_done(stack, prepared, 60.0)

    tasks_before = _tasks(stack)
    _dv(stack, "POST", "down", {"down": True})
    down_at = dataverse_stats(stack)
    try:
        outage = await drive(port, factory.bodies(plan.events), token, c)
    finally:
        during = dataverse_stats(stack)
        t0 = time.monotonic()
        _dv(stack, "POST", "down", {"down": False})
    say(
        f"backlog: {plan.events} events acknowledged during the outage at "
        f"{outage.events_per_second:.1f} events/s; Dataverse calls meanwhile "
        f"{during['requests'] - down_at['requests']}"
    )
    first_write, drained = await _drain_times(stack, prepared, t0, down_at, plan.drain_timeout_s)
    after = dataverse_stats(stack)
    not_done = _inbox_not_done(stack, prepared.action_id)
    written = after["writes"] - during["writes"]
    tasks = _tasks(stack) - tasks_before
    drain_s = drained if drained is not None else plan.drain_timeout_s
    drain_rate = plan.events / drain_s
    say(
        f"backlog: drained in {drain_s:.1f} s from Dataverse up (first write after "
        f"{first_write if first_write is None else round(first_write, 1)} s), "
        f"{drain_rate:.1f} events/s; rows not done {not_done}, writes {written}, tasks {tasks}"
    )
    ack_ratio = outage.events_per_second / inline.events_per_second
    drain_ratio = drain_rate / inline.events_per_second
    throttled = after["throttled"] - before["throttled"]
    bad = (
        not_done
        + abs(written - plan.events)
        + abs(tasks - plan.events)
        + sum(outage.failures.values())
    )
    figures: dict[str, Figure] = {
        "backlog.inline_events_per_s": figure(
            "events/s", [inline.events_per_second], what="webhook, Dataverse up (inline writes)"
        ),
        "backlog.outage_ack_events_per_s": figure(
            "events/s", [outage.events_per_second], what="webhook while Dataverse is down"
        ),
        "backlog.ack_ratio": figure(
            "ratio",
            [ack_ratio],
            what="acknowledgement rate during the outage ÷ inline rate (same run)",
            aim=f">= {ACK_RATIO_AIM}",
            met=ack_ratio >= ACK_RATIO_AIM,
        ),
        "backlog.outage_dataverse_calls": figure(
            "calls",
            [during["requests"] - down_at["requests"]],
            what=f"Dataverse calls while {plan.events} events were acknowledged (circuit open)",
            digits=0,
        ),
        "backlog.time_to_first_write_s": figure(
            "s",
            [first_write if first_write is not None else plan.drain_timeout_s],
            what="from Dataverse up to the first backlog write (timer, then the circuit's probe)",
        ),
        "backlog.time_to_drain_s": figure(
            "s", [drain_s], what=f"from Dataverse up to all {plan.events} rows done"
        ),
        "backlog.drain_events_per_s": figure(
            "events/s", [drain_rate], what="events ÷ time to drain (the timer's real schedule)"
        ),
        "backlog.drain_ratio": figure(
            "ratio",
            [drain_ratio],
            what="drain rate ÷ inline rate (same run)",
            aim=f">= {DRAIN_RATIO_AIM}",
            met=drain_ratio >= DRAIN_RATIO_AIM,
        ),
        "backlog.lost_or_duplicated": figure(
            "events",
            [bad],
            what="rows not done + |writes − events| + |tasks − events| + non-200 answers",
            digits=0,
            aim="0",
            met=bad == 0,
        ),
        "backlog.dataverse_429s": figure(
            "answers", [throttled], what="429s the Dataverse simulator answered", digits=0
        ),
    }
    return {
        "figures": figures,
        "plan": plan.__dict__,
        "service_protection": SERVICE_PROTECTION,
        "inline": inline.describe(),
        "outage": outage.describe(),
        "drained": drained is not None,
        "rows_not_done": not_done,
        "dataverse_writes": written,
        "tasks": tasks,
        "dataverse_429s": throttled,
        "peak_in_flight": after.get("peakInFlight"),
    }


async def _until_done(stack: BenchStack, prepared: Prepared, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    # Polling the table is the measurement: there is no event to wait on across processes.
    while _inbox_not_done(stack, prepared.action_id) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(POLL_SECONDS)


async def _drain_times(
    stack: BenchStack, prepared: Prepared, t0: float, base: dict[str, Any], within_s: float
) -> tuple[float | None, float | None]:
    """Seconds from t0 to the first Dataverse write, and to every row done (None: timed out)."""
    first: float | None = None
    while time.monotonic() - t0 < within_s:
        if first is None and dataverse_stats(stack)["writes"] > base["writes"]:
            first = time.monotonic() - t0
        if first is not None and _inbox_not_done(stack, prepared.action_id) == 0:
            return first, time.monotonic() - t0
        await asyncio.sleep(POLL_SECONDS)
    return first, None


def main(argv: list[str] | None = None) -> int:
    """The backlog alone, on a stack of its own."""
    import argparse
    from datetime import UTC, datetime

    from bench.harness import RUNS, Sim, make_stack, prepare

    parser = argparse.ArgumentParser(prog="python -m bench.backlog")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write the backlog's JSON here")
    parser.add_argument(
        "--merge", type=Path, default=None, help="put the figures into this results.json"
    )
    args = parser.parse_args(argv)
    run_dir = RUNS / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-backlog")
    run_dir.mkdir(parents=True, exist_ok=True)

    def say(text: str) -> None:
        print(f"[backlog] {text}", flush=True)

    stack = make_stack("backlog", run_dir)
    timeline = (run_dir / "timeline.log").open("w", encoding="utf-8")

    def keep(name: str, text: str) -> None:
        # The sweep's runs and the circuit's changes, stamped: how the drain started.
        if ("process_inbox" in text or "circuit" in text) and not timeline.closed:
            timeline.write(f"{time.monotonic():.3f} {name} {text}\n")

    stack.on_line = keep
    with stack, timeline:
        sim = Sim(stack.kaizala_url)
        try:
            prepared = prepare(stack, sim)
            plan = QUICK_BACKLOG if args.quick else FULL_BACKLOG
            result = asyncio.run(run_backlog(stack, prepared, plan, say))
        finally:
            sim.close()
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if args.merge:
        merge_part(args.merge, "backlog", result)
    print_figures(result["figures"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
