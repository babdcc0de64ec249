"""Run an ASGI app (a simulator, the local host) on loopback in a background thread.

Tests and `make demo` use this to put real HTTP servers on 127.0.0.1 with a free port, and to
stop them deterministically.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerThread:
    """A uvicorn server in a daemon thread; `start()` returns once it accepts connections."""

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int | None = None, **options: Any
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        # `options` go to uvicorn.Config as they are (e.g. ssl_certfile/ssl_keyfile for TLS).
        self.scheme = "https" if options.get("ssl_certfile") else "http"
        settings: dict[str, Any] = {"log_level": "warning", "lifespan": "auto", "access_log": False}
        settings.update(options)
        config = uvicorn.Config(app, host=host, port=self.port, **settings)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, name=f"asgi-{self.port}", daemon=True
        )

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


@contextlib.contextmanager
def serve(app: Any, host: str = "127.0.0.1", port: int | None = None) -> Iterator[ServerThread]:
    server = ServerThread(app, host, port).start()
    try:
        yield server
    finally:
        server.stop()
