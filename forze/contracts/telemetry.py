"""The telemetry port: what forze tells an observer (traces, metrics) about its work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from forze.contracts.broker import Message
from forze.contracts.envelopes import RecordedEvent

__all__ = ["TRACE_CONTEXT_KEYS", "Telemetry"]

TRACE_CONTEXT_KEYS = ("traceparent", "tracestate")
"""The W3C Trace Context fields: the event metadata keys an operation's trace context is
stamped under, and the CloudEvents (distributed tracing) extension attributes that carry it
in a message. A faithful re-send may change them (a retry is a new trace)."""


class Telemetry(Protocol):
    """Observes forze at work: usecase operations, their appends, feed-consumer batches, relay
    publishes, consumed messages and saga steps (``forze_otel`` turns them into OpenTelemetry
    spans and metrics).

    It is optional and explicit: a runtime has one when a module provides the ``TELEMETRY``
    port, and a ``Projector``, ``Relay`` or ``SagaDispatcher`` when given one. Every place
    that reports checks for ``None`` first, so without one forze does no extra work.

    The scope methods return a context manager entered around the work they name; an
    exception leaving it is that work's failure (the observer records it, the error goes on).
    """

    def operation(
        self, usecase: str, kind: str, correlation_id: str, causation_id: str | None
    ) -> AbstractContextManager[object]:
        """Around one run of ``usecase`` by ``Runtime.execute``, its middleware included
        (``kind``: ``"command"`` or ``"query"``)."""
        ...

    def trace_context(self) -> Mapping[str, str]:
        """The current trace context as W3C Trace Context fields (``traceparent`` and, if
        any, ``tracestate``), stamped on the metadata of the events an operation saves;
        empty outside a trace."""
        ...

    def append(
        self,
        stream_ids: Sequence[str],
        events: int,
        correlation_id: str,
        causation_id: str | None,
    ) -> AbstractContextManager[object]:
        """Around one save of an operation: ``events`` events appended to ``stream_ids``
        (several for a unit of work), atomically."""
        ...

    def batch(
        self, kind: str, name: str, events: int, checkpoint: int, head: int
    ) -> AbstractContextManager[object]:
        """Around one batch of a feed consumer (``kind``: ``"projector"``, ``"relay"`` or
        ``"saga"``; ``name``: its checkpoint's name): ``events`` events handled, after which
        its checkpoint is at position ``checkpoint``, the head read with the page being
        ``head``."""
        ...

    def publish(
        self, relay: str, messages: Sequence[Message], events: Sequence[RecordedEvent]
    ) -> AbstractContextManager[Sequence[Message]]:
        """Around one call of relay ``relay``'s publisher with ``messages``, which carry
        ``events`` (in the same order). Gives the messages to publish: the same, or copies
        with the trace context under :data:`TRACE_CONTEXT_KEYS` in their extensions. A
        ``MessageRefused`` leaving it names the message the broker refused for good."""
        ...

    def handle(self, message: Message, attempt: int) -> AbstractContextManager[object]:
        """Around a consumer's handling of one delivery of ``message`` (``attempt``: 1 for the
        first), which may continue the trace its ``traceparent`` extension names."""
        ...

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
        """Around one try of a saga's step (its usecase run), or of a compensation."""
        ...
