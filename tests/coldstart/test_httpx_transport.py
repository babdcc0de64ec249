"""The httpx transport under the Tables client: real Azurite, real sockets, no aiohttp."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError, ServiceResponseTimeoutError
from azure.core.rest import HttpRequest

from devtools.azurite import Azurite
from devtools.serving import free_port
from shared.adapters.httpx_transport import HttpxTransport
from shared.adapters.tables import TableStore
from shared.config import StorageSettings
from shared.errors import StorageError
from tests.support import fresh_python

ROOT = Path(__file__).resolve().parents[2]


def _store(connection_string: str) -> TableStore:
    settings = StorageSettings(
        connection_string=connection_string, table_service_uri=None, client_id=None
    )
    return TableStore.from_settings(settings, "t" + uuid.uuid4().hex[:12])


async def test_table_calls_round_trip_over_httpx(azurite: Azurite) -> None:
    store = _store(azurite.connection_string)
    try:
        assert await store.insert("things", {"PartitionKey": "p", "RowKey": "r", "n": 1})
        assert not await store.insert("things", {"PartitionKey": "p", "RowKey": "r", "n": 2})
        got = await store.get("things", "p", "r")
        assert got is not None and got.entity["n"] == 1
        assert await store.update("things", {"PartitionKey": "p", "RowKey": "r", "n": 3}, got.etag)
        # The old ETag no longer matches: a 412 through the transport, a False here.
        assert not await store.update("things", {"PartitionKey": "p", "RowKey": "r"}, got.etag)
        rows = [row async for row in store.query("things", "PartitionKey eq 'p'")]
        assert [r.entity["n"] for r in rows] == [3]
    finally:
        await store.close()


def test_a_fresh_process_never_imports_aiohttp(azurite: Azurite) -> None:
    # The point of the transport: the first storage call of a new instance does not pay for
    # importing aiohttp (azure-core's default async transport).
    script = f"""
import asyncio, json, sys
sys.path.insert(0, {str(ROOT)!r})
from tests.coldstart.test_httpx_transport import _store
async def main():
    store = _store({azurite.connection_string!r})
    await store.insert("fresh", {{"PartitionKey": "p", "RowKey": "r"}})
    found = await store.get("fresh", "p", "r")
    await store.close()
    return found is not None
print(json.dumps({{"found": asyncio.run(main()), "aiohttp": "aiohttp" in sys.modules}}))
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = fresh_python(script, env)
    assert json.loads(done) == {"found": True, "aiohttp": False}


async def test_nothing_listening_is_a_storage_error() -> None:
    port = free_port()  # nothing listens there
    conn = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
        + "QUJD" * 22
        + f";TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    store = _store(conn)
    try:
        with pytest.raises(StorageError):
            await store.get("things", "p", "r")
    finally:
        await store.close()
    transport = HttpxTransport(connection_timeout=1, read_timeout=1)
    async with transport:
        with pytest.raises(ServiceRequestError):
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/"))


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[int, asyncio.Event]]:
    """Accepts connections and reads, never answers; sets the event when a request arrived."""
    arrived = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        arrived.set()
        await reader.read()  # until the client gives up and closes

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, arrived
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_server_that_never_answers_is_a_response_timeout(
    silent_server: tuple[int, asyncio.Event],
) -> None:
    port, arrived = silent_server
    transport = HttpxTransport(connection_timeout=1, read_timeout=0.2)
    async with transport:
        with pytest.raises(ServiceResponseTimeoutError):
            await transport.send(HttpRequest("GET", f"http://127.0.0.1:{port}/x"))
    assert arrived.is_set()


async def test_streamed_and_read_bodies(azurite: Azurite) -> None:
    store = _store(azurite.connection_string)
    try:
        await store.insert("things", {"PartitionKey": "p", "RowKey": "r", "s": "x" * 20_000})
    finally:
        await store.close()
    # A streamed response reads the same bytes as a loaded one, in chunks (an unsigned list of
    # tables: Azurite answers it with an error body, which is all this needs).
    transport = HttpxTransport()
    async with transport:
        request = HttpRequest(
            "GET", f"http://127.0.0.1:{azurite.table_port}/devstoreaccount1/Tables"
        )
        loaded = await transport.send(request)
        streamed = await transport.send(request, stream=True)
        chunks = [part async for part in streamed.iter_bytes()]
        assert loaded.status_code == streamed.status_code
        streamed_body = b"".join(chunks)
        # Same error document (its RequestId and Time differ per request).
        assert streamed_body.split(b"RequestId")[0] == loaded.content.split(b"RequestId")[0]
        assert b"<Code>" in streamed_body and len(chunks) >= 1
        assert streamed.is_closed


# Keys as the stores build them (':' in group keys, quotes, '=' of base64, '@', ...): each one
# sent percent-encoded, as azure-core builds the URL, is refused by the shared-key check.
ODD_KEYS = ["a'b", "a=b", "a:b", "a@b", "a(b),c;d!e*f$g&h", "a+b", "a b", "a~b", "é"]


async def test_keys_with_reserved_characters_round_trip(azurite: Azurite) -> None:
    store = _store(azurite.connection_string)
    try:
        for key in ODD_KEYS:
            assert await store.insert("odd", {"PartitionKey": "p" + key, "RowKey": key, "n": 1})
            got = await store.get("odd", "p" + key, key)
            assert got is not None and got.entity["RowKey"] == key
            assert await store.update("odd", {"PartitionKey": "p" + key, "RowKey": key}, got.etag)
            rows = [r async for r in store.query("odd", "RowKey eq @rk", {"rk": key}, select=["n"])]
            assert len(rows) == 1
            assert await store.delete("odd", "p" + key, key)
    finally:
        await store.close()


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[int, list[bytes]]]:
    """Records each request line and answers 404 with no body."""
    lines: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines.append(head.split(b"\r\n", 1)[0])
                length = next(
                    (
                        int(h.split(b":", 1)[1])
                        for h in head.split(b"\r\n")
                        if h.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], lines
    finally:
        server.close()
        await server.wait_closed()


async def test_request_targets_are_byte_for_byte_aiohttps(
    recorder: tuple[int, list[bytes]],
) -> None:
    # What Azure has always received from this bridge is what azure-core's aiohttp transport
    # sends; the httpx transport must send the same request targets (path and query).
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.data.tables.aio import TableClient

    from devtools.azurite import DEV_ACCOUNT, DEV_KEY

    port, lines = recorder
    sent: dict[str, list[bytes]] = {}
    for name, transport in (("aiohttp", None), ("httpx", HttpxTransport())):
        extra: dict[str, Any] = {"transport": transport} if transport is not None else {}
        client = TableClient(
            f"http://127.0.0.1:{port}/{DEV_ACCOUNT}",
            "odd",
            credential=AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY),
            retry_total=0,
            **extra,
        )
        lines.clear()
        try:
            for key in ODD_KEYS:
                with contextlib.suppress(Exception):
                    await client.get_entity("p" + key, key)
                with contextlib.suppress(Exception):
                    await client.delete_entity("p" + key, key)
                with contextlib.suppress(Exception):
                    async for _ in client.query_entities(
                        "RowKey eq @rk and n ge 1", parameters={"rk": key}, select=["n"]
                    ):
                        pass
        finally:
            await client.close()
        sent[name] = list(lines)
    assert len(sent["httpx"]) == 3 * len(ODD_KEYS)
    assert sent["httpx"] == sent["aiohttp"]
