"""The Tables SDK's HTTP boundary, for tests: every request recorded, and a crash on demand.

`TableWire` is the SDK's own aiohttp transport with a hook in `send`: each request to Azurite is
recorded as (method, table, $filter) before it goes, and `crash_at(n)` makes the n-th matching
write raise `Crash` instead of being sent, as if the process died just before it (so the same
point is "just after" the previous write). `Crash` derives from BaseException: no
`except Exception` of the product swallows it, exactly like a killed process. `fail_at(n)`
instead fails that write as a refused connection does (the SDK raises ServiceRequestError).
Install it on a runtime before its first table call with `wire_tables(rt)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import AioHttpTransport
from azure.data.tables.aio import TableServiceClient

from shared.adapters.tables import TableStore
from shared.runtime import Runtime

WRITES = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})
_KEYS = re.compile(r"\(PartitionKey='(?P<pk>[^']*)',RowKey='(?P<rk>[^']*)'\)")


class Crash(BaseException):
    """The process died at this request (raised instead of sending it)."""


@dataclass(frozen=True)
class Sent:
    method: str
    table: str  # without the test's prefix; "Tables" for table creation
    filter: str | None  # a query's $filter
    pk: str | None  # the keys of a point request (read, update, delete), when in the URL

    @property
    def write(self) -> bool:
        return self.method in WRITES

    def __str__(self) -> str:
        return f"{self.method} {self.table}" + (f" ?{self.filter}" if self.filter else "")


class TableWire(AioHttpTransport):
    def __init__(self, prefix: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prefix = prefix
        self.sent: list[Sent] = []
        self._fault: tuple[Callable[[Sent], bool], int, Callable[[str], BaseException]] | None = (
            None
        )

    def crash_at(self, n: int, where: Callable[[Sent], bool]) -> None:
        """Raise Crash instead of sending the n-th (1-based) write for which `where` holds."""
        self._fault = (where, n, Crash)

    def fail_at(self, n: int, where: Callable[[Sent], bool]) -> None:
        """Fail the n-th write for which `where` holds, as a refused connection (not sent)."""
        self._fault = (where, n, ServiceRequestError)

    def disarm(self) -> None:
        self._fault = None

    def mark(self) -> int:
        return len(self.sent)

    def since(self, mark: int) -> list[Sent]:
        return self.sent[mark:]

    def _describe(self, method: str, url: str) -> Sent:
        parts = urlsplit(url)
        segments = [s for s in unquote(parts.path).split("/") if s]
        resource = segments[-1] if segments else ""
        name = resource.split("(", 1)[0]
        table = name[len(self.prefix) :] if name.startswith(self.prefix) else name
        found = _KEYS.search(resource)
        query = parse_qs(parts.query)
        return Sent(
            method=method,
            table=table,
            filter=query["$filter"][0] if query.get("$filter") else None,
            pk=found.group("pk") if found else None,
        )

    async def send(self, request: Any, **kwargs: Any) -> Any:
        sent = self._describe(str(request.method).upper(), str(request.url))
        if self._fault is not None and sent.write:
            where, n, error = self._fault
            if where(sent):
                if n <= 1:
                    self._fault = None
                    raise error(str(sent))
                self._fault = (where, n - 1, error)
        self.sent.append(sent)
        return await super().send(request, **kwargs)


def wire_tables(rt: Runtime) -> TableWire:
    """Route the runtime's table calls through a TableWire (before its first table call)."""
    assert "tables" not in rt.__dict__, "the runtime has used its tables already"
    connection = rt.settings.storage.connection_string
    assert connection is not None
    wire = TableWire(rt.settings.table_prefix)
    service = TableServiceClient.from_connection_string(
        connection, transport=wire, retry_total=0, connection_timeout=5, read_timeout=15
    )
    rt.__dict__["tables"] = TableStore(service, rt.settings.table_prefix)
    return wire


def key_constrained(filter_: str) -> bool:
    """A query that names its partitions (equality or a range): a key-range read."""
    return re.match(r"^\(?PartitionKey (eq|ge|gt) ", filter_) is not None
