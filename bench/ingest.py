"""Webhook ingestion: the local host over HTTP, the storage/Dataverse baseline, and counts.

Three measurements of one response event, interleaved round by round so that they see the same
machine state:
- `http`: POST /api/kaizala/webhook to the host process (Azurite and the Dataverse simulator
  behind it), acknowledgement latency at the client;
- `baseline`: what the event needs from its dependencies, done directly from this process:
  an azure-data-tables insert and merge-update of an inbox-shaped entity (same properties,
  same compressed raw event) in the same Azurite, and an httpx PATCH of a task with the same body
  the bridge sends, to the same Dataverse simulator, sequentially;
- `inproc`: the same function invoked in this process (a real azure.functions.HttpRequest, the
  same Azurite tables, secret file and simulators), i.e. the bridge without the HTTP hop.
Plus a validation-echo round trip (GET ?validationToken=) for the host's own HTTP overhead.

Counting (in-process, since a counter cannot be put inside the host process): a wrapper around
the runtime's TableStore (calls), a counting proxy in front of Azurite (HTTP requests on the wire),
a wrapper around the runtime's secret store (reads), the Kaizala simulator's call log and the
Dataverse simulator's request counter.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
import httpx
from azure.core import MatchConditions
from azure.data.tables import EdmType, EntityProperty, TableClient, UpdateMode
from azure.data.tables.aio import TableServiceClient

from bench.harness import (
    BenchStack,
    EventFactory,
    Prepared,
    Sim,
    cpu_seconds,
    dataverse_stats,
    settings_values,
    stack_processes,
)
from bench.stats import Figure, figure, latency_summary
from bench.wire import CountingProxy, HttpConnection
from devtools.azurite import connection_string
from shared.adapters.dataverse import activity_id_for, regarding_bind_property
from shared.adapters.secrets import LocalFileSecretStore, Secret
from shared.adapters.tables import pack_blob
from shared.config import Settings
from shared.domain.correlation import Correlation
from shared.domain.rendering import activity_fields
from shared.domain.responses import normalise_response
from shared.runtime import Runtime, set_runtime
from shared.services.inbound import INLINE_GRACE_MS, sweep_inbox
from shared.stores.inbox import InboxItem

WEBHOOK = "/api/kaizala/webhook"
RUN_TIMEOUT_SECONDS = 90.0
INT32 = range(-(2**31), 2**31)


@dataclass
class Plan:
    rounds: int = 5  # baseline / in-process / HTTP c=1, interleaved
    c1_events: int = 100
    baseline_events: int = 60
    inproc_events: int = 60
    echo_requests: int = 100
    concurrency_runs: int = 3
    events_at: dict[int, int] = field(default_factory=lambda: {4: 200, 16: 400})
    count_events: int = 20
    warmup_events: int = 30


# ---- HTTP driver ---------------------------------------------------------------------------------


@dataclass
class HttpRun:
    concurrency: int
    events: int
    wall_seconds: float
    latencies: list[float]
    failures: Counter[str]
    cpu_ms_per_event: dict[str, float] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        return self.events / self.wall_seconds

    def describe(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "events": self.events,
            "wall_s": round(self.wall_seconds, 4),
            "events_per_s": round(self.events_per_second, 2),
            **latency_summary(self.latencies),
            "failures": dict(self.failures),
            "cpu_ms_per_event": {k: round(v, 3) for k, v in self.cpu_ms_per_event.items()},
        }


async def drive(port: int, bodies: Sequence[bytes], token: str, concurrency: int) -> HttpRun:
    """POST every body, `concurrency` at a time, over as many keep-alive connections."""
    headers = (("Content-Type", "application/json"), ("kz-callback-token", token))
    conns = [HttpConnection("127.0.0.1", port) for _ in range(concurrency)]
    await asyncio.gather(*(c.connect() for c in conns))
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
    try:
        await asyncio.wait_for(asyncio.gather(*(worker(c) for c in conns)), RUN_TIMEOUT_SECONDS)
    finally:
        wall = time.perf_counter() - started
        await asyncio.gather(*(c.close() for c in conns))
    return HttpRun(concurrency, len(bodies), wall, latencies, failures)


async def measured_drive(
    stack: BenchStack, bodies: Sequence[bytes], token: str, concurrency: int
) -> HttpRun:
    """`drive`, with the CPU each process of the stack (and this one) spent on the run."""
    processes = stack_processes(stack)
    before = cpu_seconds(processes)
    run = await drive(stack.ports.host, bodies, token, concurrency)
    after = cpu_seconds(processes)
    run.cpu_ms_per_event = {
        name: (after[name] - before[name]) * 1000 / run.events for name in before
    }
    run.cpu_ms_per_event["total"] = sum(run.cpu_ms_per_event.values())
    return run


async def echo_round_trips(port: int, count: int) -> list[float]:
    """GET ?validationToken=: the host's HTTP path with no storage or Dataverse behind it."""
    conn = HttpConnection("127.0.0.1", port)
    samples = []
    try:
        for n in range(count):
            started = time.perf_counter()
            status, body = await conn.request("GET", f"{WEBHOOK}?validationToken=bench{n}")
            samples.append(time.perf_counter() - started)
            if status != 200 or body != f"bench{n}".encode():
                raise RuntimeError(f"validation echo failed: {status} {body[:80]!r}")
    finally:
        await conn.close()
    return samples


# ---- baseline: the dependencies alone --------------------------------------------------------


def _table_value(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value not in INT32:
        return EntityProperty(value, EdmType.INT64)
    return value


def dataverse_mix(before: Mapping[str, Any], after: Mapping[str, Any], events: int) -> list[str]:
    """The Dataverse requests one event made, in order, from the simulator's counters.

    `byMethodStatus` deltas over `events` warm-up events, e.g. {"PATCH 204": 30} → ["PATCH"],
    or {"GET 404": 30, "PATCH 204": 30} → ["GET", "PATCH"] (a read before a conditional write).
    """
    delta: Counter[str] = Counter()
    for key, n in after["byMethodStatus"].items():
        delta[key.split()[0]] += n - before["byMethodStatus"].get(key, 0)
    per_event = {method: round(n / events) for method, n in delta.items() if n > 0}
    if set(per_event) - {"GET", "PATCH"} or per_event.get("PATCH") != 1:
        raise RuntimeError(f"unexpected Dataverse requests per event: {dict(delta)}/{events}")
    return ["GET"] * per_event.get("GET", 0) + ["PATCH"]


class Baseline:
    """Direct insert + update (azure-data-tables) and the event's Dataverse requests (httpx)."""

    TABLE = "benchbaseline"

    def __init__(
        self,
        stack: BenchStack,
        prepared: Prepared,
        factory: EventFactory,
        dataverse_requests: Sequence[str] = ("PATCH",),
    ) -> None:
        self.dataverse_requests = list(dataverse_requests)
        self._stack = stack
        self._prepared = prepared
        self._factory = factory
        self._service = TableServiceClient.from_connection_string(stack.storage)
        self._table = self._service.get_table_client(self.TABLE)
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        values = settings_values(stack)
        self._dv_token = values["DATAVERSE_STATIC_TOKEN"]
        self._entity_set = values.get("DATAVERSE_ACTIVITY_SET", "tasks")
        self._correlation: Correlation | None = None
        self.body_bytes = 0
        self.entity_bytes = 0
        self.cpu_ms = 0.0

    async def start(self) -> None:
        await self._service.create_table_if_not_exists(self.TABLE)
        # The real correlation row, as the bridge reads it, so the PATCH body is the bridge's.
        prefix = settings_values(self._stack).get("TABLE_NAME_PREFIX", "kb")
        index = self._service.get_table_client(f"{prefix}actionindex")
        row = await index.get_entity(self._prepared.action_id, "c")
        await index.close()
        self._correlation = Correlation.from_entity(self._prepared.action_id, dict(row))

    def _one(self) -> tuple[dict[str, Any], dict[str, Any], str, bytes]:
        assert self._correlation is not None
        event = self._factory.event()
        raw = json.dumps(event).encode("utf-8")
        now = int(time.time() * 1000)
        data = event["data"]
        entity = {
            "PartitionKey": data["actionId"],
            "RowKey": event["eventId"],
            "eventId": event["eventId"],
            "eventType": event["eventType"],
            "actionId": data["actionId"],
            "responseId": data["responseId"],
            "status": "pending",
            "attempts": 0,
            "receivedAt": now,
            "nextAttemptAt": now + INLINE_GRACE_MS,
            **pack_blob(raw),
        }
        item = InboxItem(entity["PartitionKey"], entity["RowKey"], event, 0, now)
        response = normalise_response(item, self._correlation)
        activity_id = activity_id_for(data["responseId"])
        bind = regarding_bind_property(self._entity_set, self._correlation.regarding_entity)
        body = {
            **activity_fields(response),
            bind: f"/opportunities({self._correlation.regarding_id})",
        }
        content = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        done = {
            "PartitionKey": entity["PartitionKey"],
            "RowKey": entity["RowKey"],
            "status": "done",
            "attempts": 1,
            "lastAttemptAt": now,
            "processedAt": now,
            "activityId": str(activity_id),
            "lastError": "",
        }
        url = f"{self._stack.dataverse_url}/api/data/v9.2/{self._entity_set}({activity_id})"
        self.body_bytes = len(content)
        self.entity_bytes = len(raw)
        return (
            {k: _table_value(v) for k, v in entity.items()},
            {k: _table_value(v) for k, v in done.items()},
            url,
            content,
        )

    async def run(self, count: int) -> list[float]:
        """Per-event wall times; `self.cpu_ms` is this thread's CPU per event."""
        headers = {
            "Authorization": f"Bearer {self._dv_token}",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "Accept": "application/json",
            "Content-Type": "application/json; charset=utf-8",
        }
        work = [self._one() for _ in range(count)]
        samples = []
        cpu0 = time.thread_time()
        reads = self.dataverse_requests.count("GET")
        read_headers = {k: v for k, v in headers.items() if k != "Content-Type"}
        for entity, done, url, content in work:
            started = time.perf_counter()
            await self._table.create_entity(entity)
            for _ in range(reads):  # the activity read before the write (404: a new activity)
                found = await self._http.get(f"{url}?$select=description", headers=read_headers)
                if found.status_code not in (200, 404):
                    raise RuntimeError(f"baseline GET answered {found.status_code}")
            answer = await self._http.patch(url, content=content, headers=headers)
            await self._table.update_entity(
                done, mode=UpdateMode.MERGE, etag="*", match_condition=MatchConditions.IfNotModified
            )
            samples.append(time.perf_counter() - started)
            if answer.status_code != 204:
                raise RuntimeError(f"baseline PATCH answered {answer.status_code}")
        self.cpu_ms = (time.thread_time() - cpu0) * 1000 / count
        return samples

    async def close(self) -> None:
        await self._table.close()
        await self._service.close()
        await self._http.aclose()


# ---- in-process invocation, with counters ---------------------------------------------------


class CountingSecretStore:
    """The runtime's secret store, counting every call (a Key Vault read in Azure)."""

    def __init__(self, inner: LocalFileSecretStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    @property
    def reads(self) -> int:
        return sum(n for k, n in self.calls.items() if not k.startswith("set "))

    async def get(self, name: str) -> Secret | None:
        self.calls[f"get {name}"] += 1
        return await self.inner.get(name)

    async def set(self, name: str, value: str, tags: Mapping[str, str] | None = None) -> Secret:
        self.calls[f"set {name}"] += 1
        return await self.inner.set(name, value, tags)

    async def versions(self, name: str, limit: int = 3) -> list[Secret]:
        self.calls[f"versions {name}"] += 1
        return await self.inner.versions(name, limit)

    async def close(self) -> None:
        await self.inner.close()


def count_table_calls(rt: Runtime) -> list[str]:
    """Wrap the runtime's TableStore methods; returns the live list of `method table` calls."""
    store = rt.tables
    calls: list[str] = []

    def wrap_async(name: str) -> None:
        original: Callable[..., Awaitable[Any]] = getattr(store, name)

        async def counted(table: str, *args: Any, **kwargs: Any) -> Any:
            calls.append(f"{name} {table}")
            return await original(table, *args, **kwargs)

        setattr(store, name, counted)

    for name in ("insert", "get", "update", "upsert", "delete"):
        wrap_async(name)
    original_query = store.query

    def counted_query(table: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(f"query {table}")
        return original_query(table, *args, **kwargs)

    setattr(store, "query", counted_query)  # noqa: B010 - instance attribute on purpose
    return calls


@functools.cache
def function_index() -> dict[str, Any]:
    """function_app's index (app.get_functions() may run once per app object)."""
    import function_app

    return {str(f.get_function_name()): f for f in function_app.app.get_functions()}


class InProcess:
    """The kaizala_webhook function called in this process, as the Python worker would."""

    def __init__(self, values: Mapping[str, str], store: CountingSecretStore | None = None) -> None:
        self.runtime = Runtime(Settings.from_env(values), secret_store=store)
        self.cpu_ms = 0.0
        self._fn = function_index()["kaizala_webhook"].get_user_function()

    @staticmethod
    def request(body: bytes, token: str) -> func.HttpRequest:
        return func.HttpRequest(
            method="POST",
            url=f"http://127.0.0.1{WEBHOOK}",
            headers={"content-type": "application/json", "kz-callback-token": token},
            params={},
            route_params={},
            body=body,
        )

    async def invoke(self, req: func.HttpRequest) -> None:
        set_runtime(self.runtime)
        result = self._fn(req)
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, func.HttpResponse)
        if result.status_code != 200 or b'"accepted"' not in result.get_body():
            raise RuntimeError(f"in-process webhook answered {result.status_code}")

    async def timed(self, bodies: Sequence[bytes], token: str) -> list[float]:
        requests = [self.request(b, token) for b in bodies]
        samples = []
        cpu0 = time.thread_time()
        for req in requests:
            started = time.perf_counter()
            await self.invoke(req)
            samples.append(time.perf_counter() - started)
        self.cpu_ms = (time.thread_time() - cpu0) * 1000 / len(requests)
        return samples

    async def close(self) -> None:
        set_runtime(None)
        await self.runtime.aclose()


async def count_per_event(
    stack: BenchStack, prepared: Prepared, factory: EventFactory, sim: Sim, events: int
) -> dict[str, Any]:
    """Cold first event, then `events` warm ones, each counted on its own."""
    proxy = await CountingProxy(stack.ports.table).start()
    values = settings_values(stack, AzureWebJobsStorage=connection_string(proxy.port))
    store = CountingSecretStore(LocalFileSecretStore(values["LOCAL_SECRETS_PATH"]))
    inproc = InProcess(values, store)
    table_calls = count_table_calls(inproc.runtime)
    # A new runtime has an empty correlation cache: the first event is a cold instance's.
    per_event: list[dict[str, Any]] = []
    try:
        for _ in range(events + 1):
            req = InProcess.request(json.dumps(factory.event()).encode(), prepared.callback_token)
            wire_before, secrets_before = proxy.snapshot(), Counter(store.calls)
            tables_before = len(table_calls)
            seq, dv_before = sim.last_seq(), dataverse_stats(stack)["requests"]
            await inproc.invoke(req)  # the proxy counts a request before forwarding it
            per_event.append(
                {
                    "table_calls": table_calls[tables_before:],
                    "azurite_requests": dict(proxy.snapshot() - wire_before),
                    "secret_store_calls": dict(Counter(store.calls) - secrets_before),
                    "kaizala_calls": len(sim.calls_since(seq)),
                    "dataverse_requests": dataverse_stats(stack)["requests"] - dv_before,
                }
            )
        # The process_inbox timer's run (every minute) over the inbox as it now is, with nothing
        # due: what a steady stream of answered events leaves behind.
        sweeps = []
        deps = inproc.runtime.inbound
        for _ in range(3):
            wire_before = proxy.snapshot()
            started = time.perf_counter()
            report = await sweep_inbox(deps, expire=False)
            sweeps.append(
                {
                    "ms": (time.perf_counter() - started) * 1000,
                    "found": report.found,
                    "azurite_requests": sum((proxy.snapshot() - wire_before).values()),
                }
            )
    finally:
        await inproc.close()
        await proxy.stop()
    cold, warm = per_event[0], per_event[1:]

    def column(key: str) -> list[int]:
        return [
            len(e[key])
            if isinstance(e[key], list)
            else sum(n for k, n in e[key].items() if not k.startswith("set "))
            if isinstance(e[key], dict)
            else int(e[key])
            for e in warm
        ]

    return {
        "sweeps": sweeps,
        "cold_first_event": cold,
        "warm_events": len(warm),
        "warm_example": warm[-1],
        "warm": {
            "table_transactions": column("table_calls"),
            "azurite_requests": column("azurite_requests"),
            "secret_store_reads": column("secret_store_calls"),
            "kaizala_calls": column("kaizala_calls"),
            "dataverse_requests": column("dataverse_requests"),
        },
    }


# ---- the whole ingestion benchmark ------------------------------------------------------------


def _inbox_not_done(stack: BenchStack, action_id: str) -> int:
    prefix = settings_values(stack).get("TABLE_NAME_PREFIX", "kb")
    with TableClient.from_connection_string(stack.storage, f"{prefix}inbox") as table:
        rows = table.query_entities(
            "PartitionKey eq @pk and status ne @done",
            parameters={"pk": action_id, "done": "done"},
            select=["RowKey"],
        )
        return sum(1 for _ in rows)


def _inbox_rows(stack: BenchStack) -> int:
    prefix = settings_values(stack).get("TABLE_NAME_PREFIX", "kb")
    with TableClient.from_connection_string(stack.storage, f"{prefix}inbox") as table:
        return sum(1 for _ in table.list_entities(select=["RowKey"]))


async def run_ingestion(
    stack: BenchStack, prepared: Prepared, sim: Sim, plan: Plan, say: Callable[[str], None]
) -> dict[str, Any]:
    factory = EventFactory(prepared)
    token = prepared.callback_token
    port = stack.ports.host
    kaizala_seq = sim.last_seq()
    dv_before = dataverse_stats(stack)

    say(f"warm-up: {plan.warmup_events} events")
    warm = await drive(port, factory.bodies(plan.warmup_events), token, 4)
    if warm.failures:
        raise RuntimeError(f"warm-up failed: {dict(warm.failures)}")

    mix = dataverse_mix(dv_before, dataverse_stats(stack), plan.warmup_events)
    baseline = Baseline(stack, prepared, factory, mix)
    await baseline.start()
    await baseline.run(10)  # connections, table client
    inproc = InProcess(settings_values(stack))
    await inproc.timed(factory.bodies(10), token)  # connections, caches

    rounds: list[dict[str, Any]] = []
    http_runs: dict[int, list[HttpRun]] = {1: []}
    try:
        for n in range(plan.rounds):
            base = await baseline.run(plan.baseline_events)
            local = await inproc.timed(factory.bodies(plan.inproc_events), token)
            echo = await echo_round_trips(port, plan.echo_requests // plan.rounds)
            c1 = await measured_drive(stack, factory.bodies(plan.c1_events), token, 1)
            http_runs[1].append(c1)
            rounds.append(
                {
                    "baseline_ms": statistics.median(base) * 1000,
                    "inproc_ms": statistics.median(local) * 1000,
                    "echo_ms": statistics.median(echo) * 1000,
                    "http_c1_ms": statistics.median(c1.latencies) * 1000,
                    "baseline_cpu_ms": baseline.cpu_ms,
                    "inproc_cpu_ms": inproc.cpu_ms,
                    "baseline": latency_summary(base),
                    "inproc": latency_summary(local),
                    "echo": latency_summary(echo),
                    "http_c1": c1.describe(),
                }
            )
            say(
                f"round {n + 1}/{plan.rounds}: baseline {rounds[-1]['baseline_ms']:.2f} ms, "
                f"in-process {rounds[-1]['inproc_ms']:.2f} ms, HTTP c=1 "
                f"{rounds[-1]['http_c1_ms']:.2f} ms, echo {rounds[-1]['echo_ms']:.2f} ms"
            )
    finally:
        await baseline.close()
        await inproc.close()

    for concurrency, events in plan.events_at.items():
        http_runs[concurrency] = []
        for n in range(plan.concurrency_runs):
            run = await measured_drive(stack, factory.bodies(events), token, concurrency)
            http_runs[concurrency].append(run)
            say(
                f"c={concurrency} run {n + 1}/{plan.concurrency_runs}: "
                f"{run.events_per_second:.1f} events/s, p50 "
                f"{latency_summary(run.latencies)['p50_ms']:.1f} ms, p99 "
                f"{latency_summary(run.latencies)['p99_ms']:.1f} ms"
            )

    http_events = warm.events + sum(r.events for runs in http_runs.values() for r in runs)
    inproc_events = 10 + plan.rounds * plan.inproc_events
    baseline_events = 10 + plan.rounds * plan.baseline_events
    dv_after = dataverse_stats(stack)
    kaizala_calls = sim.calls_since(kaizala_seq)
    failures = sum(sum(r.failures.values()) for runs in http_runs.values() for r in runs)
    not_done = _inbox_not_done(stack, prepared.action_id)

    say(f"counting: 1 cold + {plan.count_events} warm events in-process")
    counts = await count_per_event(stack, prepared, factory, sim, plan.count_events)

    figures: dict[str, Figure] = {}
    for concurrency, runs in http_runs.items():
        key = f"webhook.http.c{concurrency}"
        figures[f"{key}.events_per_s"] = figure(
            "events/s",
            [r.events_per_second for r in runs],
            what=f"acknowledged events per second at concurrency {concurrency} "
            f"({runs[0].events} events per run)",
            digits=2,
        )
        figures[f"{key}.p50_ms"] = figure(
            "ms",
            [latency_summary(r.latencies)["p50_ms"] for r in runs],
            what=f"p50 acknowledgement latency at concurrency {concurrency}",
        )
        figures[f"{key}.p99_ms"] = figure(
            "ms",
            [latency_summary(r.latencies)["p99_ms"] for r in runs],
            what=f"p99 acknowledgement latency at concurrency {concurrency}",
        )
    for concurrency in (1, max(http_runs)):
        runs = http_runs[concurrency]
        for name in runs[0].cpu_ms_per_event:
            figures[f"webhook.cpu_ms_per_event.c{concurrency}.{name}"] = figure(
                "CPU ms/event",
                [r.cpu_ms_per_event[name] for r in runs],
                what=f"CPU time of the {name} process(es) per event at concurrency "
                f"{concurrency} (/proc utime+stime; 'client' is this load generator)",
            )
    ratios = [r["http_c1_ms"] / r["baseline_ms"] for r in rounds]
    figures["webhook.baseline_ms"] = figure(
        "ms",
        [r["baseline_ms"] for r in rounds],
        what="median time of the event's storage and Dataverse calls alone: insert + update "
        f"(azure-data-tables, same Azurite) + {' + '.join(mix)} (httpx, same simulator, same "
        "body), sequential",
    )
    figures["webhook.inproc_ms"] = figure(
        "ms",
        [r["inproc_ms"] for r in rounds],
        what="median time of the kaizala_webhook function invoked in-process (no HTTP hop)",
    )
    figures["webhook.baseline_cpu_ms"] = figure(
        "CPU ms/event",
        [r["baseline_cpu_ms"] for r in rounds],
        what="CPU of this process's thread per baseline event: the Tables SDK (azure-core, "
        "aiohttp) and httpx client work alone",
    )
    figures["webhook.inproc_cpu_ms"] = figure(
        "CPU ms/event",
        [r["inproc_cpu_ms"] for r in rounds],
        what="CPU of this process's thread per in-process event: the bridge, the same client "
        "calls included",
    )
    figures["webhook.echo_ms"] = figure(
        "ms",
        [r["echo_ms"] for r in rounds],
        what="median round trip of GET ?validationToken= to the host (HTTP path, no I/O behind)",
    )
    figures["webhook.ratio_http_c1_vs_baseline"] = figure(
        "ratio",
        ratios,
        what="per-event time over HTTP at concurrency 1 (median) ÷ baseline (median), per round",
        aim="<= 1.3",
        met=statistics.median(ratios) <= 1.3,
    )
    figures["webhook.ratio_inproc_vs_baseline"] = figure(
        "ratio",
        [r["inproc_ms"] / r["baseline_ms"] for r in rounds],
        what="in-process invocation (median) ÷ baseline (median), per round: the bridge's own "
        "work without the HTTP hop",
    )
    warm_counts = counts["warm"]
    figures["webhook.storage_transactions_per_event"] = figure(
        "transactions/event",
        warm_counts["table_transactions"],
        what="TableStore calls per warm event (counting wrapper, in-process), one sample per event",
        # the due-index entry, inbox insert, the summary note's mark (one insert), inbox update,
        # the entry's deletion
        aim="5",
        met=max(warm_counts["table_transactions"]) == 5,
    )
    figures["webhook.azurite_requests_per_event"] = figure(
        "requests/event",
        warm_counts["azurite_requests"],
        what="HTTP requests that reached Azurite per warm event (counting proxy), one per event",
    )
    figures["webhook.secret_store_reads_per_event"] = figure(
        "reads/event",
        warm_counts["secret_store_reads"],
        what="secret-store (Key Vault in Azure) reads per warm event (wrapper), one per event",
        aim="0",
        met=max(warm_counts["secret_store_reads"]) == 0,
    )
    figures["webhook.kaizala_calls_per_event"] = figure(
        "calls/event",
        warm_counts["kaizala_calls"],
        what="Kaizala calls per warm event (simulator call log), one sample per in-process event",
        aim="0",
        met=max(warm_counts["kaizala_calls"]) == 0,
    )
    figures["webhook.dataverse_requests_per_event"] = figure(
        "requests/event",
        warm_counts["dataverse_requests"],
        what="Dataverse Web API requests per warm event (simulator counter), one per event",
    )
    figures["webhook.http.kaizala_calls_per_event"] = figure(
        "calls/event",
        [len(kaizala_calls) / http_events],
        what=f"Kaizala calls during all {http_events} HTTP events (simulator call log delta)",
        aim="0",
        met=not kaizala_calls,
    )
    inbox_rows = _inbox_rows(stack)
    figures["webhook.idle_sweep_ms"] = figure(
        "ms",
        [sw["ms"] for sw in counts["sweeps"]],
        what=f"one process_inbox run (the 1-minute timer) with nothing due, over an inbox of "
        f"{inbox_rows} rows (in-process; Azurite requests: "
        f"{[sw['azurite_requests'] for sw in counts['sweeps']]})",
        digits=1,
    )
    return {
        "figures": figures,
        "inbox_rows_at_end": inbox_rows,
        "rounds": rounds,
        "http_runs": {str(c): [r.describe() for r in runs] for c, runs in http_runs.items()},
        "checks": {
            "http_events": http_events,
            "inproc_events_timed": inproc_events,
            "http_failures": failures,
            "dataverse_writes": dv_after["writes"] - dv_before["writes"],
            "dataverse_writes_expected": http_events + inproc_events + baseline_events,
            "inbox_rows_not_done": not_done,
            "kaizala_calls_during_http_events": len(kaizala_calls),
        },
        "counts": counts,
        "sizes": {
            "event_bytes": baseline.entity_bytes,
            "dataverse_body_bytes": baseline.body_bytes,
        },
        "baseline_dataverse_requests": mix,
    }
