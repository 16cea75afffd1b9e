"""An in-memory OpenTelemetry SDK for the observability tests (opentelemetry-sdk: test-only)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmorch.telemetry


@dataclass
class Otel:
    """What llmorch exported during one test."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        """The finished spans, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def calls(self) -> list[ReadableSpan]:
        """The ``chat {model}`` spans."""
        return [s for s in self.spans() if s.name.startswith("chat ")]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        """The attempt spans of one call, in the order they started."""
        kids = [
            s
            for s in self.spans()
            if s.parent is not None and s.parent.span_id == parent.context.span_id
        ]
        return sorted(kids, key=lambda s: s.start_time or 0)

    def points(self, name: str) -> list[Any]:
        """The data points of one metric (empty when it was never recorded)."""
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def metric_names(self) -> set[str]:
        """Every metric name recorded."""
        data = self.reader.get_metrics_data()
        if data is None:
            return set()
        return {
            metric.name
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }


@contextlib.contextmanager
def in_memory() -> Iterator[Otel]:
    """Fresh SDK providers handed to llmorch, then the global ones again."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    llmorch.telemetry.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield Otel(exporter, reader, tracer_provider)
    finally:
        llmorch.telemetry.configure()
        meter_provider.shutdown()
        tracer_provider.shutdown()
