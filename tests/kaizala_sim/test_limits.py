"""Throttling (429 + Retry-After), endpoint moves (308) and injected faults."""

from __future__ import annotations

import time

from devtools.kaizala_sim import SAMPLE_APPLICATION_ID, SAMPLE_GROUP_ID
from tests.kaizala_sim.conftest import Sim


def test_connector_limit_answers_429_with_retry_after(sim: Sim) -> None:
    # A frozen clock: every call falls at one instant, so Retry-After is exactly the window.
    sim.control("POST", "clock/freeze")
    sim.config(throttleWindowSeconds=10.0, connectorLimitPerWindow=5)
    sim.access()  # the accessToken call is the first of the five
    statuses = [sim.api("GET", "groups").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    throttled = sim.api("GET", "groups")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "10"
    assert throttled.json()["code"] == "TooManyRequests"
    stats = sim.stats()
    assert stats["throttle"]["maxCallsPerWindowByConnector"][SAMPLE_APPLICATION_ID] == 5
    assert stats["throttle"]["throttled429"] == 2
    assert stats["callsPerRoute"]["GET /ep/{endpoint}/v1/groups"] == 6
    sim.control("POST", "clock/advance", json={"seconds": 9.5})
    early = sim.api("GET", "groups")
    assert early.status_code == 429
    assert early.headers["Retry-After"] == "1"  # whole seconds, rounded up
    sim.control("POST", "clock/advance", json={"seconds": 0.5})  # Retry-After waited in full
    assert sim.api("GET", "groups").status_code == 200


def test_tenant_limit_spans_connectors(sim: Sim) -> None:
    sim.config(throttleWindowSeconds=30.0, connectorLimitPerWindow=100, tenantLimitPerWindow=4)
    other = sim.control("POST", "connectors", json={"name": "second"}).json()
    sim.access()  # 1
    assert sim.api("GET", "groups").status_code == 200  # 2
    issued = sim.control(
        "POST", "refresh-tokens", json={"applicationId": other["applicationId"]}
    ).json()
    exchanged = sim.http.get(
        "/v1/accessToken",
        headers={
            "applicationId": other["applicationId"],
            "applicationSecret": other["applicationSecret"],
            "refreshToken": issued["refreshToken"],
        },
    )
    assert exchanged.status_code == 200  # 3
    token, endpoint = exchanged.json()["accessToken"], exchanged.json()["endpointUrl"]
    assert sim.http.get(f"{endpoint}v1/groups", headers={"accessToken": token}).status_code == 200
    refused = sim.http.get(f"{endpoint}v1/groups", headers={"accessToken": token})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    stats = sim.stats()["throttle"]
    assert stats["maxCallsPerWindowByTenant"]["sim-tenant"] == 4
    assert stats["maxCallsPerWindowByConnector"] == {
        SAMPLE_APPLICATION_ID: 2,
        other["applicationId"]: 2,
    }


def test_unauthenticated_calls_do_not_spend_the_budget(sim: Sim) -> None:
    sim.config(throttleWindowSeconds=30.0, connectorLimitPerWindow=2)
    _, endpoint = sim.access()
    for _ in range(5):
        assert sim.http.get(f"{endpoint}v1/groups", headers={"accessToken": "x"}).status_code == 401
    assert sim.api("GET", "groups").status_code == 200


def test_moved_endpoint_answers_308_and_token_gives_new_url(sim: Sim) -> None:
    token, old_endpoint = sim.access()
    moved = sim.control("POST", "endpoint/move", json={}).json()
    assert moved["previous"] == old_endpoint
    new_endpoint = moved["endpointUrl"]
    assert new_endpoint != old_endpoint
    path = f"v1/groups/{SAMPLE_GROUP_ID}/actions?actionType=Survey&count=5"
    response = sim.http.get(f"{old_endpoint}{path}", headers={"accessToken": token})
    assert response.status_code == 308
    assert response.headers["Location"] == f"{new_endpoint}{path}"
    post = sim.http.post(
        f"{old_endpoint}v1/groups/{SAMPLE_GROUP_ID}/messages", json={"message": "x"}
    )
    assert post.status_code == 308  # before authentication, for every method
    followed = sim.http.get(response.headers["Location"], headers={"accessToken": token})
    assert followed.status_code == 200
    again = sim.exchange(sim.refresh_token()).json()
    assert again["endpointUrl"] == new_endpoint
    assert sim.http.get(f"{sim.url}/ep/unknown/v1/groups").status_code == 404
    assert sim.stats()["redirects308"] == 2


def test_one_shot_redirect_to_an_arbitrary_location(sim: Sim) -> None:
    token, endpoint = sim.access()
    sim.control(
        "POST", "endpoint/move", json={"location": "https://elsewhere.example.invalid/base/"}
    )
    response = sim.http.get(f"{endpoint}v1/groups?x=1", headers={"accessToken": token})
    assert response.status_code == 308
    assert response.headers["Location"] == "https://elsewhere.example.invalid/base/v1/groups?x=1"
    assert sim.http.get(f"{endpoint}v1/groups", headers={"accessToken": token}).status_code == 200

    sim.control(
        "POST", "endpoint/move", json={"location": "https://x.invalid/exact", "appendPath": False}
    )
    response = sim.http.get(f"{endpoint}v1/groups", headers={"accessToken": token})
    assert response.headers["Location"] == "https://x.invalid/exact"


def test_faults_fail_a_route_count_times(sim: Sim) -> None:
    refresh = sim.refresh_token()
    added = sim.control(
        "POST", "faults", json={"pathRegex": "/accessToken$", "status": 503, "count": 2}
    )
    assert added.status_code == 200
    assert [sim.exchange(refresh).status_code for _ in range(3)] == [503, 503, 200]
    sim.control("POST", "faults", json={"pathRegex": "/groups$", "status": 429, "retryAfter": 3})
    throttled = sim.api("GET", "groups")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    assert sim.stats()["faultsInjected"] == 3


def test_faults_can_slow_a_route_and_be_cleared(sim: Sim) -> None:
    sim.access()
    sim.control("POST", "faults", json={"pathRegex": "groups", "delaySeconds": 0.4, "count": 5})
    started = time.monotonic()
    assert sim.api("GET", "groups").status_code == 200
    assert time.monotonic() - started >= 0.4
    assert sim.control("GET", "faults").json()["faults"][0]["remaining"] == 4
    assert sim.control("DELETE", "faults").json() == {"removed": 1}
    assert sim.control("GET", "faults").json()["faults"] == []
    injected = sim.stats()["faultsInjected"]
    assert sim.api("GET", "groups").status_code == 200
    assert sim.stats()["faultsInjected"] == injected  # the call was not held back


def test_fault_requests_are_validated(sim: Sim) -> None:
    assert sim.control("POST", "faults", json={"pathRegex": "(", "status": 500}).status_code == 400
    assert sim.control("POST", "faults", json={"pathRegex": "x", "status": 404}).status_code == 400
    assert sim.control("POST", "faults", json={"pathRegex": "x"}).status_code == 400
    # The control API itself is never faulted.
    sim.control("POST", "faults", json={"pathRegex": ".*", "status": 500, "count": 100})
    assert sim.control("GET", "state").status_code == 200
