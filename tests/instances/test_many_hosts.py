"""Three host processes on one Azurite: what one instance guarantees holds across instances.

Each test counts at the simulators (Kaizala's call log, Dataverse's rows and write counter),
never inside a host. Requests to different hosts are sent at the same moment from threads.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.cluster import WEBHOOK, Cluster, survey_event, survey_request


def deliver(host_url: str, event: dict[str, Any], token: str) -> httpx.Response:
    return httpx.post(
        f"{host_url}{WEBHOOK}",
        content=json.dumps(event).encode(),
        headers={"content-type": "application/json", "kz-callback-token": token},
        timeout=30,
    )


def at_once(jobs: list[Any]) -> list[Any]:
    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(lambda job: job(), jobs))


def tasks_for(running: Cluster, event_id: str) -> list[dict[str, Any]]:
    assert running.dataverse is not None
    return [t for t in running.dataverse.activities("tasks") if event_id in t["description"]]


def test_ten_deliveries_across_hosts_make_one_task(hosts: Cluster) -> None:
    action = hosts.send_survey("Split deliveries")
    event = survey_event(action["actionId"])
    token = hosts.callback_token()
    assert hosts.dataverse is not None
    writes = hosts.dataverse.stats()["writes"]
    urls = [hosts.hosts[i % len(hosts.hosts)].url for i in range(10)]
    answers = at_once([lambda u=u: deliver(u, event, token) for u in urls])
    assert all(a.status_code in (200, 201, 202) for a in answers), [a.text for a in answers]
    assert len({a.status_code for a in answers}) >= 1
    # Whatever was not written inline, the sweep finishes (on every host at once).
    hosts.run_timer("process_inbox")
    assert len(tasks_for(hosts, event["eventId"])) == 1
    assert hosts.dataverse.stats()["writes"] - writes == 1


def test_same_idempotency_key_on_every_host_makes_one_kaizala_call(hosts: Cluster) -> None:
    since = hosts.last_seq()
    body = survey_request("Same key everywhere")
    key = "same-key-everywhere"

    def send(url: str) -> httpx.Response:
        return httpx.post(
            f"{url}/api/actions", json=body, headers={"Idempotency-Key": key}, timeout=60
        )

    answers = at_once([lambda u=h.url: send(u) for h in hosts.hosts for _ in range(2)])
    assert {a.status_code for a in answers} <= {200, 201, 202}, [a.text for a in answers]
    correlation = {a.json()["correlationId"] for a in answers}
    assert len(correlation) == 1
    # Any send left in doubt or queued settles through the drainer (on every host at once).
    hosts.run_timer("drain_outbox")
    sends = hosts.kaizala_calls(since, "/actions", "POST")
    assert len(sends) == 1, sends


def test_refused_access_token_is_refreshed_once_for_all_hosts(hosts: Cluster) -> None:
    assert hosts.kaizala is not None
    # Every host holds a token (one send each), then Kaizala's clock passes its expiry: each
    # host's next call is refused (401) while its own clock says the token is fresh.
    for i, host in enumerate(hosts.hosts):
        answer = httpx.post(f"{host.url}/api/actions", json=survey_request(f"warm {i}"), timeout=60)
        assert answer.status_code == 201, answer.text
    hosts.kaizala.control("POST", "clock/advance", json={"seconds": 86400 + 60})
    since = hosts.last_seq()
    answers = at_once(
        [
            lambda u=h.url, n=n: httpx.post(
                f"{u}/api/actions", json=survey_request(f"refused {u} {n}"), timeout=60
            )
            for h in hosts.hosts
            for n in range(1)
        ]
    )
    assert {a.status_code for a in answers} <= {201, 202}, [a.text for a in answers]
    hosts.run_timer("drain_outbox")  # whatever the budget queued is sent with the new token
    refreshes = hosts.kaizala_calls(since, "/accessToken")
    assert len(refreshes) == 1, refreshes
    refused = [c for c in hosts.kaizala_calls(since, "/actions", "POST") if c["status"] == 401]
    assert refused, "the hosts never found their token refused: the test proves nothing"


def test_the_shared_budget_holds_across_hosts(hosts: Cluster) -> None:
    """A burst of sends spread over the hosts: no window holds more calls than the budget."""
    since = hosts.last_seq()
    answers = at_once(
        [
            lambda u=h.url, n=n: httpx.post(
                f"{u}/api/actions", json=survey_request(f"burst {u} {n}"), timeout=60
            )
            for h in hosts.hosts
            for n in range(12)
        ]
    )
    assert {a.status_code for a in answers} <= {201, 202}, [a.text for a in answers]
    queued = [a for a in answers if a.status_code == 202]
    sends = hosts.kaizala_calls(since, "/actions", "POST")
    assert sends
    # Each send within the budget: the windows of the call log (arrival times, machine clock).
    budget = int(hosts.extra["KAIZALA_CALLS_PER_MINUTE"])
    window = float(hosts.extra["KAIZALA_THROTTLE_WINDOW_SECONDS"])
    times = sorted(c["ts"] for c in sends)
    worst = max(sum(1 for t in times if start <= t < start + window) for start in times)
    assert worst <= budget, (worst, budget)
    assert queued, "the burst never reached the budget: the test proves nothing"
    # The queue drains within the same budget, the drainers of all hosts racing for it.
    hosts.run_timer("drain_outbox")
    assert hosts.kaizala is not None
    sends = hosts.kaizala_calls(since, "/actions", "POST")
    assert len([c for c in sends if c["status"] == 200]) == len(answers)
    every = [c["ts"] for c in hosts.kaizala_calls(since, "")]
    worst = max(sum(1 for t in every if start <= t < start + window) for start in every)
    assert worst <= budget + 2, worst  # + the token and reconciliation headroom
    assert hosts.kaizala.stats()["throttle"]["throttled429"] == 0
