"""Fixtures for the Key Vault store tests: an HTTPS fake vault, a fake credential, the store.

The fake vault runs once per session on 127.0.0.1 with a self-signed certificate made at test
time; each test starts from an empty vault, no recorded requests, no faults and an empty SDK
challenge cache (so every test's first request goes through the 401 challenge, as in a new
process).
"""

from __future__ import annotations

import secrets as pysecrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.keyvault.secrets._shared import http_challenge_cache

from shared.adapters.secrets import KeyVaultSecretStore
from tests.conftest import register_secret
from tests.keyvault.fake_keyvault import (
    FakeCredential,
    FakeKeyVault,
    serve_https,
    write_self_signed_cert,
)


@dataclass(frozen=True)
class VaultServer:
    fake: FakeKeyVault
    url: str  # https://127.0.0.1:<port>/
    cert: Path  # the self-signed certificate, for connection_verify
    token: str  # the only bearer token the fake accepts


@pytest.fixture(scope="session")
def vault_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultServer]:
    cert, key = write_self_signed_cert(tmp_path_factory.mktemp("keyvault-tls"))
    token = "kv-bearer-" + pysecrets.token_urlsafe(24)
    register_secret(token)
    fake = FakeKeyVault(token, tenant_id=str(uuid.uuid4()))
    with serve_https(fake.app, cert, key) as server:
        yield VaultServer(fake, server.url + "/", cert, token)


@pytest.fixture
def fake_kv(vault_server: VaultServer) -> FakeKeyVault:
    vault_server.fake.reset()
    # The SDK caches the vault's challenge per origin for the whole process; forget it so that
    # each test sees the full challenge flow and does not depend on the order tests run in.
    http_challenge_cache.clear()
    return vault_server.fake


@pytest.fixture
def vault_url(vault_server: VaultServer) -> str:
    return vault_server.url


@pytest.fixture
def credential(vault_server: VaultServer) -> FakeCredential:
    return FakeCredential(vault_server.token)


StoreFactory = Callable[..., KeyVaultSecretStore]


@pytest.fixture
async def make_kv_store(
    vault_server: VaultServer, fake_kv: FakeKeyVault
) -> AsyncIterator[StoreFactory]:
    """Build more stores (one per simulated instance); all are closed after the test."""
    made: list[KeyVaultSecretStore] = []

    def make(credential: Any, **options: Any) -> KeyVaultSecretStore:
        options.setdefault("connection_verify", str(vault_server.cert))
        store = KeyVaultSecretStore.create(
            vault_server.url,
            credential,
            # Tests only: the fake's host is 127.0.0.1, not *.vault.azure.net, so the SDK's
            # check that the challenge resource matches the vault's domain must be off here.
            verify_challenge_resource=False,
            **options,
        )
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


@pytest.fixture
async def kv_store(make_kv_store: StoreFactory, credential: FakeCredential) -> KeyVaultSecretStore:
    return make_kv_store(credential)
