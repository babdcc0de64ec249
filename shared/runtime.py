"""Per-process singletons, built lazily on first use and reused by every invocation.

Azure reuses a worker process for many invocations, so clients (HTTP pools, table clients,
credentials) are created once here and never per request. Nothing is built at import time:
settings errors surface on first use, naming the setting, and tests can swap the environment.
"""

from __future__ import annotations

import asyncio
from functools import cached_property
from typing import TYPE_CHECKING

from shared.config import Settings, get_settings
from shared.storage import TableStore

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def credential(self) -> AsyncTokenCredential:
        # Only built when something needs Azure AD (managed-identity storage, Key Vault,
        # Dataverse); local runs with a connection string never touch it.
        from azure.identity.aio import DefaultAzureCredential

        client_id = self.settings.storage.client_id
        if client_id:
            return DefaultAzureCredential(managed_identity_client_id=client_id)
        return DefaultAzureCredential()

    @cached_property
    def tables(self) -> TableStore:
        storage = self.settings.storage
        credential = None if storage.connection_string else self.credential
        return TableStore.from_settings(storage, self.settings.table_prefix, credential)

    async def aclose(self) -> None:
        closers = []
        if "tables" in self.__dict__:
            closers.append(self.tables.close())
        if "credential" in self.__dict__:
            closers.append(self.credential.close())
        await asyncio.gather(*closers, return_exceptions=True)


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(get_settings())
    return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    """Install a runtime (tests, the local host); None forgets it."""
    global _runtime
    _runtime = runtime
