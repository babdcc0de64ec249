"""Every timer started on every host at the same moment: each row is handled once.

The work is real: inbox rows due now (stored with the store's own insert, as the webhook would
have left them after a failed inline attempt) and actions queued by a Kaizala 429. Counted at
the simulators: Dataverse rows and writes, Kaizala's sends and token calls.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from shared.config import Settings
from shared.runtime import Runtime
from tests.cluster import TIMERS, Cluster, survey_event, survey_request

EVENTS = 12
BURST = 32  # twice what a 0.3 s slot of the budget admits over a second, even on a slow machine


async def seed_due_events(hosts: Cluster, action_id: str) -> list[str]:
    """Pending inbox rows due now, through the inbox store (so any index it keeps is kept)."""
    rt = Runtime(Settings.from_env(hosts.values()))
    try:
        ids = []
        now = int(time.time() * 1000)
        for _ in range(EVENTS):
            event = survey_event(action_id)
            _, inserted = await rt.inbox_store.add(
                json.dumps(event).encode(),
                event_id=event["eventId"],
                event_type=event["eventType"],
                action_id=action_id,
                response_id=event["data"]["responseId"],
                pending=True,
                received_at=now,
                responded_at=now,
                next_attempt_at=now,
                event=event,
            )
            assert inserted
            ids.append(event["eventId"])
        return ids
    finally:
        await rt.aclose()


def burst(hosts: Cluster, count: int, tag: str) -> list[str]:
    """`count` sends at once across the hosts: past the shared budget's slot, some are answered
    202 and left in the outbox for `drain_outbox`."""
    urls = [hosts.hosts[n % len(hosts.hosts)].url for n in range(count)]
    with ThreadPoolExecutor(count) as pool:
        answers = list(
            pool.map(
                lambda n: httpx.post(
                    f"{urls[n]}/api/actions", json=survey_request(f"{tag} {n}"), timeout=60
                ),
                range(count),
            )
        )
    assert {a.status_code for a in answers} <= {201, 202}, [a.text for a in answers]
    assert any(a.status_code == 202 for a in answers), "nothing queued: the test proves nothing"
    return [a.json()["correlationId"] for a in answers]


def status(hosts: Cluster, correlation_id: str) -> str:
    answer = httpx.get(f"{hosts.hosts[1].url}/api/actions/{correlation_id}", timeout=30)
    found: str = answer.json()["status"]
    return found


async def test_every_timer_on_every_host_at_once(hosts: Cluster) -> None:
    assert hosts.dataverse is not None and hosts.kaizala is not None
    action = hosts.send_survey("Timers everywhere")
    event_ids = await seed_due_events(hosts, action["actionId"])
    writes = hosts.dataverse.stats()["writes"]
    since = hosts.last_seq()
    sent = burst(hosts, BURST, "queued")

    hosts.run_timers(list(TIMERS))

    tasks = hosts.dataverse.activities("tasks")
    for event_id in event_ids:
        assert sum(1 for t in tasks if event_id in t["description"]) == 1, event_id
    assert hosts.dataverse.stats()["writes"] - writes == EVENTS  # no write twice
    sends = [c for c in hosts.kaizala_calls(since, "/actions", "POST") if c["status"] == 200]
    assert len(sends) == BURST, sends  # each action sent once: inline, or by one drainer
    assert {status(hosts, c) for c in sent} == {"sent"}
    assert len(hosts.kaizala_calls(since, "/accessToken")) <= 1
    assert len(hosts.kaizala_calls(since, "/webhook", "POST")) <= 1

    # No lease was lost or left held: the next round, on one host, drains a new queued action.
    late = burst(hosts, BURST, "after the race")
    hosts.run_timers(["drain_outbox"], hosts.hosts[2:])
    assert {status(hosts, c) for c in late} == {"sent"}
