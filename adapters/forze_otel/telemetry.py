"""``OtelTelemetry``: forze's ``Telemetry`` port as OpenTelemetry spans and metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from forze.adapter_kit import TRACE_CONTEXT_KEYS
from forze.contracts import Message, RecordedEvent
from forze.domain.errors import DuplicateEventIdError, MessageRefused
from forze_otel._instruments import Instruments
from forze_otel._names import (
    CAUSATION_ID,
    CORRELATION_ID,
    ERROR_TYPE,
    SCOPE,
    append_span,
    ids,
)

__all__ = ["OtelTelemetry"]

_W3C = TraceContextTextMapPropagator()
"""Trace context in and out of event metadata and message extensions: W3C fields only."""


class OtelTelemetry:
    """forze's ``Telemetry`` port as OpenTelemetry spans and metrics (their names and
    attributes: the guide's *Observability* page).

    ``tracer_provider`` and ``meter_provider`` default to OpenTelemetry's global ones. Plug
    it in with :func:`~forze_otel.otel_module` (a runtime's usecases, their appends, its
    consumers and its module-built projector report to it), and give ``runtime.telemetry`` to
    a ``Relay``, ``SagaDispatcher`` or ``Projector`` built by hand.

    The trace context goes from an operation into the metadata of the events it saves
    (``traceparent``, ``tracestate``); a relay's publish span continues it and puts its own
    in the message's extensions (the CloudEvents distributed-tracing attributes, carried by
    every broker adapter), and a consumer's process span continues that: one trace from a
    command to every operation its events cause, across brokers and processes.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        self._metrics = Instruments.of(metrics.get_meter(SCOPE, meter_provider=meter_provider))

    def operation(
        self, usecase: str, kind: str, correlation_id: str, causation_id: str | None
    ) -> AbstractContextManager[object]:
        """The span ``usecase <name>``, current while the usecase runs; a failure sets its
        status to error and records the exception."""
        attributes = {"forze.usecase": usecase, "forze.operation.kind": kind}
        return self._tracer.start_as_current_span(
            f"usecase {usecase}", attributes={**attributes, **ids(correlation_id, causation_id)}
        )

    def trace_context(self) -> dict[str, str]:
        """The current span's W3C trace context (``traceparent``, ``tracestate``)."""
        carrier: dict[str, str] = {}
        _W3C.inject(carrier)
        return carrier

    @contextmanager
    def append(
        self,
        stream_ids: Sequence[str],
        events: int,
        correlation_id: str,
        causation_id: str | None,
    ) -> Iterator[object]:
        """The span ``append <categories>``; the ``forze.append.duration`` histogram and,
        once stored, the ``forze.events.appended`` counter."""
        attributes: dict[str, Any] = {"forze.stream_ids": list(stream_ids), "forze.events": events}
        name = append_span(stream_ids)
        started = time.perf_counter()
        with self._tracer.start_as_current_span(
            name, attributes={**attributes, **ids(correlation_id, causation_id)}
        ) as span:
            try:
                yield span
            except Exception as error:
                elapsed = time.perf_counter() - started
                self._metrics.append_duration.record(elapsed, {ERROR_TYPE: _kind(error)})
                raise
            self._metrics.append_duration.record(time.perf_counter() - started)
            self._metrics.events_appended.add(events)

    @contextmanager
    def batch(
        self, kind: str, name: str, events: int, checkpoint: int, head: int
    ) -> Iterator[object]:
        """The span ``batch <name>`` (none for a batch of no event, which only moves the
        checkpoint); the ``forze.feed.lag`` gauge after it, or the ``forze.feed.failures``
        counter when it fails."""
        feed = {"forze.feed.kind": kind, "forze.feed.name": name}
        lag = max(0, head - checkpoint)
        scope: AbstractContextManager[object] = nullcontext()
        if events:
            attributes = {"forze.events": events, "forze.checkpoint": checkpoint, "forze.lag": lag}
            scope = self._tracer.start_as_current_span(
                f"batch {name}", attributes={**feed, **attributes, "forze.head": head}
            )
        with scope:
            try:
                yield None
            except Exception as error:
                self._metrics.feed_failures.add(1, {**feed, ERROR_TYPE: _kind(error)})
                raise
        self._metrics.set_lag(kind, name, lag)

    @contextmanager
    def publish(
        self, relay: str, messages: Sequence[Message], events: Sequence[RecordedEvent]
    ) -> Iterator[Sequence[Message]]:
        """A ``publish <destination>`` span per message, a child of the trace context its
        event was saved in (linked to the batch), whose own context the message carries; the
        ``forze.relay.publish.failures`` counter for the messages not accepted."""
        batch = trace.get_current_span().get_span_context()
        spans: list[Span] = []
        traced: list[Message] = []
        for message, event in zip(messages, events, strict=True):
            parent = _context_of(event.metadata)
            span = self._tracer.start_span(
                f"publish {message.destination or relay}",
                context=parent,
                kind=SpanKind.PRODUCER,
                attributes=_publish_attributes(relay, message, event),
                links=[Link(batch)] if parent is not None and batch.is_valid else None,
            )
            carrier: dict[str, str] = dict(message.extensions)
            _W3C.inject(carrier, context=trace.set_span_in_context(span))
            spans.append(span)
            traced.append(replace(message, extensions=carrier))
        try:
            yield traced
        except MessageRefused as refused:
            at = next((i for i, m in enumerate(traced) if m.id == refused.message_id), 0)
            _failed(spans[at], refused)
            for span in spans[at + 1 :]:
                span.set_attribute("forze.publish.sent", False)
            refusal = {"forze.relay": relay, ERROR_TYPE: _kind(refused)}
            self._metrics.publish_failures.add(1, refusal)
            raise
        except Exception as error:
            for span in spans:
                _failed(span, error)
            failure = {"forze.relay": relay, ERROR_TYPE: _kind(error)}
            self._metrics.publish_failures.add(len(spans), failure)
            raise
        finally:
            for span in spans:
                span.end()

    @contextmanager
    def handle(self, message: Message, attempt: int) -> Iterator[object]:
        """The span ``process <destination>``, a child of the trace context the message
        carries, current while it is handled; the ``forze.consumer.failures`` counter when
        handling fails (a duplicate delivery, acked, is no failure)."""
        extensions = message.extensions
        parent = _context_of(extensions)
        correlation_id = extensions.get("correlationid") or message.id
        attributes: dict[str, Any] = {
            **_message_attributes(message, "process"),
            "forze.attempt": attempt,
            **ids(correlation_id, message.id),
        }
        with self._tracer.start_as_current_span(
            f"process {message.destination or message.type}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except DuplicateEventIdError:
                span.set_attribute("forze.duplicate", True)
                raise
            except Exception as error:
                _failed(span, error)
                failure = {"cloudevents.event_type": message.type, ERROR_TYPE: _kind(error)}
                self._metrics.consumer_failures.add(1, failure)
                raise

    def saga_step(
        self,
        saga: str,
        step: str,
        usecase: str,
        *,
        compensation: bool,
        correlation_id: str,
        causation_id: str | None,
    ) -> AbstractContextManager[object]:
        """The span ``saga <saga>.<step>`` around one try of the step's usecase."""
        attributes: dict[str, Any] = {
            "forze.saga": saga,
            "forze.saga.step": step,
            "forze.saga.compensation": compensation,
            "forze.usecase": usecase,
        }
        return self._tracer.start_as_current_span(
            f"saga {saga}.{step}", attributes={**attributes, **ids(correlation_id, causation_id)}
        )


def _context_of(carrier: Mapping[str, Any]) -> Context | None:
    """The trace context the W3C fields of ``carrier`` name (``None``: it has none)."""
    if "traceparent" not in carrier:
        return None
    return _W3C.extract({k: str(carrier[k]) for k in TRACE_CONTEXT_KEYS if k in carrier})


def _message_attributes(message: Message, operation: str) -> dict[str, Any]:
    return {
        "messaging.operation.type": operation,
        "messaging.destination.name": message.destination,
        "messaging.message.id": message.id,
        "cloudevents.event_id": message.id,
        "cloudevents.event_type": message.type,
        "cloudevents.event_source": message.source,
        "cloudevents.event_subject": message.subject,
    }


def _publish_attributes(relay: str, message: Message, event: RecordedEvent) -> dict[str, Any]:
    attributes = _message_attributes(message, "send")
    attributes["forze.relay"] = relay
    attributes["forze.position"] = event.position
    for key, attribute in (("correlation_id", CORRELATION_ID), ("causation_id", CAUSATION_ID)):
        value = event.metadata.get(key)
        if value is not None:
            attributes[attribute] = str(value)
    return attributes


def _failed(span: Span, error: BaseException) -> None:
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{_kind(error)}: {error}"))


def _kind(error: BaseException) -> str:
    return type(error).__name__
