"""Start and stop Azurite (the real storage emulator) for tests, `make run` and the demo.

Tests and the demo keep its data in memory; `make run` gives a `location` so that the tables
survive a restart (Azurite writes them there every 5 s and when stopped with SIGINT).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from devtools.serving import free_port

ROOT = Path(__file__).resolve().parent.parent
# Azurite's published development account; not a secret (it is in Microsoft's docs).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
FLAGS = ("--disableTelemetry", "--skipApiVersionCheck", "--silent")


def connection_string(table_port: int, blob_port: int | None = None) -> str:
    parts = [
        "DefaultEndpointsProtocol=http",
        f"AccountName={DEV_ACCOUNT}",
        f"AccountKey={DEV_KEY}",
        f"TableEndpoint=http://127.0.0.1:{table_port}/{DEV_ACCOUNT}",
    ]
    if blob_port:
        parts.append(f"BlobEndpoint=http://127.0.0.1:{blob_port}/{DEV_ACCOUNT}")
    return ";".join(parts) + ";"


def _binary(name: str) -> str:
    local = ROOT / "node_modules" / ".bin" / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: run `npm ci` in {ROOT}")
    return found


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


class Azurite:
    """Azurite's table service (and optionally blob) on loopback, on free ports by default."""

    def __init__(
        self, table_port: int | None = None, blob: bool = False, location: Path | None = None
    ) -> None:
        self.table_port = table_port or free_port()
        self.blob_port = free_port() if blob else None
        self.location = location  # None: in memory, gone when stopped
        self.proc: subprocess.Popen[bytes] | None = None
        self._workdir = tempfile.mkdtemp(prefix="azurite-")

    @property
    def connection_string(self) -> str:
        return connection_string(self.table_port, self.blob_port)

    def start(self, timeout: float = 30.0) -> Azurite:
        if self.blob_port:
            cmd = [
                _binary("azurite"),
                "--tableHost",
                "127.0.0.1",
                "--tablePort",
                str(self.table_port),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.blob_port),
                "--queueHost",
                "127.0.0.1",
                "--queuePort",
                str(free_port()),
            ]
        else:
            cmd = [
                _binary("azurite-table"),
                "--tableHost",
                "127.0.0.1",
                "--tablePort",
                str(self.table_port),
            ]
        if self.location is None:
            cmd.append("--inMemoryPersistence")
        else:
            self.location.mkdir(parents=True, exist_ok=True)
            cmd += ["--location", str(self.location)]
        cmd += list(FLAGS)
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self._workdir
        )
        if not _wait_port(self.table_port, timeout):
            self.stop()
            raise RuntimeError("Azurite did not start")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            if self.location is None:
                self.proc.terminate()
            else:
                # SIGINT: only then does Azurite close its database, writing what its 5-second
                # autosave has not written yet (SIGTERM would lose it).
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
