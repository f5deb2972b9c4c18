"""OpenTelemetry's SDK, exporting to memory, installed as the runtime's telemetry per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pmc.otel import OpenTelemetry, instrument, uninstrument


@dataclass(frozen=True)
class Exported:
    """What the runtime reported: finished spans and collected metric points."""

    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    tracer_provider: TracerProvider
    installed: OpenTelemetry

    def finished(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans.get_finished_spans() if span.name == name]

    def names(self) -> set[str]:
        """The names of the metrics collected now (a collection)."""
        data = self.metrics.get_metrics_data()
        return {
            each.name
            for resource in (data.resource_metrics if data else ())
            for scope in resource.scope_metrics
            for each in scope.metrics
        }

    def points(self, metric: str) -> dict[tuple[tuple[str, object], ...], object]:
        """Each data point of ``metric``, by its attributes (sorted): a sum's value, a
        histogram's count."""
        data = self.metrics.get_metrics_data()
        found: dict[tuple[tuple[str, object], ...], object] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for each in scope.metrics:
                    if each.name != metric:
                        continue
                    for point in each.data.data_points:
                        labels = tuple(sorted((point.attributes or {}).items()))
                        found[labels] = point.value if hasattr(point, "value") else point.count
        return found


@pytest.fixture
def otel() -> Iterator[Exported]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    installed = instrument(tracer_provider, MeterProvider(metric_readers=[reader]))
    try:
        yield Exported(spans, reader, tracer_provider, installed)
    finally:
        uninstrument()
