"""`python -m devtools.host`: serve function_app.py locally, like `func start`."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, ModuleType

import azure.functions as func
import uvicorn
from starlette.applications import Starlette

from devtools.host.errors import HostError
from devtools.host.indexing import IndexedApp, describe_functions, format_table, index_app
from devtools.host.runtime import create_host_app
from devtools.host.settings import load_local_settings

logger = logging.getLogger("devtools.host")

DEFAULT_PORT = 7071
DEFAULT_SETTINGS = Path("local.settings.json")
SHUTDOWN_GRACE_SECONDS = 5.0

# Libraries that log URLs or headers at INFO; those can carry keys and signed URLs.
_QUIET_LOGGERS = ("httpx", "httpcore", "azure.core.pipeline.policies.http_logging_policy")


class _Terminated(Exception):
    """SIGTERM after uvicorn's graceful shutdown: a normal way to stop."""


async def _close_app_clients() -> None:
    # The bridge keeps its HTTP and storage clients for the life of the process (like a
    # Functions worker); close them on the way out instead of leaving sockets to the GC.
    runtime = sys.modules.get("shared.runtime")
    if runtime is not None:
        await runtime.close_runtime()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging()
    try:
        settings = load_local_settings(
            args.settings or DEFAULT_SETTINGS, required=args.settings is not None
        )
        if settings.applied:
            # Counts only: the values are secrets. Nothing to say when the file set nothing
            # (`make run` exports the same values first).
            logger.info(
                "loaded %d setting(s) from %s (%d already set in the environment)",
                len(settings.applied),
                settings.path,
                len(settings.overridden),
            )
        module, app = load_app(args.app)
        indexed = index_app(app, base_dir=_host_json_folder(module))
        if args.list:
            print(format_table(describe_functions(indexed)))
            return 0
        asgi = create_host_app(
            indexed,
            timers=not args.no_schedules,
            shutdown_grace=SHUTDOWN_GRACE_SECONDS,
            on_shutdown=_close_app_clients,
        )
    except HostError as e:
        logger.error("cannot start: %s", e, exc_info=e.__cause__)
        return 2
    port = args.port or settings.local_http_port or DEFAULT_PORT
    _log_functions(indexed, f"http://{args.host}:{port}")
    return _serve(asgi, args.host, port)


def load_app(spec: str) -> tuple[ModuleType, func.FunctionApp]:
    """Import `module[:attribute]` (attribute default `app`) and return the FunctionApp."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise HostError(f"cannot import {module_name!r}: {type(e).__name__}: {e}") from e
    app = getattr(module, attribute or "app", None)
    if not isinstance(app, func.FunctionApp):
        raise HostError(f"{module_name}.{attribute or 'app'} is not an azure.functions.FunctionApp")
    return module, app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.host",
        description="Serve an Azure Functions Python v2 app locally (HTTP and timer triggers).",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"default: Host.LocalHttpPort of the settings file, else {DEFAULT_PORT}",
    )
    parser.add_argument(
        "--settings",
        type=Path,
        default=None,
        help=f"Core Tools settings file (default: {DEFAULT_SETTINGS}, optional)",
    )
    parser.add_argument(
        "--app", default="function_app", help="module[:attribute], attribute default 'app'"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--no-schedules",
        action="store_true",
        help="run timers only when asked (POST /admin/functions/<name>), never on schedule",
    )
    parser.add_argument(
        "--list", action="store_true", help="print the functions (auth level, route) and exit"
    )
    return parser


def _configure_logging() -> None:
    if logging.getLogger().handlers:
        return  # configured by whoever runs main() (an embedding process, pytest)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _host_json_folder(module: ModuleType) -> Path:
    # Core Tools reads host.json next to the app; fall back to the cwd (the project root).
    module_file = getattr(module, "__file__", None)
    if module_file:
        folder = Path(module_file).resolve().parent
        if (folder / "host.json").is_file():
            return folder
    return Path.cwd()


def _log_functions(indexed: IndexedApp, base_url: str) -> None:
    logger.info("functions (route prefix %r):", indexed.route_prefix)
    for row in describe_functions(indexed):
        if row["trigger"] == "http":
            logger.info(
                "  %s: [%s] %s/%s (auth %s, not enforced locally)",
                row["name"],
                ",".join(row["methods"]),
                base_url,
                row["route"],
                row["auth_level"],
            )
        else:
            logger.info("  %s: timer %s", row["name"], row["schedule"])


def _serve(asgi: Starlette, host: str, port: int) -> int:
    config = uvicorn.Config(
        asgi,
        host=host,
        port=port,
        lifespan="on",
        log_config=None,  # keep main()'s logging configuration
        access_log=False,  # the invocation line is the access log; paths can carry keys
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE_SECONDS),
    )
    server = uvicorn.Server(config)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        server.run()
    except (_Terminated, KeyboardInterrupt):
        # uvicorn re-raises the signal it shut down for, once it has shut down cleanly.
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0 if server.started else 1


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    raise _Terminated
