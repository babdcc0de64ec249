"""Secret store: one interface, two backends (Azure Key Vault, or a local JSON file).

Secret names are a contract shared with operators and infra:
`kaizala-application-id`, `kaizala-application-secret`, `kaizala-refresh-token`,
`kaizala-access-token` (tags `endpointUrl`, `expiresOn` epoch ms), `kaizala-callback-token`.
Values never appear in logs, reprs or errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shared.clock import Clock, now_ms, wall
from shared.config import Settings
from shared.errors import UnavailableError

log = logging.getLogger(__name__)

APPLICATION_ID = "kaizala-application-id"
APPLICATION_SECRET = "kaizala-application-secret"  # noqa: S105 - a name, not a value
REFRESH_TOKEN = "kaizala-refresh-token"  # noqa: S105
ACCESS_TOKEN = "kaizala-access-token"  # noqa: S105
CALLBACK_TOKEN = "kaizala-callback-token"  # noqa: S105
SECRET_NAMES = (APPLICATION_ID, APPLICATION_SECRET, REFRESH_TOKEN, ACCESS_TOKEN, CALLBACK_TOKEN)


@dataclass(frozen=True)
class Secret:
    name: str
    value: str = field(repr=False)
    tags: Mapping[str, str] = field(default_factory=dict)
    created_on: float = 0.0  # epoch seconds
    version: str = ""


class SecretStoreError(UnavailableError):
    slug = "secret-store-unavailable"
    title = "Secret store unavailable"


class SecretStore(Protocol):
    async def get(self, name: str) -> Secret | None: ...

    async def set(self, name: str, value: str, tags: Mapping[str, str] | None = None) -> Secret: ...

    async def versions(self, name: str, limit: int = 3) -> list[Secret]:
        """The newest versions first (the current one included)."""
        ...

    async def close(self) -> None: ...


# --- local file -----------------------------------------------------------------------------


class LocalFileSecretStore:
    """A JSON file (mode 0600) for local runs; keeps a short version history per secret.

    Writes are atomic (temp file + rename) and serialised across processes with a file lock,
    so the local host and the onboarding command can share it.
    """

    HISTORY = 5

    def __init__(self, path: str | os.PathLike[str], clock: Clock = wall) -> None:
        self.path = Path(path)
        self._clock = clock  # stands in for Key Vault's own clock (a version's created_on)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.path.with_suffix(self.path.suffix + ".lock")
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _read(self) -> dict[str, list[dict[str, Any]]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SecretStoreError(f"local secret store {self.path} is unreadable") from exc
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, list[dict[str, Any]]]) -> None:
        tmp = self.path.with_suffix(self.path.suffix + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        os.chmod(self.path, 0o600)

    @staticmethod
    def _secret(name: str, item: Mapping[str, Any]) -> Secret:
        return Secret(
            name,
            str(item["value"]),
            dict(item.get("tags") or {}),
            float(item.get("created", 0)),
            str(item.get("version", "")),
        )

    def _get_sync(self, name: str) -> Secret | None:
        items = self._read().get(name) or []
        return self._secret(name, items[0]) if items else None

    def _set_sync(self, name: str, value: str, tags: Mapping[str, str] | None) -> Secret:
        with self._locked():
            data = self._read()
            now = self._clock()
            item = {
                "value": value,
                "tags": dict(tags or {}),
                "created": now,
                "version": f"{int(now * 1000):x}",
            }
            data[name] = [item, *(data.get(name) or [])][: self.HISTORY]
            self._write(data)
        return self._secret(name, item)

    def _versions_sync(self, name: str, limit: int) -> list[Secret]:
        return [self._secret(name, i) for i in (self._read().get(name) or [])[:limit]]

    async def get(self, name: str) -> Secret | None:
        return await asyncio.to_thread(self._get_sync, name)

    async def set(self, name: str, value: str, tags: Mapping[str, str] | None = None) -> Secret:
        return await asyncio.to_thread(self._set_sync, name, value, tags)

    async def versions(self, name: str, limit: int = 3) -> list[Secret]:
        return await asyncio.to_thread(self._versions_sync, name, limit)

    async def close(self) -> None:
        return None


# --- Key Vault --------------------------------------------------------------------------------


class KeyVaultSecretStore:
    """Azure Key Vault through azure-keyvault-secrets (async), with DefaultAzureCredential."""

    def __init__(self, client: Any) -> None:
        # `client` is an azure.keyvault.secrets.aio.SecretClient (typed loosely so importing
        # this module does not require the SDK where the local store is used).
        self._client = client

    @classmethod
    def create(cls, vault_url: str, credential: Any, **client_options: Any) -> KeyVaultSecretStore:
        from azure.keyvault.secrets.aio import SecretClient

        # Bounded SDK retries: token renewal runs on a timer, which retries on its next run.
        options: dict[str, Any] = {
            "retry_total": 3,
            "retry_backoff_factor": 0.5,
            "connection_timeout": 10,
        }
        options.update(client_options)
        # On the httpx transport, as the Tables client: a new instance's first secret read does
        # not import aiohttp (bench/README.md, cold start).
        from shared.adapters.httpx_transport import HttpxTransport

        transport = HttpxTransport(
            connection_timeout=options.pop("connection_timeout"),
            verify=options.pop("connection_verify", True),
        )
        return cls(
            SecretClient(vault_url=vault_url, credential=credential, transport=transport, **options)
        )

    @staticmethod
    def _secret(name: str, kv: Any) -> Secret:
        props = kv.properties
        created = props.created_on.timestamp() if props.created_on else 0.0
        return Secret(name, kv.value or "", dict(props.tags or {}), created, props.version or "")

    async def get(self, name: str) -> Secret | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            kv = await self._client.get_secret(name)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise SecretStoreError(f"Key Vault read of {name} failed") from exc
        return self._secret(name, kv)

    async def set(self, name: str, value: str, tags: Mapping[str, str] | None = None) -> Secret:
        from azure.core.exceptions import AzureError

        try:
            kv = await self._client.set_secret(
                name, value, tags=dict(tags or {}), content_type="text/plain"
            )
        except AzureError as exc:
            raise SecretStoreError(f"Key Vault write of {name} failed") from exc
        return self._secret(name, kv)

    async def versions(self, name: str, limit: int = 3) -> list[Secret]:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            # The current version is what get_secret returns; `created` has whole-second
            # resolution, so ordering by it alone could put an older version first.
            current = await self._client.get_secret(name)
            result = [self._secret(name, current)]
            props = [
                p
                async for p in self._client.list_properties_of_secret_versions(name)
                if p.enabled is not False and p.version != current.properties.version
            ]
            props.sort(key=lambda p: p.created_on.timestamp() if p.created_on else 0, reverse=True)
            for p in props[: max(0, limit - 1)]:
                result.append(self._secret(name, await self._client.get_secret(name, p.version)))
            return result[: max(0, limit)]
        except ResourceNotFoundError:
            return []
        except AzureError as exc:
            raise SecretStoreError(f"Key Vault read of {name} versions failed") from exc

    async def close(self) -> None:
        await self._client.close()


def build_secret_store(
    settings: Settings, credential: Any | None, clock: Clock = wall
) -> SecretStore:
    if settings.key_vault_url:
        return KeyVaultSecretStore.create(settings.key_vault_url, credential)
    return LocalFileSecretStore(settings.local_secrets_path, clock)


async def seed_from_settings(
    store: SecretStore, settings: Settings, clock: Clock = wall
) -> list[str]:
    """Copy KAIZALA_APPLICATION_ID/_SECRET/_REFRESH_TOKEN into the store once, when absent.

    Only when absent: a refresh token rotated later must never be overwritten by the original
    value still sitting in the app settings.
    """
    seeded = []
    pairs: tuple[tuple[str, str | None, dict[str, str]], ...] = (
        (APPLICATION_ID, settings.kaizala_application_id, {}),
        (APPLICATION_SECRET, settings.kaizala_application_secret, {}),
        (
            REFRESH_TOKEN,
            settings.kaizala_refresh_token,
            {"source": "settings", "issuedOn": str(now_ms(clock))},
        ),
    )
    for name, value, tags in pairs:
        if value and await store.get(name) is None:
            await store.set(name, value, tags)
            seeded.append(name)
    if seeded:
        log.info("secret store seeded from settings: %s", ", ".join(seeded))
    return seeded


class SeededSecretStore:
    """Wraps a store so the first use seeds it from the settings (once per process)."""

    def __init__(self, inner: SecretStore, settings: Settings, clock: Clock = wall) -> None:
        self.inner = inner
        self._settings = settings
        self._clock = clock
        self._seeded = False
        self._lock = asyncio.Lock()

    async def _ensure(self) -> None:
        if self._seeded:
            return
        async with self._lock:
            if not self._seeded:
                await seed_from_settings(self.inner, self._settings, self._clock)
                self._seeded = True

    async def get(self, name: str) -> Secret | None:
        await self._ensure()
        return await self.inner.get(name)

    async def set(self, name: str, value: str, tags: Mapping[str, str] | None = None) -> Secret:
        await self._ensure()
        return await self.inner.set(name, value, tags)

    async def versions(self, name: str, limit: int = 3) -> list[Secret]:
        await self._ensure()
        return await self.inner.versions(name, limit)

    async def close(self) -> None:
        await self.inner.close()
