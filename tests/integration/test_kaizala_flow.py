"""Client + token manager + secret store against the Kaizala simulator over real HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from shared.adapters.kaizala import KaizalaRedirectRefusedError
from shared.adapters.secrets import ACCESS_TOKEN, REFRESH_TOKEN, LocalFileSecretStore
from shared.config import Settings
from shared.runtime import Runtime
from tests.bridge_fixtures import SAMPLE_GROUP, KaizalaSim, bridge_env
from tests.conftest import register_secret
from tests.support import body_json, call, request, run_timer

ADMIN = "+919100000001"


def token_calls(kaizala: KaizalaSim) -> int:
    return len(kaizala.calls("/v1/accessToken"))


async def test_pin_onboarding_through_the_admin_endpoints(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path
) -> None:
    values = bridge_env(env, kaizala, tmp_path)
    del values["KAIZALA_REFRESH_TOKEN"]
    rt = Runtime(Settings.from_env(values))
    from shared.runtime import set_runtime

    set_runtime(rt)
    try:
        bad = await call(
            "kaizala_pin",
            request("POST", "/api/manage/kaizala/pin", body={"mobileNumber": "12345"}),
        )
        assert bad.status_code == 400
        resp = await call(
            "kaizala_pin", request("POST", "/api/manage/kaizala/pin", body={"mobileNumber": ADMIN})
        )
        assert resp.status_code == 202
        pin = kaizala.control("GET", "pin", params={"mobileNumber": ADMIN})["pin"]
        wrong = await call(
            "kaizala_login",
            request(
                "POST",
                "/api/manage/kaizala/login",
                body={"mobileNumber": ADMIN, "pin": "0000" if str(pin) != "0000" else "1111"},
            ),
        )
        assert wrong.status_code == 400
        resp = await call(
            "kaizala_pin", request("POST", "/api/manage/kaizala/pin", body={"mobileNumber": ADMIN})
        )
        pin = kaizala.control("GET", "pin", params={"mobileNumber": ADMIN})["pin"]
        resp = await call(
            "kaizala_login",
            request("POST", "/api/manage/kaizala/login", body={"mobileNumber": ADMIN, "pin": pin}),
        )
        assert resp.status_code == 200
        text = resp.get_body().decode()
        stored = await rt.secrets.get(REFRESH_TOKEN)
        assert stored is not None
        register_secret(stored.value)
        assert stored.value not in text
        assert stored.tags["source"] == "pin"
        assert body_json(resp)["status"] == "onboarded"
        # the timer now obtains an access token, then finds nothing due
        await run_timer("renew_kaizala_token")
        assert token_calls(kaizala) == 1
        await run_timer("renew_kaizala_token")
        assert token_calls(kaizala) == 1
        access = await rt.secrets.get(ACCESS_TOKEN)
        assert access is not None
        assert access.tags["endpointUrl"].startswith(kaizala.url)
    finally:
        set_runtime(None)
        await rt.aclose()


class ShiftedClock:
    """Real time plus an offset, so the bridge and the simulator can skip days together."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def advance(kaizala: KaizalaSim, clock: ShiftedClock, seconds: float) -> None:
    kaizala.control("POST", "clock/advance", json={"seconds": seconds})
    clock.offset += seconds


async def test_rotation_observed_and_persisted(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path
) -> None:
    clock = ShiftedClock()
    bridge = Runtime(Settings.from_env(bridge_env(env, kaizala, tmp_path)), clock=clock)
    original = await bridge.secrets.get(REFRESH_TOKEN)
    assert original is not None
    await bridge.tokens.current()
    assert kaizala.stats()["refreshTokenRotations"] == 0
    # day 330 of the refresh token's 365: Kaizala now returns a new refresh token
    advance(kaizala, clock, 330 * 86400)
    assert await bridge.tokens.renew_if_due() == "renewed"
    stored = await bridge.secrets.get(REFRESH_TOKEN)
    assert stored is not None
    register_secret(stored.value)
    rotated = stored.value != original.value
    assert rotated
    assert stored.tags["source"] == "rotation"
    assert kaizala.stats()["refreshTokenRotations"] == 1
    status = await bridge.tokens.status()
    assert "refreshTokenRotatedOn" in status
    await bridge.aclose()


async def test_restarted_instance_uses_rotated_refresh_token(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path
) -> None:
    values = bridge_env(env, kaizala, tmp_path)
    clock = ShiftedClock()
    first = Runtime(Settings.from_env(values), clock=clock)
    await first.tokens.current()
    advance(kaizala, clock, 330 * 86400)
    assert await first.tokens.renew_if_due() == "renewed"
    await first.aclose()
    # past the original refresh token's expiry: only the rotated one still works
    advance(kaizala, clock, 40 * 86400)
    second = Runtime(Settings.from_env(values), clock=clock)
    try:
        groups = await second.kaizala.list_groups()
        assert groups
        stored = await second.secrets.get(REFRESH_TOKEN)
        assert stored is not None
        assert stored.tags["source"] == "rotation"
    finally:
        await second.aclose()


async def test_308_followed_and_persisted(bridge: Runtime, kaizala: KaizalaSim) -> None:
    await bridge.kaizala.list_groups()
    moved = kaizala.control("POST", "endpoint/move", json={})
    groups = await bridge.kaizala.list_groups()
    assert any(g.groupId == SAMPLE_GROUP for g in groups)
    access = await bridge.secrets.get(ACCESS_TOKEN)
    assert access is not None
    assert access.tags["endpointUrl"] == moved["endpointUrl"]
    assert kaizala.stats()["redirects308"] == 1
    # a fresh instance goes straight to the new endpoint: no further 308
    fresh = Runtime(bridge.settings)
    try:
        await fresh.kaizala.list_groups()
    finally:
        await fresh.aclose()
    assert kaizala.stats()["redirects308"] == 1


async def test_308_to_foreign_host_refused_without_the_token(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    await bridge.kaizala.list_groups()
    kaizala.control(
        "POST", "endpoint/move", json={"location": "https://attacker.example.net/ep/x/"}
    )
    with pytest.raises(KaizalaRedirectRefusedError) as err:
        await bridge.kaizala.list_groups()
    token = (await bridge.tokens.current()).value
    assert token not in str(err.value)
    # the endpoint in the store did not change
    access = await bridge.secrets.get(ACCESS_TOKEN)
    assert access is not None
    assert "attacker" not in access.tags["endpointUrl"]


async def test_429_retry_after_honoured(bridge: Runtime, kaizala: KaizalaSim) -> None:
    await bridge.kaizala.list_groups()
    kaizala.control(
        "POST", "faults", json={"pathRegex": "/groups$", "status": 429, "count": 1, "retryAfter": 1}
    )
    started = time.monotonic()
    await bridge.kaizala.list_groups()
    # Exact, not a margin: the limiter (on this monotonic clock) releases the retry no sooner
    # than 1 s after the 429 arrived, and `started` was read before the call went out.
    assert time.monotonic() - started >= 1.0
    assert len(kaizala.calls("/groups", "GET")) == 3


async def test_401_refreshes_once_and_retries(bridge: Runtime, kaizala: KaizalaSim) -> None:
    await bridge.kaizala.list_groups()
    assert token_calls(kaizala) == 1
    # Kaizala's clock passes the access token's expiry while the bridge still trusts its cache
    kaizala.control("POST", "clock/advance", json={"seconds": 25 * 3600})
    await bridge.kaizala.list_groups()
    assert token_calls(kaizala) == 2
    statuses = [c["status"] for c in kaizala.calls("/groups", "GET")]
    assert statuses == [200, 401, 200]


async def test_secret_file_never_holds_plaintext_outside_store(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    token = (await bridge.tokens.current()).value
    path = Path(bridge.settings.local_secrets_path)
    assert path.stat().st_mode & 0o777 == 0o600
    data = json.loads(path.read_text())
    assert set(data) >= {"kaizala-refresh-token", "kaizala-access-token"}
    # The store's file holds the token the bridge uses (a fresh store reads it back) ...
    stored = await LocalFileSecretStore(path).get(ACCESS_TOKEN)
    assert stored is not None and stored.value == token
    # ... and nothing else does: not the lease row (its facts only), not another file.
    leases = [r.entity async for r in bridge.tables.query("leases", "PartitionKey ne ''")]
    assert leases, "the token manager publishes its facts in the lease row"
    assert all(token not in str(v) for row in leases for v in row.values())
    others = [p for p in path.parent.rglob("*") if p.is_file() and p != path]
    assert all(token.encode() not in p.read_bytes() for p in others)


async def test_onboarding_command_line(
    env: dict[str, str],
    kaizala: KaizalaSim,
    tmp_path: Path,
    environ,
    capsys,
) -> None:
    from devtools import onboard

    values = bridge_env(env, kaizala, tmp_path)
    del values["KAIZALA_REFRESH_TOKEN"]
    environ(values)

    def read_pin(prompt: str) -> str:
        return str(kaizala.control("GET", "pin", params={"mobileNumber": ADMIN})["pin"])

    assert await onboard.run(ADMIN, read_pin=read_pin) == 0
    out = capsys.readouterr().out
    stored = await LocalFileSecretStore(values["LOCAL_SECRETS_PATH"]).get(REFRESH_TOKEN)
    assert stored is not None
    register_secret(stored.value)
    assert stored.value not in out
    assert "Onboarded" in out
    assert ADMIN not in out  # the number is masked

    assert await onboard.run(ADMIN, read_pin=lambda _: "12") == 1  # not a PIN


async def test_action_details_against_the_simulator(bridge: Runtime, kaizala: KaizalaSim) -> None:
    sent = await bridge.kaizala.send_action(
        SAMPLE_GROUP,
        action_type="Survey",
        action_body={"title": "Details?", "questions": [{"title": "Notes", "type": "Text"}]},
    )
    kaizala.control(
        "POST",
        f"actions/{sent.actionId}/respond",
        json={"responder": "+919100000002", "answers": ["fine"]},
    )
    details = await bridge.kaizala.get_action(SAMPLE_GROUP, sent.actionId)
    assert details.actionId == sent.actionId
    assert details.title == "Details?"
    assert len(details.responses) == 1
    page = await bridge.kaizala.list_actions(SAMPLE_GROUP, "Survey")
    assert [a.display_title for a in page.actions if a.actionId == sent.actionId] == ["Details?"]
