"""OpenTelemetry SDK providers that keep what forze reports in memory, and ways to read it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
    Sum,
)
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from forze import DepsModule
from forze_otel import OtelTelemetry, otel_module


@dataclass
class Recorded:
    """A tracer provider and a meter provider whose spans and metrics stay in memory."""

    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)
    tracer_provider: TracerProvider = field(init=False)
    meter_provider: MeterProvider = field(init=False)

    def __post_init__(self) -> None:
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def module(self) -> DepsModule:
        """``otel_module`` over these providers."""
        return otel_module(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider)

    def telemetry(self) -> OtelTelemetry:
        """An ``OtelTelemetry`` over these providers."""
        return OtelTelemetry(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """The finished spans (named ``name``), oldest first."""
        found = self.exporter.get_finished_spans()
        return [span for span in found if name is None or span.name == name]

    def span(self, name: str) -> ReadableSpan:
        """The one finished span named ``name``."""
        found = self.spans(name)
        names = [span.name for span in self.spans()]
        assert len(found) == 1, f"{len(found)} spans named {name!r} among {names}"
        return found[0]

    def points(self, metric: str) -> list[NumberDataPoint | HistogramDataPoint]:
        """The data points of ``metric`` collected now."""
        return list(self._points(metric))

    def total(self, metric: str, **attributes: Any) -> float:
        """The sum of a counter's points whose attributes include ``attributes``."""
        return sum(
            point.value
            for point in self._points(metric)
            if isinstance(point, NumberDataPoint) and _includes(point, attributes)
        )

    def _points(self, metric: str) -> Iterator[NumberDataPoint | HistogramDataPoint]:
        data = self.reader.get_metrics_data()
        if data is None:
            return
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for found in scope.metrics:
                    if found.name == metric:
                        assert isinstance(found.data, Sum | Gauge | Histogram)
                        yield from found.data.data_points


def error_types(points: list[NumberDataPoint | HistogramDataPoint]) -> list[str]:
    """The ``error.type`` of each point, sorted (``""`` for a point without one)."""
    return sorted(str(dict(point.attributes or {}).get("error.type", "")) for point in points)


async def waiting_for(condition: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Wait until ``await condition()`` holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.005)


def _includes(point: NumberDataPoint, attributes: dict[str, Any]) -> bool:
    held = dict(point.attributes or {})
    return all(held.get(key) == value for key, value in attributes.items())


def attribute(span: ReadableSpan | Event, key: str) -> Any:
    """The value of attribute ``key`` of ``span`` (or of a span's event); ``KeyError`` if it
    has none."""
    return (span.attributes or {})[key]


def parent_id(span: ReadableSpan) -> int | None:
    """The span id of ``span``'s parent (``None`` for a root)."""
    return None if span.parent is None else span.parent.span_id


def span_id(span: ReadableSpan) -> int:
    """The span id of ``span``."""
    context = span.context
    assert context is not None
    return int(context.span_id)


def trace_id(span: ReadableSpan) -> int:
    """The trace id of ``span``."""
    context = span.context
    assert context is not None
    return int(context.trace_id)
