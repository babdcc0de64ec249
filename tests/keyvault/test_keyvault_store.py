"""KeyVaultSecretStore (azure-keyvault-secrets, async) against the HTTPS fake vault."""

from __future__ import annotations

import asyncio
import secrets as pysecrets
import ssl
import time
import traceback
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shared.adapters.kaizala import AccessTokenResponse
from shared.adapters.secrets import (
    ACCESS_TOKEN,
    APPLICATION_ID,
    APPLICATION_SECRET,
    CALLBACK_TOKEN,
    REFRESH_TOKEN,
    KeyVaultSecretStore,
    LocalFileSecretStore,
    Secret,
    SecretStoreError,
    SeededSecretStore,
    build_secret_store,
)
from shared.adapters.tables import TableStore
from shared.config import Settings
from shared.services.tokens import TokenManager
from shared.stores.kaizala_token import TokenRowStore
from shared.stores.leases import LeaseStore
from tests.conftest import register_secret
from tests.keyvault.conftest import StoreFactory, VaultServer
from tests.keyvault.fake_keyvault import VAULT_SCOPE, FakeCredential, FakeKeyVault, TokenRequest

NOW = 1_800_000_000.0


def secret_value(prefix: str) -> str:
    value = f"{prefix}-{pysecrets.token_urlsafe(18)}"
    register_secret(value)
    return value


def settings_env(**values: str) -> dict[str, str]:
    # Seeding and store selection need no table storage: any connection string will do.
    return {"AzureWebJobsStorage": "UseDevelopmentStorage=true", **values}


# --- get / set / versions ---------------------------------------------------------------------


async def test_get_of_an_absent_secret_is_none(
    kv_store: KeyVaultSecretStore, fake_kv: FakeKeyVault
) -> None:
    assert await kv_store.get(CALLBACK_TOKEN) is None
    assert fake_kv.count("get", CALLBACK_TOKEN, status=404, authorized=True) == 1


async def test_set_then_get_returns_value_and_tags(
    kv_store: KeyVaultSecretStore, fake_kv: FakeKeyVault
) -> None:
    value = secret_value("at")
    tags = {"endpointUrl": "https://kms1.kaiza.la/", "expiresOn": "1800086400000"}
    before = int(time.time())
    written = await kv_store.set(ACCESS_TOKEN, value, tags)

    stored = fake_kv.current(ACCESS_TOKEN)
    assert stored is not None
    assert (stored.value, stored.tags, stored.content_type) == (value, tags, "text/plain")
    assert written == Secret(ACCESS_TOKEN, value, tags, float(stored.created), stored.version)
    assert before <= written.created_on <= time.time()

    got = await kv_store.get(ACCESS_TOKEN)
    assert got == written
    # a second write is a new version, and get returns it
    newer = secret_value("at")
    await kv_store.set(ACCESS_TOKEN, newer, {"generation": "2"})
    got = await kv_store.get(ACCESS_TOKEN)
    assert got is not None
    assert (got.value, dict(got.tags)) == (newer, {"generation": "2"})
    assert len(fake_kv.history(ACCESS_TOKEN)) == 2


async def test_versions_are_newest_first_and_limited(
    kv_store: KeyVaultSecretStore, fake_kv: FakeKeyVault
) -> None:
    now = [NOW]
    fake_kv.clock = lambda: now[0]
    values = []
    for _ in range(5):
        values.append(secret_value("cb"))
        await kv_store.set(CALLBACK_TOKEN, values[-1])
        now[0] += 60

    got = await kv_store.versions(CALLBACK_TOKEN, limit=3)
    assert [s.value for s in got] == values[::-1][:3]
    assert [s.created_on for s in got] == [NOW + 240, NOW + 180, NOW + 120]
    newest_three = [v.version for v in reversed(fake_kv.history(CALLBACK_TOKEN))][:3]
    assert [s.version for s in got] == newest_three
    # the limit also bounds the reads: one value read per returned version
    assert fake_kv.count("get", CALLBACK_TOKEN, status=200) == 3

    assert [s.value for s in await kv_store.versions(CALLBACK_TOKEN, limit=10)] == values[::-1]
    assert await kv_store.versions("kaizala-never-set") == []


async def test_versions_follow_next_link(
    kv_store: KeyVaultSecretStore, fake_kv: FakeKeyVault
) -> None:
    # 27 versions: the service pages 25 at a time, and the two newest are on the second page.
    now = [NOW]
    fake_kv.clock = lambda: now[0]
    values = []
    for i in range(27):
        values.append(f"callback-token-version-{i:02d}")
        await kv_store.set(CALLBACK_TOKEN, values[-1])
        now[0] += 1
    got = await kv_store.versions(CALLBACK_TOKEN, limit=2)
    assert [s.value for s in got] == [values[26], values[25]]
    pages = [r for r in fake_kv.requests if r.op == "versions" and r.status == 200]
    assert len(pages) == 2
    assert "$skiptoken" in pages[1].query


async def test_versions_put_the_current_version_first_within_one_second(
    kv_store: KeyVaultSecretStore, fake_kv: FakeKeyVault
) -> None:
    # Key Vault's `created` has whole-second resolution, so versions written within one
    # second (two instances racing in CallbackTokens.ensure, a rotation right after creation)
    # tie; the service lists versions in no documented order (the fake: oldest first).
    fake_kv.clock = lambda: NOW
    values = [secret_value("cb") for _ in range(3)]
    for value in values:
        await kv_store.set(CALLBACK_TOKEN, value)
    current = await kv_store.get(CALLBACK_TOKEN)
    assert current is not None and current.value == values[-1]

    got = await kv_store.versions(CALLBACK_TOKEN, limit=3)
    assert {s.version for s in got} == {v.version for v in fake_kv.history(CALLBACK_TOKEN)}
    assert got[0].version == current.version, (
        "BUG in KeyVaultSecretStore.versions(): it orders versions by `created` (whole seconds) "
        "only, so among versions written within one second the service's list order wins and "
        "versions()[0] is not the current secret that get() returns. CallbackTokens then treats "
        "a replaced token as current (accepted forever) and gives the real current token only "
        "the grace period. Fix: put get_secret(name) (the current version) first, then the "
        "other enabled versions by created_on, newest first."
    )


# --- seeding and store selection ----------------------------------------------------------------


async def test_seeded_store_seeds_an_empty_vault_once(
    kv_store: KeyVaultSecretStore, fake_kv: FakeKeyVault, vault_url: str
) -> None:
    app_secret, refresh = secret_value("app-secret"), secret_value("rt")
    settings = Settings.from_env(
        settings_env(
            KEY_VAULT_URL=vault_url,
            KAIZALA_APPLICATION_ID="app-id-1",
            KAIZALA_APPLICATION_SECRET=app_secret,
            KAIZALA_REFRESH_TOKEN=refresh,
        )
    )
    seeded = SeededSecretStore(kv_store, settings)
    results = await asyncio.gather(*(seeded.get(REFRESH_TOKEN) for _ in range(5)))
    assert {r.value for r in results if r is not None} == {refresh}
    assert fake_kv.count("set", status=200) == 3  # concurrent first uses seed once
    stored = fake_kv.current(REFRESH_TOKEN)
    assert stored is not None and stored.tags["source"] == "settings"
    assert stored.tags["issuedOn"].isdigit()
    assert [v.value for v in fake_kv.history(APPLICATION_ID)] == ["app-id-1"]
    assert [v.value for v in fake_kv.history(APPLICATION_SECRET)] == [app_secret]


async def test_seeded_store_never_overwrites_a_rotated_refresh_token(
    kv_store: KeyVaultSecretStore,
    make_kv_store: StoreFactory,
    credential: FakeCredential,
    fake_kv: FakeKeyVault,
    vault_url: str,
) -> None:
    rotated = secret_value("rt-rotated")
    await kv_store.set(REFRESH_TOKEN, rotated, {"source": "rotation"})
    original, app_secret = secret_value("rt-original"), secret_value("app-secret")
    settings = Settings.from_env(
        settings_env(
            KEY_VAULT_URL=vault_url,
            KAIZALA_APPLICATION_ID="app-id-1",
            KAIZALA_APPLICATION_SECRET=app_secret,
            KAIZALA_REFRESH_TOKEN=original,
        )
    )
    seeded = SeededSecretStore(kv_store, settings)
    got = await seeded.get(REFRESH_TOKEN)
    assert got is not None and got.value == rotated and got.tags["source"] == "rotation"
    assert [v.value for v in fake_kv.history(REFRESH_TOKEN)] == [rotated]
    assert [v.value for v in fake_kv.history(APPLICATION_SECRET)] == [app_secret]

    # seeding happens once per process: later uses read no more seed candidates
    seed_reads = fake_kv.count("get", APPLICATION_ID)
    await seeded.get(APPLICATION_SECRET)
    await seeded.versions(REFRESH_TOKEN)
    assert fake_kv.count("get", APPLICATION_ID) == seed_reads

    # another instance with the same settings finds everything present and writes nothing
    writes = fake_kv.count("set")
    other = SeededSecretStore(make_kv_store(credential), settings)
    got = await other.get(REFRESH_TOKEN)
    assert got is not None and got.value == rotated
    assert fake_kv.count("set") == writes


async def test_build_secret_store_picks_key_vault_or_the_local_file(
    credential: FakeCredential, vault_url: str, tmp_path: Path
) -> None:
    local_path = tmp_path / "secrets.json"
    env = settings_env(KEY_VAULT_URL=vault_url, LOCAL_SECRETS_PATH=str(local_path))
    kv = build_secret_store(Settings.from_env(env), credential)
    try:
        assert isinstance(kv, KeyVaultSecretStore)
        assert kv._client.vault_url == vault_url.rstrip("/")
    finally:
        await kv.close()

    local = build_secret_store(
        Settings.from_env(settings_env(LOCAL_SECRETS_PATH=str(local_path))), None
    )
    assert isinstance(local, LocalFileSecretStore)
    assert local.path == local_path


# --- transport, auth and failures ---------------------------------------------------------------


async def test_challenge_flow_then_bearer_token(
    kv_store: KeyVaultSecretStore, fake_kv: FakeKeyVault, credential: FakeCredential
) -> None:
    value = secret_value("cb")
    await kv_store.set(CALLBACK_TOKEN, value)
    first, second = fake_kv.requests
    # the SDK first sends the request without token and without body, to elicit the challenge
    assert (first.op, first.status, first.has_authorization, first.body_length) == (
        "set",
        401,
        False,
        0,
    )
    assert (second.op, second.status, second.authorized) == ("set", 200, True)
    assert second.body_length > len(value)
    # the token was asked for the resource and tenant named in the challenge
    assert credential.calls == [TokenRequest((VAULT_SCOPE,), fake_kv.tenant_id, None)]

    # the challenge and the token are reused: no further 401, no further token request
    got = await kv_store.get(CALLBACK_TOKEN)
    assert got is not None and got.value == value
    assert fake_kv.count(status=401) == 1
    assert len(credential.calls) == 1


async def test_a_token_the_vault_does_not_accept_is_a_store_error(
    make_kv_store: StoreFactory, fake_kv: FakeKeyVault
) -> None:
    wrong = FakeCredential(secret_value("not-the-vault-token"))
    store = make_kv_store(wrong)
    with pytest.raises(SecretStoreError):
        await store.get(APPLICATION_ID)
    assert fake_kv.count() == fake_kv.count(status=401) == 2
    assert len(wrong.calls) == 1


async def test_the_certificate_is_trusted_only_through_connection_verify(
    make_kv_store: StoreFactory, credential: FakeCredential, fake_kv: FakeKeyVault
) -> None:
    untrusting = make_kv_store(credential, connection_verify=True, retry_total=0)
    with pytest.raises(SecretStoreError) as info:
        await untrusting.get(APPLICATION_ID)
    assert "CERTIFICATE_VERIFY_FAILED" in "".join(traceback.format_exception(info.value))
    assert fake_kv.count() == 0

    trusting = make_kv_store(credential, retry_total=0)
    assert await trusting.get(APPLICATION_ID) is None


async def test_a_503_is_retried_then_succeeds(
    kv_store: KeyVaultSecretStore, fake_kv: FakeKeyVault
) -> None:
    assert await kv_store.get(CALLBACK_TOKEN) is None  # challenge done: only the write remains
    value = secret_value("cb")
    fake_kv.fail_next(1, retry_after=1)
    written = await kv_store.set(CALLBACK_TOKEN, value)
    assert written.value == value
    assert [r.status for r in fake_kv.requests if r.op == "set"] == [503, 200]
    assert [v.value for v in fake_kv.history(CALLBACK_TOKEN)] == [value]


async def test_persistent_failure_is_a_store_error_without_the_value(
    kv_store: KeyVaultSecretStore, fake_kv: FakeKeyVault
) -> None:
    assert await kv_store.get(REFRESH_TOKEN) is None
    value = secret_value("rt")
    fake_kv.fail_next(100, retry_after=1)
    with pytest.raises(SecretStoreError) as info:
        await kv_store.set(REFRESH_TOKEN, value)
    assert REFRESH_TOKEN in str(info.value)
    everything = "".join(traceback.format_exception(info.value)) + repr(info.value)
    assert value not in everything
    # bounded: the first attempt and retry_total=3 retries, then the error
    assert fake_kv.count("set", REFRESH_TOKEN, status=503) == 4
    assert fake_kv.history(REFRESH_TOKEN) == []


async def test_the_fake_requires_api_version_and_a_bearer_token(
    vault_server: VaultServer, fake_kv: FakeKeyVault
) -> None:
    tls = ssl.create_default_context(cafile=str(vault_server.cert))
    auth = {"Authorization": f"Bearer {vault_server.token}"}
    async with httpx.AsyncClient(base_url=vault_server.url, verify=tls) as client:
        missing = await client.get("secrets/x/", headers=auth)
        assert missing.status_code == 400
        assert missing.json()["error"]["code"] == "BadParameter"
        anonymous = await client.get("secrets/x/", params={"api-version": "7.6"})
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"] == (
            f'Bearer authorization="https://login.microsoftonline.com/{fake_kv.tenant_id}", '
            'resource="https://vault.azure.net"'
        )
        absent = await client.get("secrets/x/", params={"api-version": "7.6"}, headers=auth)
        assert absent.status_code == 404
        assert absent.json()["error"]["code"] == "SecretNotFound"


# --- the token manager with Key Vault and Azurite -----------------------------------------------


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeTokenService:
    """Stands in for Kaizala's GET /accessToken."""

    def __init__(self, clock: FakeClock, delay: float = 0.05) -> None:
        self.clock = clock
        self.delay = delay
        self.calls: list[str] = []
        self.rotate_to: str | None = None

    async def __call__(self, app_id: str, secret: str, refresh: str) -> AccessTokenResponse:
        self.calls.append(refresh)
        await asyncio.sleep(self.delay)
        rotated, self.rotate_to = self.rotate_to, None
        return AccessTokenResponse(
            accessToken=secret_value("at"),
            endpointUrl="https://kms1.kaiza.la/",
            accessTokenExpiry=int((self.clock() + 86400) * 1000),
            scope="",
            refreshToken=rotated or "",
        )


@pytest.fixture
async def tables(env: dict[str, str]) -> AsyncIterator[TableStore]:
    store = TableStore.from_settings(Settings.from_env(env).storage, env["TABLE_NAME_PREFIX"])
    yield store
    await store.close()


@pytest.fixture
async def onboarded(kv_store: KeyVaultSecretStore) -> str:
    """The vault holds the application id, secret and a refresh token; returns the latter."""
    refresh = secret_value("rt")
    await kv_store.set(APPLICATION_ID, "app-1")
    await kv_store.set(APPLICATION_SECRET, secret_value("app-secret"))
    await kv_store.set(REFRESH_TOKEN, refresh, {"expiresOn": str(int((NOW + 365 * 86400) * 1000))})
    return refresh


async def test_two_token_managers_make_one_call_and_one_key_vault_write(
    onboarded: str,
    make_kv_store: StoreFactory,
    vault_server: VaultServer,
    fake_kv: FakeKeyVault,
    tables: TableStore,
) -> None:
    clock = FakeClock()
    service = FakeTokenService(clock, delay=0.3)
    a, b = (
        TokenManager(
            service,
            make_kv_store(FakeCredential(vault_server.token)),
            TokenRowStore(LeaseStore(tables, clock)),
            clock=clock,
            poll_seconds=0.02,
        )
        for _ in range(2)
    )
    results = await asyncio.gather(*(m.current() for m in (a, b, a, b)))
    assert service.calls == [onboarded]
    assert len({t.value for t in results}) == 1
    # the leader wrote the access token once; the follower read it once; nobody else touched it
    assert fake_kv.count("set", ACCESS_TOKEN, status=200) == 1
    assert fake_kv.count("get", ACCESS_TOKEN, status=200) == 1
    # ... and that was the only read the managers made (counted at the vault, not in them)
    assert fake_kv.count("get", ACCESS_TOKEN, authorized=True) == 1
    stored = fake_kv.current(ACCESS_TOKEN)
    assert stored is not None and stored.value == results[0].value
    assert stored.tags["generation"] == "1"
    assert stored.tags["endpointUrl"] == "https://kms1.kaiza.la/"


async def test_a_rotated_refresh_token_lands_in_key_vault_before_the_access_token(
    onboarded: str,
    kv_store: KeyVaultSecretStore,
    make_kv_store: StoreFactory,
    credential: FakeCredential,
    fake_kv: FakeKeyVault,
    tables: TableStore,
) -> None:
    clock = FakeClock()
    service = FakeTokenService(clock)
    rows = TokenRowStore(LeaseStore(tables, clock))
    tm = TokenManager(service, kv_store, rows, clock=clock, poll_seconds=0.02)
    await tm.current()
    rotated = secret_value("rt-rotated")
    service.rotate_to = rotated
    clock.now += 13 * 3600
    await tm.current()

    stored = fake_kv.current(REFRESH_TOKEN)
    assert stored is not None and stored.value == rotated
    assert stored.tags["source"] == "rotation"
    writes = [r.name for r in fake_kv.requests if r.op == "set" and r.status == 200]
    assert writes[-2:] == [REFRESH_TOKEN, ACCESS_TOKEN]

    # a restarted instance (new client, same vault) refreshes with the rotated token
    restarted = TokenManager(
        service, make_kv_store(credential), rows, clock=clock, poll_seconds=0.02
    )
    clock.now += 13 * 3600
    await restarted.current()
    assert service.calls == [onboarded, onboarded, rotated]
