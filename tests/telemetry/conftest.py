"""The OpenTelemetry SDK's real in-memory exporters, installed once through shared.telemetry.

OpenTelemetry lets a process set its global providers once, so the session keeps one span
exporter and one metric reader; each test clears the spans and compares metric readings taken
before and after (counters are cumulative).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry

# The inbound suite's fixtures (Azurite, the Dataverse simulator, a runtime, a callback token).
from tests.inbound.conftest import (  # noqa: F401
    clock,
    gate,
    inbound_env,
    rt,
    sim,
    token,
)

Key = tuple[str, tuple[tuple[str, Any], ...]]


def readings(reader: InMemoryMetricReader) -> dict[Key, float]:
    """Every counter's total and every gauge's last value, by name and attributes."""
    found: dict[Key, float] = {}
    data = reader.get_metrics_data()
    if data is None:
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    key = (metric.name, tuple(sorted((point.attributes or {}).items())))
                    found[key] = point.value
    return found


@dataclass
class Captured:
    spans_exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    before: dict[Key, float]

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def added(self, name: str, **attributes: str) -> float:
        """How much a counter grew during the test."""
        key = (name, tuple(sorted(attributes.items())))
        return readings(self.reader).get(key, 0) - self.before.get(key, 0)

    def value(self, name: str, **attributes: str) -> float | None:
        """A gauge's last value (None if never set)."""
        return readings(self.reader).get((name, tuple(sorted(attributes.items()))))

    def attribute_values(self) -> list[str]:
        """Every attribute value of every span and data point, as text (for the secret scan)."""
        values = [str(v) for s in self.spans() for v in (s.attributes or {}).values()]
        values += [str(s.name) for s in self.spans()]
        values += [str(s.status.description or "") for s in self.spans()]
        for key in readings(self.reader):
            values += [str(v) for _, v in key[1]]
        return values


@pytest.fixture(scope="session")
def otel() -> tuple[InMemorySpanExporter, InMemoryMetricReader]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    telemetry.install_providers(tracer_provider, MeterProvider(metric_readers=[reader]))
    return exporter, reader


@pytest.fixture
def captured(otel: tuple[InMemorySpanExporter, InMemoryMetricReader]) -> Iterator[Captured]:
    exporter, reader = otel
    exporter.clear()
    yield Captured(exporter, reader, readings(reader))
    exporter.clear()
