"""`make run`: Azurite, the Kaizala and Dataverse simulators and the local Functions host.

Each part runs as its own process (like the real systems), its output prefixed with its name.
Ctrl-C or SIGTERM stops everything this started. `Stack` is also used by `make demo`.

With a state directory (`make run`: `.local/`), Azurite keeps its tables in `azurite/` there and
the simulators their state in `kaizala-sim.json` and `dataverse-sim.json`, so a restart keeps the
onboarding (whose tokens are in the secret store, `.local/secrets.json`), groups, webhooks and
actions; `make reset` deletes it all. Without one (tests, the demo) everything is in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx

from devtools.azurite import Azurite
from devtools.serving import free_port
from devtools.stack_sync import FirstSync, stale_secrets_warning

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Ports:
    host: int = 7071
    kaizala: int = 7081
    dataverse: int = 7082
    table: int = 10002

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port())


@dataclass
class Stack:
    settings_path: Path
    ports: Ports = field(default_factory=Ports)
    kaizala_args: Sequence[str] = ()
    quiet: bool = False
    # Receives every output line (component name, text) instead of stdout, e.g. a demo's log.
    on_line: Callable[[str, str], None] | None = None
    azurite: Azurite | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    state_dir: Path | None = None  # None: Azurite and the simulators keep state in memory
    # Sees every output line too (component, text), from the reader threads; prints nothing.
    watch: Callable[[str, str], None] | None = None

    def _state_args(self, name: str) -> list[str]:
        if self.state_dir is None:
            return []
        return ["--state-path", str(self.state_dir / f"{name}-sim.json")]

    def environment(self) -> dict[str, str]:
        """What the host sees: the settings file's values, with ports of this stack."""
        env = dict(os.environ)
        values = json.loads(self.settings_path.read_text(encoding="utf-8")).get("Values", {})
        values.update(
            {
                "AzureWebJobsStorage": self.azurite.connection_string if self.azurite else "",
                "KAIZALA_API_ROOT": f"http://127.0.0.1:{self.ports.kaizala}/v1",
                "DATAVERSE_URL": f"http://127.0.0.1:{self.ports.dataverse}",
                "WEBHOOK_CALLBACK_URL": f"http://127.0.0.1:{self.ports.host}/api/kaizala/webhook",
            }
        )
        wired = {"AzureWebJobsStorage", "KAIZALA_API_ROOT", "DATAVERSE_URL", "WEBHOOK_CALLBACK_URL"}
        for key, value in values.items():
            if key in wired:
                env[key] = str(value)  # this stack's own ports, whatever is exported
            else:
                env.setdefault(key, str(value))  # the real environment wins, as in the host
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self) -> Stack:
        try:
            location = None if self.state_dir is None else self.state_dir / "azurite"
            self.azurite = Azurite(table_port=self.ports.table, location=location).start()
            where = "in memory" if location is None else f"data in {location}"
            self._say("azurite", f"table service on 127.0.0.1:{self.ports.table} ({where})")
            env = self.environment()
            py = sys.executable
            self._spawn(
                "kaizala",
                [
                    py,
                    "-m",
                    "devtools.kaizala_sim",
                    "--port",
                    str(self.ports.kaizala),
                    *self.kaizala_args,
                    *self._state_args("kaizala"),
                ],
                env,
            )
            self._spawn(
                "dataverse",
                [
                    py,
                    "-m",
                    "devtools.dataverse_sim",
                    "--port",
                    str(self.ports.dataverse),
                    *self._state_args("dataverse"),
                ],
                env,
            )
            self._wait_http(f"http://127.0.0.1:{self.ports.kaizala}/_sim/stats", "kaizala")
            self._wait_http(f"http://127.0.0.1:{self.ports.dataverse}/_sim/stats", "dataverse")
            self._start_host(env)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_host(self, env: dict[str, str]) -> None:
        argv = [sys.executable, "-m", "devtools.host", "--port", str(self.ports.host)]
        self._spawn("host", [*argv, "--settings", str(self.settings_path)], env)
        self._wait_http(f"http://127.0.0.1:{self.ports.host}/api/health", "host")

    def restart_host(self) -> None:
        """Stop the host and start it again on its port, with the settings file read anew (as
        changing an app setting restarts a Functions app). The simulators and Azurite stay."""
        proc = self.procs.get("host")  # kept in `procs` until it is gone: stop() finds it
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs.pop("host", None)
        self._start_host(self.environment())

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        proc = subprocess.Popen(  # noqa: S603 - our own modules, no shell
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.procs[name] = proc
        threading.Thread(target=self._pump, args=(name, proc), daemon=True).start()

    def _pump(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in iter(proc.stdout.readline, b""):
            text = line.decode(errors="replace").rstrip()
            if self.watch is not None:
                self.watch(name, text)
            if not self.quiet or self.on_line is not None:
                self._say(name, text)

    def _say(self, name: str, text: str) -> None:
        if self.on_line is not None:
            self.on_line(name, text)
            return
        sys.stdout.write(f"[{name:9}] {text}\n")
        sys.stdout.flush()

    def _wait_http(self, url: str, name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}")
            try:
                if httpx.get(url, timeout=2.0).status_code < 600:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not answer within {timeout:.0f}s")

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()
        if self.azurite is not None:
            self.azurite.stop()
            self.azurite = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.stack", description=__doc__)
    parser.add_argument("--settings", type=Path, default=ROOT / "local.settings.json")
    parser.add_argument("--port", type=int, default=7071, help="the Functions host's port")
    parser.add_argument("--kaizala-port", type=int, default=7081)
    parser.add_argument("--dataverse-port", type=int, default=7082)
    parser.add_argument("--table-port", type=int, default=10002, help="Azurite's table service")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=ROOT / ".local",
        help="where Azurite and the simulators keep their state (default .local/)",
    )
    parser.add_argument(
        "--in-memory", action="store_true", help="keep no state: everything is gone when stopped"
    )
    parser.add_argument(
        "--kaizala-time-scale",
        type=float,
        default=1.0,
        help="shrink Kaizala token lifetimes (e.g. 86400: a day per second)",
    )
    args = parser.parse_args(argv)
    if not args.settings.is_file():
        print(f"{args.settings} not found (copy local.settings.example.json)", file=sys.stderr)
        return 2
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    ports = Ports(args.port, args.kaizala_port, args.dataverse_port, args.table_port)
    first_sync = FirstSync(ports.host, ports.kaizala, lambda text: stack._say("stack", text))
    stack = Stack(
        args.settings,
        ports,
        kaizala_args=["--time-scale", str(args.kaizala_time_scale)],
        state_dir=None if args.in_memory else args.state_dir.resolve(),
        watch=first_sync.notice,
    )
    if stack.state_dir is not None:
        secrets = ROOT / stack.environment().get("LOCAL_SECRETS_PATH", ".local/secrets.json")
        if warning := stale_secrets_warning(stack.state_dir, secrets):
            stack._say("stack", warning)
    try:
        stack.start()
    except RuntimeError as exc:
        print(f"start-up failed: {exc}", file=sys.stderr)
        first_sync.close()
        return 1
    print(
        f"\nKaizala Bridge on http://127.0.0.1:{args.port}/api/health "
        f"(Kaizala simulator :{stack.ports.kaizala}, Dataverse simulator "
        f":{stack.ports.dataverse}). State: {stack.state_dir or 'in memory'} "
        "(`make reset` starts afresh). Ctrl-C stops everything.\n",
        flush=True,
    )
    try:
        while not stopping.is_set():
            first_sync.poll()
            for name, proc in stack.procs.items():
                if proc.poll() is not None:
                    print(f"{name} exited with code {proc.returncode}; stopping", file=sys.stderr)
                    stopping.set()
            stopping.wait(0.5)
    finally:
        first_sync.close()
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
