"""Token manager against real Azurite tables and the local secret store."""

from __future__ import annotations

import asyncio
import logging
import secrets as pysecrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.kaizala import AccessTokenResponse
from shared.adapters.secrets import (
    ACCESS_TOKEN,
    APPLICATION_ID,
    APPLICATION_SECRET,
    REFRESH_TOKEN,
    LocalFileSecretStore,
    Secret,
    SecretStore,
)
from shared.adapters.tables import TableStore
from shared.config import Settings
from shared.errors import UnavailableError
from shared.services.tokens import LEASE_SECONDS, NotOnboardedError, TokenManager
from shared.stores.kaizala_token import TokenRowStore
from shared.stores.leases import LeaseStore
from tests.conftest import register_secret


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Virtual time: a wait moves the clock at once (inject it with the clock)."""
        self.now += seconds
        await asyncio.sleep(0)


class CountingStore:
    """The secret store with its reads counted at its boundary (the manager keeps no counters)."""

    def __init__(self, inner: SecretStore) -> None:
        self.inner = inner
        self.gets: list[str] = []

    def reads(self, name: str) -> int:
        return self.gets.count(name)

    async def get(self, name: str) -> Secret | None:
        self.gets.append(name)
        return await self.inner.get(name)

    async def set(self, name: str, value: str, tags: Mapping[str, str] | None = None) -> Secret:
        return await self.inner.set(name, value, tags)

    async def versions(self, name: str, limit: int = 3) -> list[Secret]:
        return await self.inner.versions(name, limit)

    async def close(self) -> None:
        await self.inner.close()


class FakeTokenService:
    """Stands in for GET /accessToken (the simulator-based tests cover the HTTP side)."""

    def __init__(self, clock: FakeClock, lifetime_s: float = 86400, delay: float = 0.05) -> None:
        self.clock = clock
        self.lifetime_s = lifetime_s
        self.delay = delay
        self.calls: list[str] = []
        self.rotate_to: str | None = None

    async def __call__(self, app_id: str, secret: str, refresh: str) -> AccessTokenResponse:
        self.calls.append(refresh)
        await asyncio.sleep(self.delay)  # widen the race window for the concurrency tests
        token = "at-" + pysecrets.token_urlsafe(16)
        register_secret(token)
        rotated, self.rotate_to = self.rotate_to, None
        return AccessTokenResponse(
            accessToken=token,
            endpointUrl="https://kms1.kaiza.la/",
            accessTokenExpiry=int((self.clock() + self.lifetime_s) * 1000),
            scope="",
            refreshToken=rotated or "",
        )


@pytest.fixture
async def store(tmp_path: Path) -> CountingStore:
    s = CountingStore(LocalFileSecretStore(tmp_path / "secrets.json"))
    refresh = "rt-" + pysecrets.token_urlsafe(16)
    register_secret(refresh)
    await s.set(APPLICATION_ID, "app-1")
    await s.set(APPLICATION_SECRET, "app-secret-value-1")
    register_secret("app-secret-value-1")
    await s.set(REFRESH_TOKEN, refresh, {"expiresOn": str((1_800_000_000 + 365 * 86400) * 1000)})
    return s


@pytest.fixture
async def tables(env: dict[str, str]) -> TableStore:
    return TableStore.from_settings(Settings.from_env(env).storage, env["TABLE_NAME_PREFIX"])


def manager(
    service: FakeTokenService,
    store: SecretStore,
    tables: TableStore,
    clock: FakeClock,
    **options: Any,
) -> TokenManager:
    rows = TokenRowStore(LeaseStore(tables, clock))
    return TokenManager(service, store, rows, clock=clock, **{"poll_seconds": 0.02, **options})


async def test_ten_concurrent_callers_make_one_call(store, tables) -> None:
    clock = FakeClock()
    service = FakeTokenService(clock)
    tm = manager(service, store, tables, clock)
    tokens = await asyncio.gather(*(tm.current() for _ in range(10)))
    assert len(service.calls) == 1
    assert len({t.value for t in tokens}) == 1
    assert tokens[0].endpoint_url == "https://kms1.kaiza.la/"


async def test_two_instances_sharing_a_table_make_one_call(store, tables) -> None:
    clock = FakeClock()
    service = FakeTokenService(clock, delay=0.3)
    a, b = manager(service, store, tables, clock), manager(service, store, tables, clock)
    results = await asyncio.gather(*(m.current() for m in (a, b, a, b, a, b)))
    assert len(service.calls) == 1
    assert len({t.value for t in results}) == 1
    # the follower read the published token once from the store; the leader never did
    assert store.reads(ACCESS_TOKEN) == 1


async def test_ten_instances_find_the_token_stale_one_call(store, tables) -> None:
    clock = FakeClock()
    service = FakeTokenService(clock)
    instances = [manager(service, store, tables, clock) for _ in range(10)]
    await instances[0].current()
    clock.now += 13 * 3600  # past half-life: every instance finds it due
    tokens = await asyncio.gather(*(m.current() for m in instances))
    assert len(service.calls) == 2
    assert len({t.value for t in tokens}) == 1


async def test_cached_token_used_without_store_reads(store, tables) -> None:
    clock = FakeClock()
    service = FakeTokenService(clock)
    tm = manager(service, store, tables, clock)
    first = await tm.current()
    clock.now += 3600
    for _ in range(50):
        assert (await tm.current()).value == first.value
    assert len(service.calls) == 1
    assert store.reads(ACCESS_TOKEN) == 0


async def test_refresh_rule_half_life_and_margin(store, tables) -> None:
    clock = FakeClock()
    service = FakeTokenService(clock)
    tm = manager(service, store, tables, clock)
    await tm.current()
    assert await tm.renew_if_due() == "fresh"
    clock.now += 11.9 * 3600
    assert await tm.renew_if_due() == "fresh"
    assert len(service.calls) == 1
    clock.now += 0.2 * 3600
    assert await tm.renew_if_due() == "renewed"
    assert len(service.calls) == 2


async def test_rotation_is_persisted_before_use(store, tables) -> None:
    clock = FakeClock()
    service = FakeTokenService(clock)
    tm = manager(service, store, tables, clock)
    await tm.current()
    new_refresh = "rt-rotated-" + pysecrets.token_urlsafe(12)
    register_secret(new_refresh)
    service.rotate_to = new_refresh
    clock.now += 13 * 3600
    await tm.current()
    stored = await store.get(REFRESH_TOKEN)
    assert stored is not None and stored.value == new_refresh
    assert stored.tags["source"] == "rotation"
    # a restarted instance (fresh manager, same store) uses the rotated token
    restarted = manager(service, store, tables, clock)
    clock.now += 13 * 3600
    await restarted.current()
    assert service.calls[-1] == new_refresh
    status = await restarted.status()
    assert "refreshTokenRotatedOn" in status


async def test_rejected_token_refreshes_once(store, tables) -> None:
    clock = FakeClock()
    service = FakeTokenService(clock)
    tm = manager(service, store, tables, clock)
    first = await tm.current()
    results = await asyncio.gather(*(tm.refresh(first) for _ in range(5)))
    assert len(service.calls) == 2
    assert len({t.value for t in results}) == 1
    assert results[0].value != first.value


async def test_endpoint_move_is_persisted(store, tables) -> None:
    clock = FakeClock()
    service = FakeTokenService(clock)
    tm = manager(service, store, tables, clock)
    token = await tm.current()
    moved = await tm.endpoint_moved(token, "https://kms9.kaiza.la/")
    assert moved.endpoint_url == "https://kms9.kaiza.la/"
    other = manager(service, store, tables, clock)
    assert (await other.current()).endpoint_url == "https://kms9.kaiza.la/"
    secret = await store.get(ACCESS_TOKEN)
    assert secret is not None and secret.tags["endpointUrl"] == "https://kms9.kaiza.la/"
    assert len(service.calls) == 1


async def test_not_onboarded(tmp_path: Path, tables) -> None:
    clock = FakeClock()
    tm = manager(FakeTokenService(clock), LocalFileSecretStore(tmp_path / "s.json"), tables, clock)
    with pytest.raises(NotOnboardedError):
        await tm.current()
    # the lease is released, so a later attempt is not blocked
    with pytest.raises(NotOnboardedError):
        await tm.current()


async def test_refresh_token_expiry_warning(store, tables, caplog) -> None:
    clock = FakeClock()
    service = FakeTokenService(clock)
    tm = manager(service, store, tables, clock)
    await tm.current()
    assert (await tm.status())["status"] == "ok"
    clock.now += 340 * 86400  # 25 days left, no rotation seen
    await tm.current()
    status = await tm.status()
    assert status["status"] == "warn"
    assert status["refreshTokenExpiring"] is True
    assert "30 days" in status["detail"]
    with caplog.at_level(logging.WARNING, logger="shared.services.tokens"):
        await tm.renew_if_due()
    assert any("expires within 30 days" in r.getMessage() for r in caplog.records)


async def test_a_lease_held_elsewhere_is_waited_for_then_given_up(store, tables) -> None:
    clock = FakeClock()
    service = FakeTokenService(clock)
    rows = TokenRowStore(LeaseStore(tables, clock))
    # Another instance took the refresh lease and has published nothing (hung, or died).
    assert await rows.take_lease(None, "other-instance", LEASE_SECONDS)
    tm = manager(service, store, tables, clock, sleep=clock.sleep, poll_seconds=1.0)
    started = clock.now
    with pytest.raises(UnavailableError) as err:
        await tm.current()
    assert type(err.value) is UnavailableError
    assert err.value.headers() == {"Retry-After": "5"}
    assert service.calls == []  # nothing fetched behind the holder's back
    waited = clock.now - started
    # It waited max_wait (30 s), which is shorter than the lease (60 s), and so gave up
    # rather than take over: the caller gets a 503 to retry instead of a request held 60 s.
    assert 30 <= waited < LEASE_SECONDS
    row = await rows.read()
    assert row is not None
    assert row.lease.holder == "other-instance"
    # A retry once the lease has lapsed takes it over and refreshes, once.
    clock.now = started + LEASE_SECONDS + 1
    token = await tm.current()
    assert len(service.calls) == 1
    published = await rows.read()
    assert published is not None
    assert (published.generation, published.lease.holder, published.lease.until) == (1, "", 0.0)
    secret = await store.get(ACCESS_TOKEN)
    assert secret is not None and secret.value == token.value


async def test_the_expired_lease_of_a_crashed_instance_is_taken_over_at_once(store, tables) -> None:
    clock = FakeClock()
    service = FakeTokenService(clock)
    rows = TokenRowStore(LeaseStore(tables, clock))
    assert await rows.take_lease(None, "crashed-instance", LEASE_SECONDS)
    clock.now += LEASE_SECONDS + 1  # the holder died without releasing; its lease lapsed
    tm = manager(service, store, tables, clock, sleep=clock.sleep)
    before = clock.now
    token = await tm.current()
    assert clock.now == before  # no waiting for a lease nobody holds any more
    assert len(service.calls) == 1
    row = await rows.read()
    assert row is not None
    assert (row.generation, row.lease.holder) == (1, "")
    assert row.expires_ms == int((before + service.lifetime_s) * 1000)
    assert (await tm.current()).value == token.value


def test_local_store_file_mode(tmp_path: Path) -> None:
    s = LocalFileSecretStore(tmp_path / "d" / "secrets.json")
    asyncio.run(s.set("kaizala-callback-token", "cb-token-value-1"))
    assert (tmp_path / "d" / "secrets.json").stat().st_mode & 0o777 == 0o600
