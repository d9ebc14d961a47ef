"""``otel_module``: OpenTelemetry plugged into a runtime as its ``TELEMETRY``."""

from __future__ import annotations

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from forze.adapter_kit import TELEMETRY
from forze.execution import DepsModule
from forze_otel.telemetry import OtelTelemetry

__all__ = ["otel_module"]


def otel_module(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    name: str = "otel",
) -> DepsModule:
    """Provide an :class:`OtelTelemetry` over ``tracer_provider`` and ``meter_provider``
    (OpenTelemetry's global ones when ``None``) as the runtime's ``TELEMETRY``::

        async with build_runtime(
            sqlite_module("app.db", projections=[BALANCES]),
            otel_module(tracer_provider=tracer_provider, meter_provider=meter_provider),
            usecases=USECASES,
        ) as runtime:
            relay = Relay(..., telemetry=runtime.telemetry)

    Usecase runs, their appends, the runtime's consumers, saga steps and the projector a
    module provides then report to it; ``runtime.telemetry`` is what to give a ``Relay``,
    ``SagaDispatcher`` or ``Projector`` built by hand.
    """
    telemetry = OtelTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    return DepsModule(name).provide(TELEMETRY, telemetry)
