"""Storage failing under the bridge: a fault proxy in front of Azurite, two hosts behind it.

For a share of the storage requests the proxy answers 503 or 500, resets the connection or
stalls 5 s. A webhook delivery is never 2xx without its inbox row; a send is 201/202 (stored)
or 503; once the faults stop, every acknowledged event and action reaches its final state.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.azurite import DEV_ACCOUNT, Azurite, connection_string
from devtools.faultproxy import FaultProxy
from shared.config import Settings
from shared.runtime import Runtime
from tests.cluster import Cluster, cluster
from tests.faults.recovery import (
    action_status,
    finish_everything,
    inbox_status,
    kaizala_sends_of,
    redeliver_refused,
    run_burst,
    tasks_of,
)

EVENTS = 30
SENDS = 10


@pytest.fixture(scope="module")
def proxy(azurite: Azurite) -> Iterator[FaultProxy]:
    running = FaultProxy(azurite.table_port).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def hosts(proxy: FaultProxy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    storage = connection_string(proxy.port)
    assert f"127.0.0.1:{proxy.port}/{DEV_ACCOUNT}" in storage
    with cluster(storage, tmp_path_factory.mktemp("faults"), size=2) as running:
        running.onboard()
        yield running


async def test_storage_faults_lose_nothing_acknowledged(hosts: Cluster, proxy: FaultProxy) -> None:
    action = hosts.send_survey("Storage faults")
    proxy.set_faults(share=0.25, kinds=["503", "500", "reset", "stall"], stallSeconds=5)
    try:
        burst = run_burst(
            hosts, action["actionId"], EVENTS, SENDS, [h.url for h in hosts.hosts], "faulted"
        )
    finally:
        injected = proxy.describe()["injected"]
        proxy.clear()
    assert sum(injected.values()) >= 8, injected  # the faults really happened
    assert set(burst.delivered.values()) <= {200, 201, 202, 503}, burst.delivered
    assert set(burst.sends.values()) <= {201, 202, 503}, burst.sends
    assert 503 in set(burst.delivered.values()) | set(burst.sends.values())

    # Never 2xx without the row: read before anything is redelivered or retried.
    reader = Runtime(Settings.from_env(hosts.values()))
    try:
        stored = await inbox_status(reader)
    finally:
        await reader.aclose()
    acknowledged = [e for e, s in burst.delivered.items() if 200 <= s < 300]
    assert acknowledged
    assert [e for e in acknowledged if e not in stored] == []

    redeliver_refused(hosts, burst)
    rt = await finish_everything(hosts)
    try:
        final = await inbox_status(rt)
        for event_id in burst.events:
            assert final[event_id] == "done", (event_id, final[event_id])
            assert tasks_of(hosts, event_id) == 1, event_id
        for name, status in burst.sends.items():
            if status in (201, 202):
                state = await action_status(rt, burst.correlations[name])
                assert state in ("sent", "failed"), (name, state)
                assert kaizala_sends_of(hosts, name) == (1 if state == "sent" else 0), name
            else:
                assert kaizala_sends_of(hosts, name) <= 1, name
    finally:
        await rt.aclose()
