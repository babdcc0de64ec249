"""Key Vault on the httpx transport: a fresh process's secret reads import no aiohttp."""

from __future__ import annotations

import json
from pathlib import Path

from tests.keyvault.conftest import VaultServer, fake_kv, vault_server  # noqa: F401 - fixtures
from tests.keyvault.fake_keyvault import FakeKeyVault
from tests.support import fresh_python

ROOT = Path(__file__).resolve().parents[2]


def test_a_fresh_key_vault_read_imports_no_aiohttp(
    vault_server: VaultServer,  # noqa: F811 - the fixture
    fake_kv: FakeKeyVault,  # noqa: F811 - the fixture
) -> None:
    script = f"""
import asyncio, json, sys
from shared.adapters.secrets import KeyVaultSecretStore
from tests.keyvault.fake_keyvault import FakeCredential
async def main():
    store = KeyVaultSecretStore.create({vault_server.url!r}, FakeCredential({vault_server.token!r}),
                                       connection_verify={str(vault_server.cert)!r},
                                       verify_challenge_resource=False)
    try:
        await store.set("cold-secret", "v1")
        found = await store.get("cold-secret")
    finally:
        await store.close()
    return found is not None and found.value == "v1"
ok = asyncio.run(main())
print(json.dumps({{"ok": ok, "aiohttp": sorted(m for m in sys.modules
                                              if m.split(".")[0] == "aiohttp")}}))
"""
    done = fresh_python(script)
    assert json.loads(done) == {"ok": True, "aiohttp": []}
