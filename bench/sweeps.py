"""Sweep scaling: the timers that run every minute (or 15 s) over tables of 1k, 10k and 100k rows.

    python -m bench.sweeps [--quick] [--out bench/results.json]   (also a part of `make bench`)

Its own Azurite (in memory); the bridge in this process: per table size, its own table prefix
and two runtimes, one straight to Azurite (timed) and one through a counting proxy (bench/wire.py:
every HTTP request that reaches Azurite). Per size:
- the inbox is seeded straight into Azurite with entity-group transactions (100 rows of one
  partition per batch, 4 at a time): all `done` but 15, which go through the store (so they
  have their due-index entries): 10 backing off (due in 30 min) and 5 due now, of actions with
  no correlation (the first sweep makes them `orphan`: no Dataverse needed). The migration
  marker is set as a deployment past its migration has it (indexed).
- the actions table (1k and 10k rows; one row per partition, so single inserts: 100k would take
  many minutes) is seeded `sent`.
Then, every size's tables in Azurite at once, each measurement runs in rounds that interleave
the sizes (a busy moment of the shared machine falls on every size alike), after a discarded
warm-up: the idle `process_inbox` run (20 rounds) and the idle `drain_outbox` run (lease, the
stale-`sending` reconciliation, the outbox head; 20 rounds), then 3 counted runs of each; for
comparison, on the same tables (3 rounds): the filter `process_inbox` used before the index
(what the migration's hourly scan still runs until a table is marked indexed), the old
stale-`sending` filter, the hourly inbox and actions retention scans (nothing to delete), and
the hourly backfill's `sent_since` (at most 5,000 rows). Azurite's CPU time is summed per run
(/proc, 10 ms ticks: a rough figure for short runs).

Aims (issue 11): the idle sweep at 100k rows within 1.5x of 1k, the same requests at every size.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.data.tables import EdmType, EntityProperty
from azure.data.tables.aio import TableServiceClient

from bench.harness import SAMPLE_EVENT_PATHS, cpu_seconds
from bench.partial import merge_part, print_figures
from bench.stats import Figure, figure
from bench.wire import CountingProxy
from devtools.azurite import Azurite, connection_string
from shared.adapters.tables import pack_blob
from shared.config import Settings
from shared.runtime import Runtime
from shared.services.inbound import sweep_inbox
from shared.stores.due_index import MIGRATION_GRACE_MS, DueIndex
from shared.stores.inbox import inbox_key, partition_for

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results.json"
FULL_INBOX = (1_000, 10_000, 100_000)
FULL_ACTIONS = (1_000, 10_000)
QUICK_INBOX = (1_000, 10_000)
QUICK_ACTIONS = (1_000,)
BATCH = 100  # an entity-group transaction: at most 100 rows, one partition
BATCHES_AT_ONCE = 4
INSERTS_AT_ONCE = 16
BACKING_OFF, DUE = 10, 5
TIMED, SCANS, COUNTED, WARMUP = 20, 3, 3, 5
RETENTION_MS = 30 * 86_400_000
BACKFILL_MS = 7 * 86_400_000
RATIO_AIM = 1.5

Say = Callable[[str], None]


def label(rows: int) -> str:
    return f"{rows // 1000}k"


def _int64(value: int) -> EntityProperty:
    return EntityProperty(value, EdmType.INT64)


def _sample() -> bytes:
    # The published sample, or the suite's copy of it (a worktree has no ../shared beside it).
    for path in (
        *SAMPLE_EVENT_PATHS,
        ROOT / "tests" / "fixtures" / "events" / "survey_response.json",
    ):
        if path.is_file():
            return path.read_bytes()
    raise FileNotFoundError("survey_response.json sample not found")


def inbox_row(n: int, now_ms: int, blob: dict[str, Any]) -> dict[str, Any]:
    """A `done` inbox row as the store keeps it (the same properties and compressed event)."""
    action_id, event_id = f"bench-action-{n // BATCH:05d}", f"bench-event-{n:07d}"
    return {
        "PartitionKey": partition_for(action_id),
        "RowKey": inbox_key(event_id),
        "eventId": event_id,
        "eventType": "SurveyResponse",
        "actionId": action_id,
        "responseId": f"bench-response-{n:07d}",
        "status": "done",
        "attempts": 1,
        "receivedAt": _int64(now_ms),
        "respondedAt": _int64(now_ms),
        "nextAttemptAt": _int64(now_ms),
        "lastAttemptAt": _int64(now_ms),
        "processedAt": _int64(now_ms),
        "activityId": str(uuid.UUID(int=n)),
        "lastError": "",
        **blob,
    }


def action_row(n: int, now_ms: int, blob: dict[str, Any]) -> dict[str, Any]:
    """A `sent` actions row as the store keeps it."""
    return {
        "PartitionKey": f"bench-{n:07d}",
        "RowKey": "a",
        "status": "sent",
        "requestHash": "bench",
        "groupId": "8c291050-9be8-45d6-97f5-bb7013930027",
        "actionType": "Survey",
        "actionPackageId": "",
        "template": "",
        "regardingEntity": "opportunity",
        "regardingId": str(uuid.UUID(int=n)),
        "regardingName": "Bench",
        "title": "Bench survey",
        "createdAt": _int64(now_ms),
        "createdUs": _int64(now_ms * 1000 + n),
        "sendingAt": _int64(now_ms),
        "sentAt": _int64(now_ms),
        "attempts": 0,
        "lastError": "",
        "actionId": str(uuid.UUID(int=n + 1)),
        "referenceId": "",
        **blob,
    }


async def seed(conn: str, table: str, rows: list[dict[str, Any]]) -> float:
    """Rows straight into Azurite: batches of one partition where rows share one, else single
    inserts; the seconds it took."""
    started = time.monotonic()
    async with TableServiceClient.from_connection_string(conn) as service:
        await service.create_table_if_not_exists(table)
        client = service.get_table_client(table)
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(str(row["PartitionKey"]), []).append(row)
        gate = asyncio.Semaphore(BATCHES_AT_ONCE if len(groups) < len(rows) else INSERTS_AT_ONCE)

        async def one(group: list[dict[str, Any]]) -> None:
            async with gate:
                for i in range(0, len(group), BATCH):
                    chunk = group[i : i + BATCH]
                    if len(chunk) == 1:
                        await client.create_entity(chunk[0])
                    else:
                        await client.submit_transaction([("create", r) for r in chunk])

        await asyncio.gather(*(one(g) for g in groups.values()))
        await client.close()
    return time.monotonic() - started


async def mark_indexed(rt: Runtime, now_ms: int) -> None:
    """The marker as a deployment past its migration has it (through the index's own API)."""
    for kind in ("inbox", "sending"):
        index = DueIndex(rt.tables, kind)
        await index.migration_due(now_ms - MIGRATION_GRACE_MS - 1)
        await index.migration_ran(now_ms, complete=True)


async def add_pending(rt: Runtime, raw: bytes, now_ms: int) -> None:
    """Rows through the store, with their entries: 10 backing off, 5 due now (orphans)."""
    event = json.loads(raw)
    for n in range(BACKING_OFF + DUE):
        event_id = f"bench-pending-{n}"
        _, inserted = await rt.inbox_store.add(
            raw,
            event_id=event_id,
            event_type="SurveyResponse",
            action_id=f"bench-uncorrelated-{n % 3}",
            response_id=f"bench-pending-response-{n}",
            pending=True,
            received_at=now_ms,
            responded_at=now_ms,
            next_attempt_at=now_ms + 1_800_000 if n < BACKING_OFF else now_ms - 1,
            event=event,
        )
        assert inserted


@dataclass
class Size:
    """One table size: its own prefix, and two runtimes on it (direct, and through the proxy)."""

    rows: int
    actions: bool
    prefix: str
    out: dict[str, Any] = field(default_factory=dict)
    direct: Runtime | None = None
    counted: Runtime | None = None

    @property
    def name(self) -> str:
        return label(self.rows)

    def runtimes(self) -> tuple[Runtime, Runtime]:
        assert self.direct is not None and self.counted is not None
        return self.direct, self.counted


async def drain_query(rt: Runtime, table: str, filter_: str, params: dict[str, Any]) -> int:
    return len([s async for s in rt.tables.query(table, filter_, params)])


async def seed_size(conn: str, size: Size, now: int, raw: bytes, say: Say) -> None:
    done = size.rows - BACKING_OFF - DUE
    say(f"sweeps {size.name}: seeding {done} done inbox rows")
    blob = pack_blob(raw)
    rows = [inbox_row(n, now, blob) for n in range(done)]
    size.out["seed_inbox_s"] = await seed(conn, f"{size.prefix}inbox", rows)
    if size.actions:
        say(f"sweeps {size.name}: seeding {size.rows} sent actions (single inserts)")
        body = pack_blob(b'{"title": "Bench survey", "questions": []}', "Body")
        actions = [action_row(n, now, body) for n in range(size.rows)]
        size.out["seed_actions_s"] = await seed(conn, f"{size.prefix}actions", actions)


async def open_size(conn: str, proxy_port: int, size: Size, now: int, raw: bytes) -> None:
    """The runtimes; the marker set, the pending rows added, each runtime's first runs done."""
    values = {"AzureWebJobsStorage": conn, "TABLE_NAME_PREFIX": size.prefix}
    size.direct = Runtime(Settings.from_env(values))
    size.counted = Runtime(
        Settings.from_env({**values, "AzureWebJobsStorage": connection_string(proxy_port)})
    )
    direct, counted = size.runtimes()
    await mark_indexed(direct, now)
    await add_pending(direct, raw, now)
    for rt in (direct, counted):  # each instance's first runs read the marker
        await sweep_inbox(rt.inbound, expire=False)
        await rt.outbound.drain(max_seconds=5)
    size.out["due_rows_swept"] = await drain_query(direct, "inbox", "status eq 'orphan'", {})
    assert size.out["due_rows_swept"] == DUE
    for name in ("inbox", "actions"):  # so that no count includes a table's creation
        await counted.tables.table(name)


Job = Callable[[Runtime], Awaitable[object]]


def jobs(now: int) -> dict[str, tuple[Job, bool]]:
    """What is measured: name -> (the job on a runtime, whether it needs the actions table)."""

    async def idle(rt: Runtime) -> None:
        report = await sweep_inbox(rt.inbound, expire=False)
        assert report.found == 0, report.as_dict()

    old = "status eq @pending and nextAttemptAt le @now"
    stale = "status eq 'sending' and sendingAt lt @cutoff"
    return {
        "idle": (idle, False),
        "old_scan": (
            lambda rt: drain_query(rt, "inbox", old, {"pending": "pending", "now": now}),
            False,
        ),
        "retention_scan": (lambda rt: rt.inbox_store.expire(now - RETENTION_MS), False),
        "drain": (lambda rt: rt.outbound.drain(max_seconds=5), True),
        "sending_old_scan": (lambda rt: drain_query(rt, "actions", stale, {"cutoff": now}), True),
        "backfill_scan": (lambda rt: rt.actions_store.sent_since(now - BACKFILL_MS), True),
        "actions_retention_scan": (lambda rt: rt.actions_store.expire(now - RETENTION_MS), True),
    }


async def measure(
    sizes: list[Size], name: str, job: Job, rounds: int, proxy: CountingProxy, pid: int
) -> None:
    """`rounds` timed runs per size, the sizes interleaved (each round in a rotated order, so a
    busy moment of the machine falls on every size alike), then counted runs."""
    for size in sizes:
        size.out[name] = {"ms": [], "azurite_cpu_ms": 0.0, "requests": []}
    for r in range(rounds):
        for size in sizes[r % len(sizes) :] + sizes[: r % len(sizes)]:
            cpu = cpu_seconds({"azurite": [pid]})["azurite"]
            started = time.perf_counter()
            await job(size.runtimes()[0])
            size.out[name]["ms"].append((time.perf_counter() - started) * 1000)
            size.out[name]["azurite_cpu_ms"] += (
                (cpu_seconds({"azurite": [pid]})["azurite"] - cpu) * 1000 / rounds
            )
    for size in sizes:
        for _ in range(COUNTED):
            before = proxy.snapshot()
            await job(size.runtimes()[1])
            size.out[name]["requests"].append(sum((proxy.snapshot() - before).values()))


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def figures_of(sizes: list[dict[str, Any]]) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    by = {label(s["rows"]): s for s in sizes}
    for key, s in by.items():
        figures[f"sweeps.inbox.idle_ms.{key}"] = figure(
            "ms", s["idle"]["ms"], what=f"one idle process_inbox run over {s['rows']} inbox rows"
        )
        figures[f"sweeps.inbox.idle_requests.{key}"] = figure(
            "requests", s["idle"]["requests"], what="HTTP requests reaching Azurite per idle run"
        )
        figures[f"sweeps.inbox.idle_azurite_cpu_ms.{key}"] = figure(
            "CPU ms", [s["idle"]["azurite_cpu_ms"]], what="Azurite CPU per idle run"
        )
        for name, what in (
            ("old_scan", "the filter process_inbox used before the index (status, nextAttemptAt)"),
            ("retention_scan", "the hourly inbox retention scan (receivedAt), nothing to delete"),
        ):
            figures[f"sweeps.inbox.{name}_ms.{key}"] = figure("ms", s[name]["ms"], what=what)
        figures[f"sweeps.inbox.seed_s.{key}"] = figure(
            "s", [s["seed_inbox_s"]], what="seeding the inbox (entity-group transactions)"
        )
    first, last = by[label(sizes[0]["rows"])], by[label(sizes[-1]["rows"])]
    ratio = _median(last["idle"]["ms"]) / _median(first["idle"]["ms"])
    figures[f"sweeps.inbox.idle_ratio_{label(last['rows'])}_vs_{label(first['rows'])}"] = figure(
        "ratio",
        [ratio],
        what="median idle run at the largest size / at the smallest",
        aim=f"<= {RATIO_AIM}",
        met=ratio <= RATIO_AIM,
    )
    requests = [r for s in sizes for r in s["idle"]["requests"]]
    figures["sweeps.inbox.idle_requests_constant"] = figure(
        "requests",
        requests,
        what="requests of every counted idle run, all sizes",
        aim="the same at every size",
        met=len(set(requests)) == 1,
    )
    with_actions = [s for s in sizes if "drain" in s]
    for s in with_actions:
        key = label(s["rows"])
        figures[f"sweeps.sending.idle_drain_ms.{key}"] = figure(
            "ms", s["drain"]["ms"], what=f"one idle drain_outbox run over {s['rows']} actions"
        )
        figures[f"sweeps.sending.idle_drain_requests.{key}"] = figure(
            "requests", s["drain"]["requests"], what="HTTP requests reaching Azurite per run"
        )
        for name, what in (
            ("sending_old_scan", "the stale-sending filter used before the index"),
            ("backfill_scan", "the hourly backfill's sent_since (at most 5,000 rows)"),
            ("actions_retention_scan", "the hourly actions retention scan, nothing to delete"),
        ):
            figures[f"sweeps.sending.{name}_ms.{key}"] = figure("ms", s[name]["ms"], what=what)
    if with_actions:
        drain_requests = [r for s in with_actions for r in s["drain"]["requests"]]
        figures["sweeps.sending.idle_drain_requests_constant"] = figure(
            "requests",
            drain_requests,
            what="requests of every counted idle drain run, all sizes",
            aim="the same at every size",
            met=len(set(drain_requests)) == 1,
        )
    return figures


async def _run(inbox_sizes: Sequence[int], action_sizes: Sequence[int], say: Say) -> list[Any]:
    now = int(time.time() * 1000)
    raw = _sample()
    tag = uuid.uuid4().hex[:6]
    sizes = [Size(n, n in action_sizes, f"sw{label(n)}{tag}") for n in inbox_sizes]
    with Azurite() as azurite:
        for size in sizes:
            await seed_size(azurite.connection_string, size, now, raw, say)
        gc.collect()  # the seeding's garbage, before anything is timed
        proxy = await CountingProxy(azurite.table_port).start()
        pid = azurite.proc.pid if azurite.proc else 0
        try:
            for size in sizes:
                await open_size(azurite.connection_string, proxy.port, size, now, raw)
            for name, (job, needs_actions) in jobs(now).items():
                chosen = [s for s in sizes if s.actions or not needs_actions]
                say(f"sweeps: {name} over {', '.join(s.name for s in chosen)}")
                if name in ("idle", "drain"):
                    for size in chosen:  # warm-up, discarded
                        for _ in range(WARMUP):
                            await job(size.runtimes()[0])
                await measure(
                    chosen, name, job, TIMED if name in ("idle", "drain") else SCANS, proxy, pid
                )
        finally:
            for size in sizes:
                for rt in (size.direct, size.counted):
                    if rt is not None:
                        await rt.aclose()
            await proxy.stop()
    return [{"rows": s.rows, **s.out} for s in sizes]


def run_sweeps(quick: bool, say: Say) -> dict[str, Any]:
    """The sweep-scaling figures and their details (for bench/run.py or this module's CLI)."""
    started = time.monotonic()
    inbox_sizes, action_sizes = (
        (QUICK_INBOX, QUICK_ACTIONS) if quick else (FULL_INBOX, FULL_ACTIONS)
    )
    sizes = asyncio.run(_run(inbox_sizes, action_sizes, say))
    return {
        "figures": figures_of(sizes),
        "sizes": sizes,
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sweeps", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1k and 10k rows only")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    def say(text: str) -> None:
        print(f"[bench] {text}", flush=True)

    result = run_sweeps(args.quick, say)
    print_figures(merge_part(args.out, "sweeps", result, quick=args.quick))
    say(f"wrote {args.out} in {result['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
