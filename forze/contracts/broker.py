"""Broker ports: messages out (``Publisher``) and in (``Subscriber``, ``Delivery``).

Every broker adapter carries the same ``Message``: an event's CloudEvents 1.0 attributes and its
data as JSON (``forze.messaging`` makes one from a recorded event and maps it to each
protocol's headers in binary content mode).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

__all__ = ["Delivery", "Message", "Publisher", "Subscriber"]


@dataclass(frozen=True, slots=True)
class Message:
    """One message on a broker.

    ``id``, ``type``, ``source``, ``subject``, ``time`` and ``datacontenttype`` are the
    CloudEvents attributes of the same names (for an event: its id, type, the application's
    source, its stream id and when it occurred); ``extensions`` are further CloudEvents
    attributes (lower-case names of letters and digits, text values). ``data`` is the body.
    ``destination`` is where a publisher sends it (a routing key, queue or stream name; set
    by the relay's router) or where a subscriber received it from; ``ordering_key`` groups the
    messages whose order a publisher and the broker keep (the stream id by default).
    """

    id: str
    type: str
    source: str
    subject: str
    time: datetime
    data: bytes
    datacontenttype: str = "application/json"
    extensions: Mapping[str, str] = field(default_factory=dict)
    destination: str = ""
    ordering_key: str = ""


class Publisher(Protocol):
    """Sends messages to a broker.

    Guarantees every adapter keeps (``forze.testing.contracts.PublisherContract``): when
    ``publish`` returns, the broker has accepted every message (publisher confirms, SQS
    acknowledgements, a committed XADD); messages of one ``ordering_key`` are accepted in the
    order given, within a call and across calls made one after another. Failures are typed:
    ``BrokerUnavailable`` (``transient`` when trying again may work) or ``MessageRefused``
    naming the first message the broker refused for good (too large, say); the messages
    before it were accepted, and none after it was sent.

    A publisher may also have an ``int`` attribute ``parallel_calls``: how many calls made at
    once (each with its own ordering keys) serve it best. Without it, 1: one call already
    sends its messages concurrently. The relay makes that many calls per page by default.
    """

    async def publish(self, messages: Sequence[Message]) -> None:
        """Send ``messages``; return once the broker accepted all of them."""
        ...

    async def close(self) -> None:
        """Release connections (idempotent)."""
        ...


class Delivery(Protocol):
    """A received message, to be settled exactly once: ``ack``, ``retry`` or ``dead_letter``."""

    @property
    def message(self) -> Message:
        """The message as received (``destination``: where it was received from)."""
        ...

    @property
    def attempt(self) -> int:
        """How many times it was delivered, this one included (1 for the first)."""
        ...

    async def ack(self) -> None:
        """Handled: the broker forgets it."""
        ...

    async def retry(self, delay_seconds: float) -> None:
        """Not handled now: deliver it again after about ``delay_seconds``."""
        ...

    async def dead_letter(self, reason: str) -> None:
        """Give it up: move it to the dead-letter destination with ``reason`` recorded."""
        ...


class Subscriber(Protocol):
    """Receives messages from one source (a queue, a consumer group) of a broker.

    Guarantees every adapter keeps (``forze.testing.contracts.SubscriberContract``): a
    message not acked is delivered again (after ``retry``'s delay, after the visibility
    timeout or when its consumer's connection ends), with ``attempt`` counting deliveries;
    ``dead_letter`` moves it, with its reason, where ``dead_letters`` reads it.
    """

    async def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 1.0
    ) -> Sequence[Delivery]:
        """Up to ``max_messages`` deliveries, waiting at most ``wait_seconds`` for the first."""
        ...

    async def close(self) -> None:
        """Stop receiving and release connections; unsettled deliveries come back later."""
        ...
