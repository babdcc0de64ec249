"""PIN login, refresh and access tokens, rotation and expiry."""

from __future__ import annotations

import logging
import re
import time

import httpx
import pytest

from devtools.kaizala_sim import SAMPLE_ADMIN, SAMPLE_APPLICATION_ID, SAMPLE_GROUP_ID
from tests.kaizala_sim.conftest import Sim, wait_for

SECONDS_PER_YEAR = 365 * 86400


def freeze(sim: Sim) -> int:
    """Stop the simulator's clock; returns where it stands (epoch ms)."""
    response = sim.control("POST", "clock/freeze")
    assert response.status_code == 200, response.text
    assert response.json()["frozen"] is True
    now: int = response.json()["now"]
    return now


def advance(sim: Sim, seconds: float) -> int:
    response = sim.control("POST", "clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text
    now: int = response.json()["now"]
    return now


def _pin_from_log(caplog: pytest.LogCaptureFixture, mobile: str) -> str:
    lines = [r.getMessage() for r in caplog.records if r.name == "devtools.kaizala_sim"]
    pins = [
        m.group(1) for line in lines if (m := re.fullmatch(rf"PIN for \{mobile} : (\d{{4}})", line))
    ]
    assert pins, f"no PIN line for {mobile} in {lines}"
    return pins[-1]


def _login(sim: Sim, mobile: str, pin: object) -> httpx.Response:
    return sim.http.post(
        "/v1/loginWithPinAndApplicationId",
        json={"mobileNumber": mobile, "applicationId": SAMPLE_APPLICATION_ID, "pin": pin},
    )


def test_pin_flow_logs_the_pin_and_logs_in_once(sim: Sim, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="devtools.kaizala_sim")
    mobile = "+919100000002"
    response = sim.http.post(
        "/v1/generatePin", json={"mobileNumber": mobile, "applicationId": SAMPLE_APPLICATION_ID}
    )
    assert response.status_code == 200
    assert response.json() == {}
    pin = _pin_from_log(caplog, mobile)
    assert sim.control("GET", "pin", params={"mobileNumber": mobile}).json()["pin"] == pin

    wrong = str((int(pin) - 1000 + 1) % 9000 + 1000)
    assert _login(sim, mobile, int(wrong)).status_code == 401

    response = _login(sim, mobile, int(pin))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"refreshToken", "grantedScope", "refreshTokenExpiry"}
    assert "webhook.write" in body["grantedScope"].split(",")
    assert body["refreshTokenExpiry"] > (time.time() + 364 * 86400) * 1000
    # single use
    assert _login(sim, mobile, int(pin)).status_code == 401


def test_pin_is_an_integer_and_expires(sim: Sim) -> None:
    mobile = "+919100000003"
    for _ in range(2):
        sim.http.post(
            "/v1/generatePin", json={"mobileNumber": mobile, "applicationId": SAMPLE_APPLICATION_ID}
        )
    pin = sim.control("GET", "pin", params={"mobileNumber": mobile}).json()["pin"]
    sim.control("POST", "clock/advance", json={"seconds": 601})
    assert _login(sim, mobile, int(pin)).status_code == 401

    sim.http.post(
        "/v1/generatePin", json={"mobileNumber": mobile, "applicationId": SAMPLE_APPLICATION_ID}
    )
    pin = sim.control("GET", "pin", params={"mobileNumber": mobile}).json()["pin"]
    # The swagger's pin is an integer (int32): a string of digits is refused.
    as_string = _login(sim, mobile, str(pin))
    assert (as_string.status_code, as_string.json()["code"]) == (400, "BadRequest")
    assert "pin" in as_string.json()["message"]
    assert _login(sim, mobile, int(pin)).status_code == 200


def test_generate_pin_rejects_unknown_connector_and_bad_number(sim: Sim) -> None:
    unknown = sim.http.post(
        "/v1/generatePin",
        json={
            "mobileNumber": SAMPLE_ADMIN,
            "applicationId": "00000000-0000-0000-0000-000000000000",
        },
    )
    assert unknown.status_code == 401
    bad = sim.http.post(
        "/v1/generatePin",
        json={"mobileNumber": "9100000001", "applicationId": SAMPLE_APPLICATION_ID},
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "BadRequest"


def test_access_token_shape_and_endpoint(sim: Sim) -> None:
    frozen_ms = freeze(sim)
    response = sim.exchange(sim.refresh_token())
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"accessToken", "endpointUrl", "accessTokenExpiry", "scope", "refreshToken"} <= set(body)
    assert body["refreshToken"] is None
    assert body["endpointUrl"] == f"{sim.url}/ep/inc-000/"
    assert body["endpointUrl"] != f"{sim.url}/v1"
    assert abs(body["accessTokenExpiry"] - (frozen_ms + 86400 * 1000)) <= 1  # ms rounding
    groups = sim.http.get(
        f"{body['endpointUrl']}v1/groups", headers={"accessToken": body["accessToken"]}
    )
    assert groups.status_code == 200
    assert [g["groupId"] for g in groups.json()["groups"]] == [SAMPLE_GROUP_ID]


def test_access_token_refuses_wrong_secret_and_unknown_tokens(sim: Sim) -> None:
    token = sim.refresh_token()
    assert sim.exchange(token, secret="not-the-secret").status_code == 401
    assert sim.exchange("no-such-token").status_code == 401
    # The three headers are required parameters: a missing one is a 400 naming it.
    missing = sim.http.get("/v1/accessToken", headers={"applicationId": SAMPLE_APPLICATION_ID})
    assert missing.status_code == 400
    assert missing.json()["code"] == "BadRequest"
    assert "applicationSecret" in missing.json()["message"]


def test_new_login_revokes_older_refresh_tokens(sim: Sim) -> None:
    first = sim.refresh_token()
    assert sim.exchange(first).status_code == 200
    second = sim.refresh_token()
    assert sim.exchange(first).status_code == 401
    assert sim.exchange(second).status_code == 200


def test_refresh_token_rotates_at_90_percent_and_old_one_lives_on(sim: Sim) -> None:
    # Time scale 365: a refresh token lives one (simulated) day; the clock is then advanced.
    sim.config(timeScale=365.0)
    frozen_ms = freeze(sim)
    issued = sim.control("POST", "refresh-tokens", json={}).json()
    old = issued["refreshToken"]
    assert abs(issued["refreshTokenExpiry"] - (frozen_ms + 86400 * 1000)) <= 1  # ms rounding

    sim.control("POST", "clock/advance", json={"seconds": 0.89 * 86400})
    assert sim.exchange(old).json()["refreshToken"] is None

    sim.control("POST", "clock/advance", json={"seconds": 0.02 * 86400})
    rotated = sim.exchange(old).json()
    new = rotated["refreshToken"]
    assert new and new != old
    assert sim.exchange(old).json()["refreshToken"] == new  # the same successor again
    assert sim.stats()["refreshTokenRotations"] == 1

    sim.control("POST", "clock/advance", json={"seconds": 0.08 * 86400})  # 99% of the life
    assert sim.exchange(old).status_code == 200
    sim.control("POST", "clock/advance", json={"seconds": 0.02 * 86400})  # past the old expiry
    assert sim.exchange(old).status_code == 401
    fresh = sim.exchange(new)
    assert fresh.status_code == 200
    assert fresh.json()["refreshToken"] is None


def test_rotation_with_a_shrunk_time_scale(sim: Sim) -> None:
    # A year in 1.5 s: rotation from 1.35 s on, expiry at 1.5 s. The clock is frozen and stepped,
    # so how long the calls themselves take does not matter.
    sim.config(timeScale=SECONDS_PER_YEAR / 1.5)
    freeze(sim)
    old = sim.refresh_token()
    assert sim.exchange(old).json()["refreshToken"] is None
    advance(sim, 1.3)
    assert sim.exchange(old).json()["refreshToken"] is None
    advance(sim, 0.1)  # 1.4 s
    new = sim.exchange(old).json()["refreshToken"]
    assert new and new != old
    advance(sim, 0.2)  # 1.6 s: the old one has expired, its successor (issued at 1.4 s) lives
    assert sim.exchange(old).status_code == 401
    assert sim.exchange(new).status_code == 200


def test_expired_or_missing_access_token_is_401(sim: Sim) -> None:
    token, endpoint = sim.access()
    url = f"{endpoint}v1/groups"
    assert sim.http.get(url, headers={"accessToken": token}).status_code == 200
    assert sim.http.get(url).status_code == 401
    assert sim.http.get(url, headers={"accessToken": "forged"}).status_code == 401
    sim.control("POST", "clock/advance", json={"seconds": 86401})
    expired = sim.http.get(url, headers={"accessToken": token})
    assert expired.status_code == 401
    assert expired.json() == {"code": "Unauthorized", "message": "accessToken expired"}


def test_access_token_expires_with_time_scale(sim: Sim) -> None:
    sim.config(timeScale=86400 / 0.5)  # a day in 0.5 s
    freeze(sim)
    token, endpoint = sim.access()
    url = f"{endpoint}v1/groups"
    assert sim.http.get(url, headers={"accessToken": token}).status_code == 200
    advance(sim, 0.4)
    assert sim.http.get(url, headers={"accessToken": token}).status_code == 200
    advance(sim, 0.2)
    assert sim.http.get(url, headers={"accessToken": token}).status_code == 401


def test_unfrozen_clock_follows_real_time(sim: Sim) -> None:
    sim.config(timeScale=86400 / 0.5)  # a day in 0.5 s
    freeze(sim)
    token, endpoint = sim.access()
    url = f"{endpoint}v1/groups"
    assert sim.http.get(url, headers={"accessToken": token}).status_code == 200
    resumed = sim.control("POST", "clock/resume").json()
    assert resumed["frozen"] is False
    # Real time alone now carries the token past its expiry (no clock/advance).
    wait_for(lambda: sim.http.get(url, headers={"accessToken": token}).status_code == 401, 30)


def test_frozen_clock_stands_still_until_advanced(sim: Sim) -> None:
    frozen_ms = freeze(sim)
    sim.control("POST", "refresh-tokens", json={})
    assert sim.control("GET", "state").json()["clockFrozen"] is True
    assert sim.control("POST", "clock/freeze").json()["now"] == frozen_ms  # still there
    assert abs(advance(sim, 2.5) - (frozen_ms + 2500)) <= 1  # ms rounding
    assert sim.control("POST", "clock/resume").json()["now"] >= frozen_ms + 2500
    assert sim.control("POST", "reset").status_code == 200
    assert sim.control("GET", "state").json()["clockFrozen"] is False
    assert sim.control("GET", "state").json()["clockOffsetSeconds"] == 0.0
