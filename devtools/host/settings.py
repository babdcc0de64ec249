"""Start-up inputs the Functions host reads from files: local.settings.json and host.json."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.host.errors import HostError

logger = logging.getLogger("devtools.host")

DEFAULT_ROUTE_PREFIX = "api"


@dataclass(frozen=True)
class LocalSettings:
    """What loading local.settings.json did. Names only: the values are secrets."""

    path: Path
    found: bool
    applied: tuple[str, ...] = ()
    overridden: tuple[str, ...] = ()  # in the file, but the real environment already had them
    local_http_port: int | None = None


def load_local_settings(
    path: Path, *, required: bool = False, environ: MutableMapping[str, str] | None = None
) -> LocalSettings:
    """Copy `Values` of a Core Tools local.settings.json into the environment.

    A variable already set in the real environment wins, as with Core Tools. A missing file is
    fine (warning) unless `required` (the user named it explicitly). Errors never quote values.
    """
    env = os.environ if environ is None else environ
    if not path.is_file():
        if required:
            raise HostError(f"settings file {path} does not exist")
        logger.warning("settings file %s not found; using the environment only", path)
        return LocalSettings(path=path, found=False)
    document = _read_json(path)
    if not isinstance(document, dict):
        raise HostError(f"{path}: expected a JSON object with a 'Values' object")
    if document.get("IsEncrypted") is True:
        raise HostError(f"{path}: encrypted settings are not supported; store them decrypted")
    values = document.get("Values", {})
    if not isinstance(values, dict):
        raise HostError(f"{path}: 'Values' must be an object of string settings")
    applied: list[str] = []
    overridden: list[str] = []
    for name, value in values.items():
        if not isinstance(value, str):
            # Core Tools refuses these too; the message names the key, never the value.
            raise HostError(f"{path}: Values.{name} must be a string")
        if name in env:
            overridden.append(name)
        else:
            env[name] = value
            applied.append(name)
    return LocalSettings(
        path=path,
        found=True,
        applied=tuple(applied),
        overridden=tuple(overridden),
        local_http_port=_local_http_port(path, document.get("Host")),
    )


def read_route_prefix(folders: Iterable[Path]) -> str:
    """`extensions.http.routePrefix` of the first host.json found in `folders` (default "api")."""
    for folder in folders:
        path = folder / "host.json"
        if not path.is_file():
            continue
        document = _read_json(path)
        http = document.get("extensions", {}).get("http", {}) if isinstance(document, dict) else {}
        prefix = http.get("routePrefix", DEFAULT_ROUTE_PREFIX) if isinstance(http, dict) else None
        if not isinstance(prefix, str):
            raise HostError(f"{path}: extensions.http.routePrefix must be a string")
        return prefix.strip("/")
    return DEFAULT_ROUTE_PREFIX


def _local_http_port(path: Path, host: Any) -> int | None:
    if not isinstance(host, dict) or "LocalHttpPort" not in host:
        return None
    port = host["LocalHttpPort"]
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise HostError(f"{path}: Host.LocalHttpPort must be a port number")
    return port


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as e:
        # Position only, never the document's text: it holds secrets.
        raise HostError(
            f"{path}: invalid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
        ) from None
    except OSError as e:
        raise HostError(f"{path}: cannot read ({e.strerror})") from None
