"""Where a Kaizala request may go: URL building, the token's host allow-list, path segments.

Pure functions (no I/O): the transport checks every destination with `is_token_destination`
before a byte leaves, and the operations build their paths only from `segment`-checked ids.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

from shared.adapters.kaizala.errors import KaizalaValidationError
from shared.config import is_loopback_host

DEFAULT_API_ROOT = "https://api.kaiza.la/v1"
DEFAULT_ALLOWED_HOSTS = ("*.kaiza.la",)
ID_PATTERN = re.compile(r"[A-Za-z0-9-]{1,64}")
OBJECT_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")  # action package ids contain dots


def segment(value: str, what: str, pattern: re.Pattern[str] = ID_PATTERN) -> str:
    """`value` as one URL path segment, or KaizalaValidationError: input never changes a path."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise KaizalaValidationError(f"{what} is malformed (expected {pattern.pattern})")
    return quote(value, safe="")


def is_token_destination(
    url: str, allowed_hosts: Sequence[str], endpoint_host: str | None = None
) -> bool:
    """May an access token (or a credential) be sent to `url`?

    https to a host matching an `allowed_hosts` pattern or equal to `endpoint_host` (the host
    the token service named); plain http only when that host is a loopback address.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        has_credentials = bool(parts.username or parts.password)
    except ValueError:
        return False
    if not host or has_credentials:
        return False
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(host)):
        return False
    if endpoint_host and host == endpoint_host.rstrip(".").lower():
        return True
    return any(fnmatch.fnmatchcase(host, pattern.strip().lower()) for pattern in allowed_hosts)


def host_of(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def path_of(url: str) -> str:
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return "?"


def platform_url(base: str, rel_path: str) -> str:
    """`<endpointUrl>/v1/<rel_path>`; tolerates a base given with or without `/v1`."""
    root = base.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return f"{root}/v1/{rel_path}"


def base_from_location(location: str, rel_path: str) -> str | None:
    """The new endpoint base from a 308 Location: the URL with its `v1/...` suffix removed."""
    parts = urlsplit(location)
    path = parts.path
    suffix = f"/v1/{rel_path}"
    if path.endswith(suffix):
        prefix = path[: -len(suffix)]
    else:
        index = path.find("/v1/")
        if index < 0:
            return None
        prefix = path[:index]
    return f"{parts.scheme}://{parts.netloc}{prefix}/"
