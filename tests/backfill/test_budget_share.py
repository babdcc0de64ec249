"""Backfill spends the shared budget and never holds sends back.

The first test is the Budget's spare share on Azurite with a fixed clock. The second runs a
queued burst of sends (`drain_outbox`) and a backfill run at the same time on virtual time: the
clock moves only when every participant sleeps (a discrete-event clock), so which slot each
Kaizala call falls in is exact, whatever the machine's speed. Every call is stamped with that
clock as it leaves the bridge.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from shared.adapters.tables import TableStore
from shared.config import Settings
from shared.runtime import Runtime, set_runtime
from shared.services.inbound.backfill import Backfill
from shared.stores.budget import Budget
from tests.backfill.conftest import MEMBERS, answer, send, survey
from tests.bridge_fixtures import OPPORTUNITY, SAMPLE_GROUP, KaizalaSim, bridge_env
from tests.support import body_json, call, request

BUDGET = 44  # calls per (shrunk, 1 s) window: 4 per 0.1 s slot, 2 of them spare
WINDOW = 1.0
BURST = 40
TARGETS = 4  # actions the backfill reads
T = TypeVar("T")


class FixedClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_spare_share_leaves_half_of_every_slot_to_sends(env: dict[str, str]) -> None:
    settings = Settings.from_env(env)
    tables = TableStore.from_settings(settings.storage, settings.table_prefix, None)
    clock = FixedClock(6000.0)  # the start of a slot
    try:
        budget = Budget(tables, 90, 60, clock=clock)
        assert (budget.per_slot, budget.spare_per_slot) == (8, 4)
        assert [await budget.try_acquire_spare() for _ in range(4)] == [0.0] * 4
        assert await budget.try_acquire_spare() > 0  # half the slot taken: no more for backfill
        assert [await budget.try_acquire() for _ in range(4)] == [0.0] * 4  # sends: the rest
        assert await budget.try_acquire() > 0
        clock.now += budget.slot_seconds  # the next slot: sends first, then nothing spare
        assert [await budget.try_acquire() for _ in range(4)] == [0.0] * 4
        assert await budget.try_acquire_spare() > 0
        assert await budget.try_acquire() == 0.0
    finally:
        await tables.close()


class VirtualTime:
    """Epoch seconds on a discrete-event clock: a sleeper wakes when every participant sleeps
    and its wake time is the earliest; each reading adds a microsecond (strict order)."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.participants = 0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        self.now += 1e-6
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._seq), future))
        self._advance()
        await future

    def _advance(self) -> None:
        if self._sleepers and len(self._sleepers) >= self.participants:
            wake, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            future.set_result(None)

    @contextmanager
    def participant(self) -> Iterator[None]:
        self.participants += 1
        try:
            yield
        finally:
            self.participants -= 1
            self._advance()

    async def run(self, work: Awaitable[T]) -> T:
        with self.participant():
            return await work

    def next_slot(self, slot_seconds: float) -> int:
        """Move to the start of the next slot; its number."""
        slot = math.floor(self.now / slot_seconds) + 1
        self.now = slot * slot_seconds
        return slot


class StampedTransport(httpx.AsyncBaseTransport):
    """The HTTP boundary to the simulator, logging each call with the bridge's clock."""

    def __init__(self, clock: VirtualTime) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.clock = clock
        self.calls: list[tuple[float, str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        at = self.clock()
        response = await self.inner.handle_async_request(request)
        self.calls.append((at, request.method, request.url.path, response.status_code))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.timeout(180)
async def test_burst_not_slowed_by_a_concurrent_backfill(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path
) -> None:
    kaizala.config(
        throttleWindowSeconds=1, connectorLimitPerWindow=100_000, tenantLimitPerWindow=100_000
    )
    values = bridge_env(
        env,
        kaizala,
        tmp_path,
        KAIZALA_CALLS_PER_MINUTE=str(BUDGET),
        KAIZALA_THROTTLE_WINDOW_SECONDS=str(WINDOW),
    )
    clock = VirtualTime(time.time())
    transport = StampedTransport(clock)
    rt = Runtime(Settings.from_env(values), kaizala_transport=transport, clock=clock)
    # Composition-root overrides: the budget and the backfill on the virtual clock's sleep.
    rt.budget = Budget(rt.tables, BUDGET, WINDOW, clock=clock, sleep=clock.sleep)
    rt.backfill = Backfill(
        rt.inbound,
        actions=rt.actions_store,
        outbox=rt.outbox,
        budget=rt.budget,
        kaizala=rt.kaizala,
        days=7,
        clock=clock,
        sleep=clock.sleep,
    )
    slot = rt.budget.slot_seconds
    set_runtime(rt)
    try:
        await rt.tokens.current()
        clock.next_slot(slot)
        targets = [(await send("Survey", survey(f"Target {n}")))[1] for n in range(TARGETS)]
        for action_id in targets:
            answer(kaizala, action_id, MEMBERS[0], ["Likely", "missed by the webhook"])

        # The burst queues: Kaizala throttles the first send, the rest queue behind it.
        clock.next_slot(slot)
        kaizala.control(
            "POST",
            "faults",
            json={"pathRegex": "/actions$", "status": 429, "count": 3, "retryAfter": 1},
        )
        for n in range(BURST):
            body = {
                "groupId": SAMPLE_GROUP,
                "actionType": "Poll",
                "actionBody": {
                    "question": f"Burst {n:02d}",
                    "choices": [{"title": "Yes"}, {"title": "No"}],
                },
                "regarding": {"id": OPPORTUNITY},
            }
            resp = await call("send_action", request("POST", "/api/actions", body=body))
            assert resp.status_code == 202, body_json(resp)

        first = clock.next_slot(slot)
        drained, report = await asyncio.gather(
            clock.run(rt.outbound.drain(max_seconds=30)),
            clock.run(rt.backfill.run(max_seconds=30)),
        )
        assert drained["sent"] == BURST, drained
        assert (report.actions, report.new, report.deferred) == (TARGETS, TARGETS, 0)

        sends = [at for at, m, p, s in transport.calls if m == "POST" and s == 200 and at > 0]
        sends = [at for at in sends if math.floor(at / slot) >= first]
        reads = [
            at
            for at, m, p, s in transport.calls
            if m == "GET" and any(p.endswith(f"/actions/{a}") for a in targets)
        ]
        per_slot = rt.budget.per_slot
        # Full speed: every slot from the first holds as many sends as the budget allows.
        counts: dict[int, int] = {}
        for at in sends:
            counts[math.floor(at / slot)] = counts.get(math.floor(at / slot), 0) + 1
        expected = {first + i: per_slot for i in range(BURST // per_slot)}
        assert counts == expected
        # The backfill read nothing while sends were queued, then took only the spare share.
        assert len(reads) == TARGETS
        assert min(reads) > max(sends)
        by_slot: dict[int, int] = {}
        for at in reads:
            by_slot[math.floor(at / slot)] = by_slot.get(math.floor(at / slot), 0) + 1
        assert max(by_slot.values()) <= rt.budget.spare_per_slot
    finally:
        set_runtime(None)
        await rt.aclose()
