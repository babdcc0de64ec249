"""A burst of 300 actions against a shrunk throttle window: all sent once, in order, in budget."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shared.config import Settings
from shared.runtime import Runtime, set_runtime
from tests.bridge_fixtures import OPPORTUNITY, SAMPLE_GROUP, KaizalaSim, bridge_env
from tests.support import body_json, call, request

BURST = 300
BUDGET = 44  # calls per (shrunk, 1 s) window, as KAIZALA_CALLS_PER_MINUTE


def sends_before_drain(kaizala: KaizalaSim) -> int:
    return len(kaizala.calls("/actions", "POST"))


@pytest.mark.timeout(180)
async def test_burst_sent_once_in_order_within_budget(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path
) -> None:
    kaizala.config(throttleWindowSeconds=1, connectorLimitPerWindow=100)
    settings = Settings.from_env(
        bridge_env(
            env,
            kaizala,
            tmp_path,
            KAIZALA_CALLS_PER_MINUTE=str(BUDGET),
            KAIZALA_THROTTLE_WINDOW_SECONDS="1",
        )
    )
    rt = Runtime(settings)
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
        stats = kaizala.stats()
        assert stats["throttle"]["throttled429"] == 0
        assert max(stats["throttle"]["maxCallsPerWindowByConnector"].values()) <= BUDGET
    finally:
        set_runtime(None)
        await rt.aclose()
