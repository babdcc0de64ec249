"""Failures around the sweeper: a claim lost to another instance, a corrupt stored event, an
unreachable forward sink, the hourly expiry, and log redaction installed by the runtime."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devtools.dataverse_sim import SimState
from devtools.serving import ServerThread, free_port
from shared.adapters.tables import TableStore, pack_blob
from shared.config import Settings
from shared.logsafe import RedactRequestUrls
from shared.runtime import Runtime
from shared.services.inbound import accept_event, sweep_inbox
from shared.services.inbound.deps import ExpirySchedule
from shared.services.inbound.sweeper import CLAIM_MS
from shared.stores.inbox import DueRow, InboxStore
from tests.inbound.conftest import (
    Clock,
    Receiver,
    correlate,
    forwarding_runtime,
    post_event,
    row_of,
    rows,
    sample,
    signed_url,
    sim_tasks,
    survey_event,
)
from tests.support import body_json, run_timer

ROOT = Path(__file__).resolve().parents[2]


class ContendedInbox(InboxStore):
    """Another instance's sweeper claims every due row between this one's query and its claim."""

    def __init__(self, tables: TableStore) -> None:
        super().__init__(tables)
        self.other = InboxStore(tables)

    async def due(self, now_ms: int, limit: int) -> list[DueRow]:
        found = await super().due(now_ms, limit)
        for row in found:
            assert await self.other.claim(row, now_ms + CLAIM_MS)
        return found


async def test_a_claim_lost_to_another_sweeper_is_left_to_it(
    rt: Runtime, token: str, sim: SimState, clock: Clock
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    deps = dataclasses.replace(rt.inbound, inbox=ContendedInbox(rt.tables))
    events = [survey_event(action_id) for _ in range(2)]
    for event in events:
        await accept_event(deps, json.dumps(event).encode(), token)
    clock.advance(61)

    report = await sweep_inbox(deps)

    # Its claims fail on the ETag the rows were read with: nothing processed twice.
    assert (report.found, report.claimed, report.outcomes) == (2, 0, {})
    assert sim.stats()["requests"] == 0
    for event in events:
        row = await row_of(rt.tables, event["eventId"])
        assert (row["status"], row["attempts"]) == ("pending", 0)
        assert row["nextAttemptAt"] == deps.now_ms() + CLAIM_MS  # the other instance's claim


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (pack_blob(b"not json {"), "the stored event is not JSON"),
        (pack_blob(b"[1, 2]"), "the stored event is not a JSON object"),
        ({"BodyChunks": 1, "Body0": b"not zlib data"}, "the stored event cannot be unpacked"),
    ],
)
async def test_a_corrupt_stored_event_is_dead_with_the_reason(
    rt: Runtime,
    token: str,
    sim: SimState,
    clock: Clock,
    body: dict[str, object],
    reason: str,
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    event = survey_event(action_id)
    accepted = await accept_event(rt.inbound, json.dumps(event).encode(), token)
    key = {"PartitionKey": accepted.partition_key, "RowKey": accepted.row_key}
    assert await rt.tables.update("inbox", {**key, **body}, "*")  # the stored event rots
    clock.advance(61)

    report = await sweep_inbox(rt.inbound)

    assert report.outcomes == {"dead": 1}
    row = await row_of(rt.tables, event["eventId"])
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert row["lastError"] == f"_PermanentEventError: {reason}"
    assert sim.stats()["requests"] == 0
    clock.advance(7200)
    assert (await sweep_inbox(rt.inbound)).found == 0  # dead rows are not retried


async def test_unreachable_forward_sink_keeps_the_delivery_pending_until_it_is_back(
    inbound_env: dict[str, str], sim: SimState, clock: Clock
) -> None:
    port = free_port()  # nothing listens here yet
    url = signed_url(f"http://127.0.0.1:{port}")
    async with forwarding_runtime(inbound_env, url, clock) as (runtime, value):
        action_id = str(uuid.uuid4())
        await correlate(runtime.tables, action_id)
        event = survey_event(action_id)
        assert body_json(await post_event(event, value))["status"] == "accepted"
        # The event is done (its activity written); the forward is a delivery of its own.
        assert (await row_of(runtime.tables, event["eventId"]))["status"] == "done"
        assert len(sim_tasks(sim)) == 1
        await run_timer("deliver_flow_responses")
        view = await runtime.flows.overview()
        assert view["subscriptions"][0]["deliveries"] == {"pending": 1, "delivered": 0, "dead": 0}
        # The error names the failure, never the (signed) URL.
        assert url not in json.dumps(view)

        sink = Receiver()
        server = ServerThread(sink.app, port=port).start()
        try:
            clock.advance(3600)
            await run_timer("deliver_flow_responses")
        finally:
            server.stop()
        assert [b["eventId"] for b in sink.received] == [event["eventId"]]
        assert len(sim_tasks(sim)) == 1  # the same activity, written again


class Timer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_old_rows_are_expired_at_most_hourly_per_process(
    rt: Runtime, token: str, clock: Clock
) -> None:
    timer = Timer()
    deps = rt.inbound
    deps.expiry = ExpirySchedule(monotonic=timer)

    async def an_old_row() -> None:
        event = sample("text_message_created")
        event["eventId"] = str(uuid.uuid4())
        await accept_event(deps, json.dumps(event).encode(), token)
        clock.advance(31 * 86400)  # older than RETENTION_DAYS (30) from now on

    await an_old_row()
    assert (await sweep_inbox(deps)).expired == 1
    await an_old_row()
    timer.now += 3599
    assert (await sweep_inbox(deps)).expired == 0  # expired less than an hour ago
    timer.now += 1
    assert (await sweep_inbox(deps)).expired == 1
    assert await rows(rt.tables) == []


def test_importing_the_inbound_half_installs_no_log_filter() -> None:
    code = (
        "import logging, functions.webhooks, shared.services.inbound, shared.adapters.forward;"
        "print(len(logging.getLogger('httpx').filters))"
    )
    out = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "0"


def test_the_runtime_installs_url_redaction_once(inbound_env: dict[str, str]) -> None:
    httpx_log = logging.getLogger("httpx")

    def installed() -> int:
        return sum(isinstance(f, RedactRequestUrls) for f in httpx_log.filters)

    before = [f for f in httpx_log.filters if isinstance(f, RedactRequestUrls)]
    for f in before:
        httpx_log.removeFilter(f)
    try:
        assert installed() == 0
        Runtime(Settings.from_env(inbound_env))
        assert installed() == 1
        Runtime(Settings.from_env(inbound_env))
        assert installed() == 1
    finally:
        for extra in list(httpx_log.filters):
            if isinstance(extra, RedactRequestUrls):
                httpx_log.removeFilter(extra)
        for f in before:
            httpx_log.addFilter(f)
