"""Table storage: one async TableServiceClient per process, tables created on first use.

Everything the bridge keeps (correlations, idempotency keys, outbox, inbox, leases) goes through
`TableStore`, which also enforces the limits of real Azure Table storage that Azurite does not
(key characters and length, property and entity sizes), so what passes locally passes in Azure.
"""

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import EdmType, EntityProperty, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from shared.adapters.httpx_transport import HttpxTransport
from shared.config import StorageSettings
from shared.errors import BridgeError, StorageError

log = logging.getLogger(__name__)

# Real Azure Table storage limits (Azurite is more lenient on several of them).
MAX_KEY_BYTES = 1024
MAX_PROPERTY_BYTES = 64 * 1024
MAX_ENTITY_BYTES = 1024 * 1024
MAX_PROPERTIES = 252
_KEY_FORBIDDEN = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")

Entity = dict[str, Any]


class EntityTooLargeError(BridgeError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


def check_key(value: str, what: str = "key") -> str:
    """Reject keys Azure would refuse (Azurite accepts some of them)."""
    if not value:
        raise ValueError(f"{what} is empty")
    if _KEY_FORBIDDEN.search(value):
        raise ValueError(f"{what} contains a character Table storage forbids")
    if len(value.encode("utf-16-le")) > MAX_KEY_BYTES:
        raise ValueError(f"{what} is longer than Table storage allows")
    return value


def _property_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-16-le"))
    if isinstance(value, bytes | bytearray):
        return len(value)
    return 8


def check_entity(entity: Mapping[str, Any]) -> None:
    check_key(str(entity["PartitionKey"]), "PartitionKey")
    check_key(str(entity["RowKey"]), "RowKey")
    if len(entity) > MAX_PROPERTIES:
        raise EntityTooLargeError("the entity has more properties than Table storage allows")
    total = 0
    for name, value in entity.items():
        size = _property_size(value)
        if size > MAX_PROPERTY_BYTES:
            raise EntityTooLargeError(f"property {name} is larger than Table storage allows")
        total += size + len(name) * 2 + 8
    if total > MAX_ENTITY_BYTES - 4096:  # keep headroom for system properties
        raise EntityTooLargeError("the entity is larger than Table storage allows")


# A blob of bytes (a raw webhook event) is kept compressed across binary properties, since a
# single property holds at most 64 KiB.
_CHUNK = MAX_PROPERTY_BYTES


def pack_blob(data: bytes, prefix: str = "Body") -> dict[str, Any]:
    packed = zlib.compress(data, level=6)
    chunks = [packed[i : i + _CHUNK] for i in range(0, len(packed), _CHUNK)] or [b""]
    props: dict[str, Any] = {f"{prefix}Chunks": len(chunks)}
    for i, chunk in enumerate(chunks):
        props[f"{prefix}{i}"] = chunk
    return props


def unpack_blob(entity: Mapping[str, Any], prefix: str = "Body") -> bytes:
    count = int(entity.get(f"{prefix}Chunks", 0))
    packed = b"".join(bytes(entity[f"{prefix}{i}"]) for i in range(count))
    return zlib.decompress(packed) if packed else b""


_INT32 = range(-(2**31), 2**31)


def _to_table(entity: Mapping[str, Any]) -> Entity:
    """Python ints beyond 32 bits go as Edm.Int64 (the SDK refuses them otherwise)."""
    return {
        k: EntityProperty(v, EdmType.INT64)
        if isinstance(v, int) and not isinstance(v, bool) and v not in _INT32
        else v
        for k, v in entity.items()
    }


def _from_table(entity: Mapping[str, Any]) -> Entity:
    return {k: v.value if isinstance(v, EntityProperty) else v for k, v in entity.items()}


@dataclass(frozen=True)
class Stored:
    entity: Entity
    etag: str


class TableStore:
    """Async access to the bridge's tables. Build once per process (see shared.runtime)."""

    def __init__(self, service: TableServiceClient, prefix: str) -> None:
        self._service = service
        self._prefix = prefix
        self._clients: dict[str, TableClient] = {}
        self._created: set[str] = set()
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls,
        storage: StorageSettings,
        prefix: str,
        credential: AsyncTokenCredential | None = None,
    ) -> TableStore:
        # Short timeouts and few retries: a webhook must answer within seconds, and durable
        # retries happen one level up (inbox/outbox timers), not inside the SDK.
        # The httpx transport, not azure-core's default aiohttp one: httpx is loaded anyway
        # (Kaizala, Dataverse), aiohttp would be imported on a fresh instance's first request.
        options: dict[str, Any] = {
            "retry_total": 2,
            "retry_backoff_factor": 0.2,
            "retry_backoff_max": 2,
            "transport": HttpxTransport(connection_timeout=5, read_timeout=15),
        }
        if storage.connection_string:
            service = TableServiceClient.from_connection_string(
                storage.connection_string, **options
            )
        else:
            if credential is None or storage.table_service_uri is None:
                raise StorageError("managed-identity storage needs a credential and a URI")
            service = TableServiceClient(
                endpoint=storage.table_service_uri, credential=credential, **options
            )
        return cls(service, prefix)

    def table_name(self, name: str) -> str:
        full = f"{self._prefix}{name}"
        if not _TABLE_NAME.match(full):
            raise ValueError(f"invalid table name {full!r}")
        return full

    async def table(self, name: str) -> TableClient:
        full = self.table_name(name)
        client = self._clients.get(full)
        if client is not None and full in self._created:
            return client
        async with self._lock:
            if full not in self._created:
                try:
                    await self._service.create_table(full)
                except ResourceExistsError:
                    pass
                except AzureError as exc:
                    raise _storage_error(exc) from exc
                self._created.add(full)
                self._clients[full] = self._service.get_table_client(full)
        return self._clients[full]

    async def insert(self, table: str, entity: Entity) -> bool:
        """Insert-only. True if inserted, False if a row with those keys already exists."""
        check_entity(entity)
        client = await self.table(table)
        try:
            await client.create_entity(_to_table(entity))
            return True
        except ResourceExistsError:
            return False
        except AzureError as exc:
            raise _storage_error(exc) from exc

    async def get(self, table: str, pk: str, rk: str) -> Stored | None:
        client = await self.table(table)
        try:
            found = await client.get_entity(check_key(pk), check_key(rk))
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise _storage_error(exc) from exc
        return Stored(_from_table(found), str(found.metadata.get("etag")))

    async def upsert(self, table: str, entity: Entity, *, replace: bool = False) -> None:
        check_entity(entity)
        client = await self.table(table)
        mode = UpdateMode.REPLACE if replace else UpdateMode.MERGE
        try:
            await client.upsert_entity(_to_table(entity), mode=mode)
        except AzureError as exc:
            raise _storage_error(exc) from exc

    async def update(self, table: str, entity: Entity, etag: str, *, replace: bool = False) -> bool:
        """Compare-and-swap on the ETag. False when another writer changed or removed the row."""
        check_entity(entity)
        client = await self.table(table)
        mode = UpdateMode.REPLACE if replace else UpdateMode.MERGE
        try:
            await client.update_entity(
                _to_table(entity),
                mode=mode,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
            return True
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        except HttpResponseError as exc:
            if exc.status_code in (409, 412):
                return False
            raise _storage_error(exc) from exc
        except AzureError as exc:
            raise _storage_error(exc) from exc

    async def delete(self, table: str, pk: str, rk: str, etag: str | None = None) -> bool:
        client = await self.table(table)
        try:
            if etag:
                await client.delete_entity(
                    pk, rk, etag=etag, match_condition=MatchConditions.IfNotModified
                )
            else:
                await client.delete_entity(pk, rk)
            return True
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        except HttpResponseError as exc:
            if exc.status_code in (404, 412):
                return False
            raise _storage_error(exc) from exc
        except AzureError as exc:
            raise _storage_error(exc) from exc

    async def query(
        self,
        table: str,
        filter_: str,
        parameters: dict[str, Any] | None = None,
        *,
        select: list[str] | None = None,
        page_size: int = 100,
        limit: int | None = None,
    ) -> AsyncIterator[Stored]:
        client = await self.table(table)
        count = 0
        try:
            async for found in client.query_entities(
                filter_, parameters=parameters, select=select, results_per_page=page_size
            ):
                yield Stored(_from_table(found), str(found.metadata.get("etag")))
                count += 1
                if limit is not None and count >= limit:
                    return
        except AzureError as exc:
            raise _storage_error(exc) from exc

    async def ping(self) -> None:
        """One cheap round trip that proves the table endpoint answers (for /api/health)."""
        try:
            async for _ in self._service.list_tables(results_per_page=1):
                break
        except AzureError as exc:
            raise _storage_error(exc) from exc

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        await self._service.close()


def _storage_error(exc: AzureError) -> StorageError:
    # The SDK's message can include the account URL but never the key; still keep it short.
    log.warning("table storage call failed: %s", type(exc).__name__)
    return StorageError("Table storage is unavailable; try again later.", retry_after=5)


async def expire_rows(
    tables: TableStore,
    table: str,
    older_than_ms: int,
    time_field: str,
    extra_filter: str = "",
    limit: int = 500,
) -> int:
    """Delete rows of `table` whose integer `time_field` (epoch ms) is before `older_than_ms`.

    `extra_filter` narrows it (an OData expression over fixed names, never user input).
    Bounded per call (`limit`); each delete is conditional on the ETag read, so a row
    changed meanwhile is kept for the next run. Returns the number deleted.
    """
    if not time_field.isidentifier():
        raise ValueError("time_field must be a property name")
    old = [
        s
        async for s in tables.query(
            table,
            f"{time_field} lt @cutoff" + (f" and ({extra_filter})" if extra_filter else ""),
            {"cutoff": older_than_ms},
            select=["PartitionKey", "RowKey"],
            limit=limit,
        )
    ]
    deleted = 0
    for stored in old:
        e = stored.entity
        if await tables.delete(table, str(e["PartitionKey"]), str(e["RowKey"]), stored.etag):
            deleted += 1
    if deleted:
        log.info("expired %d rows from %s", deleted, table)
    return deleted
