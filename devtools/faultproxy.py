"""A fault-injecting HTTP/1.1 proxy for Azurite (or any plain-HTTP service), on loopback.

    python -m devtools.faultproxy --upstream 127.0.0.1:10002 [--port 0]

Point the bridge's `TableEndpoint` at the proxy instead of Azurite. Control, on the proxy's own
port (never forwarded):

    POST /_faults {"share": 0.3, "kinds": ["503", "500", "reset", "stall"],
                   "pathContains": "inbox", "methods": ["POST"], "stallSeconds": 5}
    DELETE /_faults        (no more faults)
    GET /_faults           (the settings and counts: requests, forwarded, injected by kind)

`share` of the matching requests get a fault, spread evenly and deterministically (request n is
faulted when floor((n + 1) * share) > floor(n * share)); the kinds take turns. `503`/`500`
answer without forwarding (the storage never saw the request); `reset` closes the connection
with a TCP reset before forwarding; `stall` waits `stallSeconds`, then forwards. In-process:
`FaultProxy(upstream_port).start()` in a thread, `.set_faults(...)`, `.clear()`, `.stop()`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import socket
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from devtools.serving import free_port

KINDS = ("503", "500", "reset", "stall")
MAX_HEAD_BYTES = 64 * 1024
IO_TIMEOUT_SECONDS = 30.0


@dataclass
class Faults:
    share: float = 0.0
    kinds: tuple[str, ...] = ()
    path_contains: str = ""
    methods: tuple[str, ...] = ()
    stall_seconds: float = 5.0

    @classmethod
    def parse(cls, body: dict[str, Any]) -> Faults:
        share = float(body.get("share", 0.0))
        kinds = tuple(str(k) for k in body.get("kinds", KINDS))
        if not 0.0 <= share <= 1.0 or not kinds or any(k not in KINDS for k in kinds):
            raise ValueError(f"share in [0, 1] and kinds among {KINDS}")
        return cls(
            share=share,
            kinds=kinds,
            path_contains=str(body.get("pathContains", "")),
            methods=tuple(str(m).upper() for m in body.get("methods", ())),
            stall_seconds=min(float(body.get("stallSeconds", 5.0)), 60.0),
        )


@dataclass
class Counts:
    requests: int = 0
    matching: int = 0
    forwarded: int = 0
    injected: dict[str, int] = field(default_factory=dict)


class FaultProxy:
    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1", port: int = 0):
        self.upstream = (upstream_host, upstream_port)
        self.port = port or free_port()
        self._faults = Faults()
        self._counts = Counts()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    # ---- control ------------------------------------------------------------------------------

    def set_faults(self, **body: Any) -> None:
        faults = Faults.parse(body)
        with self._lock:
            self._faults = faults
            self._counts.matching = 0

    def clear(self) -> None:
        with self._lock:
            self._faults = Faults()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            f, c = self._faults, self._counts
            return {
                "share": f.share,
                "kinds": list(f.kinds),
                "pathContains": f.path_contains,
                "methods": list(f.methods),
                "stallSeconds": f.stall_seconds,
                "requests": c.requests,
                "forwarded": c.forwarded,
                "injected": dict(c.injected),
            }

    def _choose(self, method: str, path: str) -> str | None:
        """The fault for this request, if any (deterministic: see the module docstring)."""
        with self._lock:
            f, c = self._faults, self._counts
            c.requests += 1
            if f.share <= 0 or path.startswith("/_faults"):
                return None
            if f.path_contains not in path or (f.methods and method not in f.methods):
                return None
            n = c.matching
            c.matching += 1
            if math.floor((n + 1) * f.share) <= math.floor(n * f.share):
                return None
            kind = f.kinds[sum(c.injected.values()) % len(f.kinds)]
            c.injected[kind] = c.injected.get(kind, 0) + 1
            return kind

    # ---- serving ------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._run, name=f"faultproxy-{self.port}")
        self._thread.daemon = True
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port)
        )
        self._started.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    async def serve_forever(self) -> None:
        server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        async with server:
            await server.serve_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                request = await _read_message(reader, request=True)
                if request is None:
                    return
                head, body = request
                method, path = _request_line(head)
                if path.startswith("/_faults"):
                    writer.write(self._control(method, body))
                    await writer.drain()
                    continue
                kind = self._choose(method, path)
                if kind in ("503", "500"):
                    writer.write(_answer(int(kind), {"error": "injected by devtools.faultproxy"}))
                    await writer.drain()
                    continue
                if kind == "reset":
                    _reset(writer)
                    return
                if kind == "stall":
                    await asyncio.sleep(self._faults.stall_seconds)
                if upstream is None:
                    upstream = await asyncio.open_connection(*self.upstream)
                upstream[1].write(head + body)
                await upstream[1].drain()
                answer = await _read_message(upstream[0], request=False)
                if answer is None:
                    return
                with self._lock:
                    self._counts.forwarded += 1
                writer.write(answer[0] + answer[1])
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            return
        finally:
            if upstream is not None:
                upstream[1].close()
            with contextlib.suppress(Exception):
                writer.close()

    def _control(self, method: str, body: bytes) -> bytes:
        try:
            if method == "POST":
                self.set_faults(**json.loads(body or b"{}"))
            elif method == "DELETE":
                self.clear()
            elif method != "GET":
                return _answer(405, {"error": "GET, POST or DELETE"})
        except (ValueError, TypeError) as exc:
            return _answer(400, {"error": str(exc)})
        return _answer(200, self.describe())


async def _read_message(
    reader: asyncio.StreamReader, *, request: bool
) -> tuple[bytes, bytes] | None:
    """One HTTP/1.1 message: its head and its body (Content-Length or chunked), as bytes."""
    try:
        head = await asyncio.wait_for(
            reader.readuntil(b"\r\n\r\n"), None if request else IO_TIMEOUT_SECONDS
        )
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise
    if len(head) > MAX_HEAD_BYTES:
        raise ValueError("head too large")
    headers = {
        k.strip().lower(): v.strip()
        for k, _, v in (line.partition(":") for line in head.decode("latin-1").split("\r\n")[1:])
        if k
    }
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            body += size_line + chunk
            if size == 0:
                return head, body
    length = int(headers.get("content-length", "0"))
    status_has_body = request or not head.split(b" ", 2)[1].startswith((b"204", b"304"))
    body = await reader.readexactly(length) if length and status_has_body else b""
    return head, body


def _request_line(head: bytes) -> tuple[str, str]:
    method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    return method.upper(), path


def _answer(status: int, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    reason = {
        200: "OK",
        400: "Bad Request",
        405: "Method Not Allowed",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), as a dropped connection looks to the client."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.faultproxy", description=__doc__)
    parser.add_argument("--upstream", required=True, help="host:port of the service (loopback)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the upstream must be on loopback")
    proxy = FaultProxy(int(port), upstream_host=host, port=args.port)
    print(f"fault proxy on 127.0.0.1:{proxy.port} -> {args.upstream}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(proxy.serve_forever())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
