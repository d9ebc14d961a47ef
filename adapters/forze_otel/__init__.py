"""OpenTelemetry for forze: spans and metrics of usecases, appends, projector, relay and saga
batches, relay publishes, consumed messages and saga steps, with the trace carried across
broker hops in the messages' W3C trace context.

``otel_module`` plugs it into a runtime from the composition root; without it forze never
imports OpenTelemetry and does no telemetry work. See the guide's *Observability* page for
every span, metric and attribute.

Needs the ``otel`` extra: ``pip install 'forze[otel]'``.
"""

try:
    import opentelemetry.trace  # noqa: F401  (only to give the install hint early)
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("forze_otel needs OpenTelemetry: pip install 'forze[otel]'") from error

from forze_otel._names import SCOPE
from forze_otel.module import otel_module
from forze_otel.telemetry import OtelTelemetry

__all__ = ["SCOPE", "OtelTelemetry", "otel_module"]
