"""Traces and metrics, defined once: spans, counters and gauges that cost nothing when off.

With `APPLICATIONINSIGHTS_CONNECTION_STRING` set, `configure()` (called once by function_app.py,
at import, as Microsoft's Functions OpenTelemetry guide does) hands the process to the Azure
Monitor OpenTelemetry distro. Without it nothing of OpenTelemetry is imported (importing the API
alone costs ~50 ms of cold start), and every helper here returns after one dictionary lookup.

The switch is OpenTelemetry's own global state, not ours: the helpers look for its modules in
`sys.modules` and, when present, use its global tracer and meter providers (the distro sets
them; tests set in-memory ones with `install_providers`). Loaded but unconfigured, the API's
no-op providers answer.

What may become an attribute is fixed here: the four ids (`ID_NAMES`), outcomes, methods,
statuses, URL without query. Never a token, a callback URL or a request body.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
SCOPE = "kaizala_bridge"  # tracer and meter name

# The metric names are a contract with the alert rules in infra/: keep them exactly.
EVENTS = "kaizala_bridge.events"  # outcome: accepted, duplicate, processed, dead
SENDS = "kaizala_bridge.sends"  # outcome: sent, queued, failed
KAIZALA_THROTTLED = "kaizala_bridge.kaizala_throttled"
TOKEN_REFRESHES = "kaizala_bridge.token_refreshes"  # noqa: S105 - outcome: ok, failed
REFRESH_TOKEN_DAYS_LEFT = "kaizala_bridge.refresh_token_days_left"  # noqa: S105 - a name
WEBHOOKS_DISABLED = "kaizala_bridge.webhooks_disabled"

ID_NAMES = ("correlationId", "actionId", "eventId", "groupId")
_MAX_VALUE = 256

Kind = Literal["internal", "client"]
AttrValue = str | int | float | bool


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Export traces and metrics to Application Insights when the connection string is set.

    Log records are not exported here: the Functions host already collects the worker's logs
    into `traces` (a second copy would double every line). httpx is not auto-instrumented:
    the Kaizala and Dataverse transports make their own client spans, without query strings or
    headers (the auto-instrumentation would record forward URLs whose query is a signature).
    """
    env = os.environ if environ is None else environ
    connection_string = env.get(CONNECTION_STRING, "").strip()
    if not connection_string:
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(
        connection_string=connection_string,
        disable_logging=True,
        instrumentation_options={"httpx": {"enabled": False}},
    )
    return True


def install_providers(tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
    """Set OpenTelemetry's global providers (tests: the SDK's in-memory exporters).

    OpenTelemetry allows this once per process, like the distro's own setup.
    """
    from opentelemetry import metrics, trace

    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)


def _trace() -> ModuleType | None:
    return sys.modules.get("opentelemetry.trace")


def _metrics() -> ModuleType | None:
    return sys.modules.get("opentelemetry.metrics")


def _clean(attributes: Mapping[str, object]) -> dict[str, AttrValue]:
    clean: dict[str, AttrValue] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, bool | int | float):
            clean[key] = value
        else:
            clean[key] = str(value)[:_MAX_VALUE]
    return clean


class _NoSpan:
    """What `span()` returns while telemetry is off: does nothing, holds nothing."""

    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set(self, **attributes: object) -> None:
        return None

    def fail(self, error_type: str) -> None:
        return None


_NO_SPAN = _NoSpan()  # stateless: shared by every caller


class _Span:
    """One live span, current for the `with` block; exceptions leave only their type name
    (their text can quote a URL or a server's answer)."""

    __slots__ = ("_attributes", "_kind", "_name", "_scope", "_span", "_trace")

    def __init__(self, trace: Any, name: str, kind: Kind, attributes: dict[str, AttrValue]):
        self._trace = trace
        self._name = name
        self._kind = kind
        self._attributes = attributes
        self._scope: Any = None
        self._span: Span | None = None

    def __enter__(self) -> _Span:
        trace = self._trace
        kind = trace.SpanKind.CLIENT if self._kind == "client" else trace.SpanKind.INTERNAL
        self._scope = trace.get_tracer(SCOPE).start_as_current_span(
            self._name,
            kind=kind,
            attributes=self._attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        self._span = self._scope.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None and self._span is not None:
            self.fail(exc_type.__name__)
        self._scope.__exit__(exc_type, exc, tb)

    def set(self, **attributes: object) -> None:
        if self._span is not None:
            self._span.set_attributes(_clean(attributes))

    def fail(self, error_type: str) -> None:
        """Mark the span failed, naming only the error's type (or problem type)."""
        if self._span is not None:
            self._span.set_attribute("error.type", error_type)
            self._span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, error_type))


def span(name: str, kind: Kind = "internal", **attributes: object) -> _Span | _NoSpan:
    """A span around a `with` block (child of the current one); a no-op while telemetry is off.

    `with span("kaizala GET", "client", **{"url.full": url}) as s: ...; s.set(status=200)`
    """
    trace = _trace()
    if trace is None:
        return _NO_SPAN
    return _Span(trace, name, kind, _clean(attributes))


def set_ids(**ids: str | None) -> None:
    """Put the ids a service just learned on the current span (the invocation's, usually).

    Only the names of `ID_NAMES`: anything else is a programming error, caught by tests.
    """
    trace = _trace()
    if trace is None:
        return
    unknown = set(ids) - set(ID_NAMES)
    if unknown:
        raise TypeError(f"not an id attribute: {sorted(unknown)}")
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes(_clean(ids))


def count(name: str, amount: int = 1, **attributes: str) -> None:
    """Add to a counter (`EVENTS`, `SENDS`, ...); a no-op while telemetry is off."""
    metrics = _metrics()
    if metrics is None:
        return
    metrics.get_meter(SCOPE).create_counter(name).add(amount, attributes)


def gauge(name: str, value: float, **attributes: str) -> None:
    """Record the current value of a gauge; a no-op while telemetry is off."""
    metrics = _metrics()
    if metrics is None:
        return
    metrics.get_meter(SCOPE).create_gauge(name).set(value, attributes)
