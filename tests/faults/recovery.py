"""What the fault tests share: bursts of deliveries and sends, and the bridge finishing the work.

Recovery runs the product's own sweeper and drainer in this process, as one more instance, on a
clock two hours ahead: what a fault left pending (the 60 s inline grace, the 30 s back-off, a send
left `sending` for the two-minute reconciliation) is due at once, with no wall-clock wait.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.config import Settings
from shared.runtime import Runtime
from shared.services.inbound import sweep_inbox
from tests.cluster import WEBHOOK, Cluster, survey_event, survey_request

AHEAD_SECONDS = 7200.0


@dataclass
class Burst:
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # eventId -> event
    delivered: dict[str, int] = field(default_factory=dict)  # eventId -> last status
    sends: dict[str, int] = field(default_factory=dict)  # opportunity name -> status
    correlations: dict[str, str] = field(default_factory=dict)  # name -> correlationId


def deliver(url: str, event: dict[str, Any], token: str) -> int:
    try:
        return httpx.post(
            f"{url}{WEBHOOK}",
            content=json.dumps(event).encode(),
            headers={"content-type": "application/json", "kz-callback-token": token},
            timeout=30,
        ).status_code
    except httpx.TransportError:
        return 0  # the host died under it: not acknowledged


def send(url: str, name: str, burst: Burst) -> None:
    try:
        answer = httpx.post(f"{url}/api/actions", json=survey_request(name), timeout=30)
    except httpx.TransportError:
        burst.sends[name] = 0
        return
    burst.sends[name] = answer.status_code
    if answer.status_code in (200, 201, 202):
        burst.correlations[name] = answer.json()["correlationId"]


def run_burst(
    hosts: Cluster, action_id: str, events: int, sends: int, urls: list[str], tag: str
) -> Burst:
    token = hosts.callback_token()
    burst = Burst()
    for _ in range(events):
        event = survey_event(action_id)
        burst.events[event["eventId"]] = event
    names = [f"{tag} {uuid.uuid4().hex[:8]}" for _ in range(sends)]
    jobs: list[Any] = []
    for n, (event_id, event) in enumerate(burst.events.items()):
        url = urls[n % len(urls)]
        jobs.append(
            lambda u=url, e=event, i=event_id: burst.delivered.__setitem__(i, deliver(u, e, token))
        )
    for n, name in enumerate(names):
        url = urls[n % len(urls)]
        jobs.append(lambda u=url, m=name: send(u, m, burst))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda job: job(), jobs))
    return burst


REDELIVERIES = 5  # Kaizala retries for two days; here a few tries, a second apart, suffice


def redeliver_refused(hosts: Cluster, burst: Burst) -> None:
    """Kaizala retries every delivery that was not answered 2xx (until it is).

    A delivery right after the faults stop may still meet a storage connection the proxy stalled
    (a 5 s stall outlives `clear()`), so each event gets a few tries, as Kaizala would give it.
    """
    token = hosts.callback_token()
    for event_id, status in list(burst.delivered.items()):
        for _ in range(REDELIVERIES):
            if 200 <= status < 300:
                break
            time.sleep(1.0)
            status = deliver(hosts.hosts[0].url, burst.events[event_id], token)
        assert 200 <= status < 300, status
        burst.delivered[event_id] = status


async def finish_everything(hosts: Cluster) -> Runtime:
    """The sweeper and the drainer, two hours ahead, until nothing is left (bounded)."""
    rt = Runtime(Settings.from_env(hosts.values()), clock=lambda: time.time() + AHEAD_SECONDS)
    for _ in range(5):
        report = await sweep_inbox(rt.inbound)
        drained = await rt.outbound.drain(max_seconds=20)
        if report.claimed == 0 and drained.get("sent", 0) == 0 and drained.get("requeued", 0) == 0:
            break
    return rt


async def inbox_status(rt: Runtime) -> dict[str, str]:
    return {r["eventId"]: r["status"] for r in await rt.inbox_store.rows()}


async def action_status(rt: Runtime, correlation_id: str) -> str:
    record = await rt.actions_store.get(correlation_id)
    assert record is not None, correlation_id
    return record.status


def kaizala_sends_of(hosts: Cluster, name: str) -> int:
    """Kaizala's successful sends of the survey for this opportunity name (its title)."""
    assert hosts.kaizala is not None
    title = f"Qualify: {name}"
    return sum(
        1
        for c in hosts.kaizala.calls("/actions", "POST")
        if c["status"] == 200 and (c.get("body") or {}).get("actionBody", {}).get("title") == title
    )


def tasks_of(hosts: Cluster, event_id: str) -> int:
    assert hosts.dataverse is not None
    return sum(1 for t in hosts.dataverse.activities("tasks") if event_id in t["description"])
