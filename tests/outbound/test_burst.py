"""A burst of 300 actions against a shrunk throttle window: all sent once, in order, in budget.

The bridge runs on virtual time (its one clock, which moves only when the budget waits for the
next slot), and every Kaizala call is stamped with that clock as it leaves the bridge. So the
budget claim is checked exactly, on the bridge's own time, over the calls the simulator logged;
how fast the burst goes in real time is a benchmark's question (bench/), not this test's.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from shared.config import Settings
from shared.runtime import Runtime, set_runtime
from shared.stores.budget import Budget
from tests.bridge_fixtures import OPPORTUNITY, SAMPLE_GROUP, KaizalaSim, bridge_env
from tests.support import body_json, call, request

BURST = 300
BUDGET = 44  # calls per (shrunk, 1 s) window, as KAIZALA_CALLS_PER_MINUTE
WINDOW = 1.0


class VirtualClock:
    """Epoch seconds that move only when waited on, plus a microsecond per reading (so arrival
    order stays strict). Injected as the runtime's clock and as the budget's sleep."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1e-6
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


class StampedTransport(httpx.AsyncBaseTransport):
    """The HTTP boundary to the simulator, logging each call with the bridge's clock."""

    def __init__(self, clock: VirtualClock) -> None:
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


def sends_before_drain(kaizala: KaizalaSim) -> int:
    return len(kaizala.calls("/actions", "POST"))


def most_in_one_window(stamps: list[float], window: float) -> int:
    """The most calls in any half-open interval [t, t + window) of the bridge's clock."""
    ordered = sorted(stamps)
    most, first = 0, 0
    for last, t in enumerate(ordered):
        while ordered[first] <= t - window:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_most_in_one_window_counts_what_it_claims() -> None:
    assert most_in_one_window([0.0, 0.5, 0.99, 1.0, 1.5], 1.0) == 3
    assert most_in_one_window([0.0, 1.0, 2.0], 1.0) == 1
    assert most_in_one_window([], 1.0) == 0


@pytest.mark.timeout(180)
async def test_burst_sent_once_in_order_within_budget(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path
) -> None:
    # Kaizala's own limits out of the way: the bridge runs on virtual time, so its real send rate
    # says nothing; what is checked is the budget on the bridge's clock.
    kaizala.config(
        throttleWindowSeconds=1, connectorLimitPerWindow=100_000, tenantLimitPerWindow=100_000
    )
    settings = Settings.from_env(
        bridge_env(
            env,
            kaizala,
            tmp_path,
            KAIZALA_CALLS_PER_MINUTE=str(BUDGET),
            KAIZALA_THROTTLE_WINDOW_SECONDS=str(WINDOW),
        )
    )
    clock = VirtualClock(time.time())
    transport = StampedTransport(clock)
    rt = Runtime(settings, kaizala_transport=transport, clock=clock)
    # The runtime's budget, with the virtual clock's sleep (a composition-root override).
    rt.budget = Budget(rt.tables, BUDGET, WINDOW, clock=clock, sleep=clock.sleep)
    set_runtime(rt)
    try:
        await rt.tokens.current()  # onboarded before the burst, as in production
        gate = asyncio.Semaphore(100)

        async def one(n: int) -> tuple[int, int, dict[str, str]]:
            body = {
                "groupId": SAMPLE_GROUP,
                "actionType": "Poll",
                "actionBody": {
                    "question": f"Burst {n:03d}",
                    "choices": [{"title": "Yes"}, {"title": "No"}],
                },
                "regarding": {"id": OPPORTUNITY},
            }
            async with gate:
                resp = await call("send_action", request("POST", "/api/actions", body=body))
            return n, resp.status_code, body_json(resp)

        # Kaizala throttles the first request (three 429s exhaust the client's retries), so it
        # is queued; everything after it must queue behind it to keep the arrival order.
        kaizala.control(
            "POST",
            "faults",
            json={"pathRegex": "/actions$", "status": 429, "count": 3, "retryAfter": 1},
        )
        first = await one(0)
        assert first[1] == 202
        results = [first, *await asyncio.gather(*(one(n) for n in range(1, BURST)))]
        codes = [code for _, code, _ in results]
        assert set(codes) == {202}, codes
        queued = [(n, b["correlationId"]) for n, code, b in results if code == 202]
        assert sends_before_drain(kaizala) == 3  # only the three throttled attempts

        for _ in range(10):
            report = await rt.outbound.drain(max_seconds=30)
            if not [r async for r in rt.tables.query("outbox", "PartitionKey eq 'q'", limit=1)]:
                break
        else:
            pytest.fail(f"outbox not drained: {report}")

        actions = [
            a
            for a in kaizala.state()["actions"]
            if a["body"].get("question", "").startswith("Burst")
        ]
        questions = [a["body"]["question"] for a in actions]
        assert sorted(questions) == [f"Burst {n:03d}" for n in range(BURST)]  # each once
        # queued ones were sent in arrival (outbox) order
        rows = {}
        for _, cid in queued:
            stored = await rt.tables.get("actions", cid, "a")
            assert stored is not None
            assert stored.entity["status"] == "sent"
            rows[stored.entity["actionId"]] = int(stored.entity["createdUs"])
        sim_order = [a["actionId"] for a in actions if a["actionId"] in rows]
        assert sim_order == sorted(rows, key=rows.__getitem__)

        # The budget, from the simulator's call log: the POSTs it logged are the ones that left
        # the bridge (same order, same answers), and on the bridge's clock no window-long
        # interval holds more than the budget.
        logged = [(c["path"], c["status"]) for c in kaizala.calls("/actions", "POST")]
        stamped = [(path, status) for _, m, path, status in transport.calls if m == "POST"]
        assert stamped == logged
        assert [status for _, status in logged] == [429, 429, 429] + [200] * BURST
        sent_at = [at for at, m, _, status in transport.calls if m == "POST" and status == 200]
        assert len(sent_at) == BURST
        assert most_in_one_window(sent_at, WINDOW) <= BUDGET
        stats = kaizala.stats()
        assert stats["throttle"]["throttled429"] == 0
    finally:
        set_runtime(None)
        await rt.aclose()
