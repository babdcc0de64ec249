"""kill -9 of a host in the middle of a burst of webhooks and sends, then a restart.

Two hosts on one Azurite; the burst goes to the first, which is killed (SIGKILL: no shutdown
hook, requests cut mid-flight) once part of the burst has been answered. Kaizala redelivers
what was not answered 2xx; the restarted host and the sweeper/drainer finish the rest. Every
2xx'd event is processed exactly once; every 201/202'd action is sent exactly once or `failed`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from devtools.azurite import Azurite
from tests.cluster import Cluster, cluster, wait_until
from tests.faults.recovery import (
    action_status,
    finish_everything,
    inbox_status,
    kaizala_sends_of,
    redeliver_refused,
    run_burst,
    tasks_of,
)

EVENTS = 40
SENDS = 16


@pytest.fixture
def hosts(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(azurite.connection_string, tmp_path_factory.mktemp("kill9"), size=2) as running:
        running.onboard()
        yield running


async def test_kill9_mid_burst_then_restart(hosts: Cluster) -> None:
    action = hosts.send_survey("Kill -9")
    victim = hosts.hosts[0]
    seen = hosts.last_seq()

    def kill_mid_burst() -> None:
        # Once Kaizala has taken a few of the burst's sends, the host is surely mid-burst.
        wait_until(
            lambda: len(hosts.kaizala_calls(seen, "/actions", "POST")) >= 3, 60, "sends to start"
        )
        hosts.kill(victim)

    killer = threading.Thread(target=kill_mid_burst)
    killer.start()
    burst = run_burst(hosts, action["actionId"], EVENTS, SENDS, [victim.url], "killed")
    killer.join(70)
    assert not victim.alive()
    cut = [s for s in [*burst.delivered.values(), *burst.sends.values()] if s == 0]
    assert cut, "the kill cut nothing: the test proves nothing"

    hosts.start_host(victim)
    redeliver_refused(hosts, burst)
    rt = await finish_everything(hosts)
    try:
        final = await inbox_status(rt)
        for event_id in burst.events:
            assert final[event_id] == "done", (event_id, final[event_id])
            assert tasks_of(hosts, event_id) == 1, event_id
        for name, status in burst.sends.items():
            sent = kaizala_sends_of(hosts, name)
            if status in (201, 202):
                state = await action_status(rt, burst.correlations[name])
                assert state in ("sent", "failed"), (name, state)
                assert sent == (1 if state == "sent" else 0), name
            else:
                assert sent <= 1, name  # cut before its answer: at most once, never twice
    finally:
        await rt.aclose()
