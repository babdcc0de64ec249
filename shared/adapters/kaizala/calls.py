"""One logical Kaizala operation as the transport carries it, and the secrets it must hide."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.adapters.kaizala.auth import AccessToken
from shared.adapters.kaizala.endpoints import path_of

Files = Mapping[str, tuple[str, bytes, str]]

_REQUEST_ID_HEADERS = ("x-ms-request-id", "request-id", "x-request-id", "x-correlation-id")


def request_id(response: httpx.Response) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return str(value)
    return None


class SecretMemory:
    """The secret values this client has handled lately, hidden from every error it raises.

    A call knows its own secrets, but a server may echo an older one (a previous access
    token, a callBackToken registered earlier); remembering a bounded few covers that too.
    """

    def __init__(self, size: int = 64) -> None:
        self._values: deque[str] = deque(maxlen=size)

    def add(self, value: str | None) -> None:
        if value and value not in self._values:
            self._values.append(value)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._values))


@dataclass
class Call:
    """One logical operation, possibly several HTTP attempts, and what it used of each budget."""

    method: str
    template: str  # path with placeholders, for logs and metrics
    rel_path: str
    memory: SecretMemory = field(repr=False)
    local_secrets: tuple[str, ...] = field(default=(), repr=False)  # this call's only (a PIN)
    # What goes on the wire; hidden from repr (credential headers, a callBackToken in a body).
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    json_body: Any = field(default=None, repr=False)
    files: Files | None = field(default=None, repr=False)
    params: Mapping[str, str] | None = None
    token: AccessToken | None = None  # None: a token-service call (credentials in `headers`)
    # The token's connector as the `applicationId` header too (FetchGroupDetails requires it).
    application_id_header: bool = False
    url: str = ""
    attempts: int = 0  # every request sent
    failures: int = 0  # transport errors and retryable statuses: the back-off budget
    throttled: int = 0  # 429 answers: the throttle budget
    redirects: int = 0
    refreshed: bool = False
    started: float = field(default_factory=time.perf_counter)

    def learn(self, *values: str | None) -> None:
        for value in values:
            self.memory.add(value)

    def error_kwargs(self) -> dict[str, Any]:
        return {"method": self.method, "path": path_of(self.url), "secrets": self.secrets()}

    def secrets(self) -> list[str]:
        return [*self.local_secrets, *self.memory]
