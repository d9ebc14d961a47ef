"""The relay contract's helpers: what arrived at the broker, a publisher that fails for a
while, and a feed of interleaved streams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import pytest

from forze.contracts import EventStore, Message, NewEvent, Publisher, RecordedEvent, Subscriber
from forze.domain.errors import BrokerUnavailable
from forze.testing.contracts.broker import BrokerUnderTest
from forze_projections.backend import ProjectionBackend
from forze_projections.relay import SKIP_REFUSED, Relay
from forze_projections.status import FailurePolicy

__all__ = [
    "Arrivals",
    "FlakyPublisher",
    "GatedPublisher",
    "RelayRig",
    "append_interleaved",
    "envelope_matches",
    "recorded",
]


@dataclass
class RelayRig:
    """One test's event store, projection backend and broker, and the relays and
    subscribers made on them (closed after the test)."""

    events: EventStore
    backend: ProjectionBackend
    broker: BrokerUnderTest
    lanes: int
    deduplicates: bool
    subscribers: list[Arrivals] = field(default_factory=list)

    def relay(
        self,
        *,
        publisher: Publisher | None = None,
        owner: str = "relay-a",
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
        policy: FailurePolicy = SKIP_REFUSED,
        batch_size: int = 10,
        stall_seconds: float = 60.0,
    ) -> Relay:
        """A relay named ``outbox`` routing every event to the broker's destination."""
        return Relay(
            self.events,
            self.backend,
            self.broker.publisher if publisher is None else publisher,
            name="outbox",
            source="forze://contract",
            route=self.broker.destination,
            event_types=event_types,
            categories=categories,
            lanes=self.lanes,
            batch_size=batch_size,
            policy=policy,
            owner=owner,
            lease_seconds=1.0,
            stall_seconds=stall_seconds,
        )

    def arrivals(self) -> Arrivals:
        """A new subscriber of the broker's destination, collecting what arrives."""
        arrivals = Arrivals(self.broker.subscribe())
        self.subscribers.append(arrivals)
        return arrivals


@dataclass
class Arrivals:
    """Every message one subscriber received (each acked at once), in arrival order."""

    subscriber: Subscriber
    messages: list[Message] = field(default_factory=list)

    @property
    def ids(self) -> set[str]:
        """The distinct message ids received."""
        return {m.id for m in self.messages}

    @property
    def duplicates(self) -> int:
        """How many messages arrived more than once (counting each extra arrival)."""
        return len(self.messages) - len(self.ids)

    async def until(self, ids: Collection[str], *, seconds: float = 20.0) -> None:
        """Receive until every id of ``ids`` arrived; fail after ``seconds``."""
        await self._receive(lambda: set(ids) <= self.ids, f"{len(ids)} messages", seconds)

    async def until_count(self, count: int, *, seconds: float = 20.0) -> None:
        """Receive until ``count`` messages (duplicates included) arrived in all."""
        await self._receive(lambda: len(self.messages) >= count, f"{count} arrivals", seconds)

    async def more(self, seconds: float = 0.3) -> list[Message]:
        """What arrives within ``seconds`` more (after the expected ones: should be nothing)."""
        mark = len(self.messages)
        for delivery in await self.subscriber.receive(max_messages=10, wait_seconds=seconds):
            await delivery.ack()
            self.messages.append(delivery.message)
        return self.messages[mark:]

    async def drain(self, seconds: float = 0.3) -> None:
        """Receive until nothing more arrives within ``seconds``."""
        while await self.more(seconds):
            continue

    def first_versions(self, subject: str) -> list[int]:
        """The stream versions of ``subject`` in the order of their first arrival."""
        seen: set[str] = set()
        versions: list[int] = []
        for message in self.messages:
            if message.subject == subject and message.id not in seen:
                seen.add(message.id)
                versions.append(int(message.extensions["streamversion"]))
        return versions

    async def _receive(self, done: Callable[[], bool], what: str, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not done():
            if loop.time() > deadline:
                pytest.fail(f"not within {seconds} s: {what} (got {len(self.messages)})")
            for delivery in await self.subscriber.receive(max_messages=10, wait_seconds=0.2):
                await delivery.ack()
                self.messages.append(delivery.message)


class FlakyPublisher:
    """Wraps a real publisher and fails ``failures`` of its calls after the first ``after``:
    such a call publishes the first half of its messages, then raises a transient
    ``BrokerUnavailable``, as a connection lost after the broker accepted some. ``accepted``
    lists the ids the broker accepted, in order, duplicates included."""

    def __init__(self, inner: Publisher, *, failures: int = 0, after: int = 1) -> None:
        self.inner = inner
        self.left = failures
        self.after = after
        self.calls = 0
        self.failed = 0
        self.accepted: list[str] = []

    async def publish(self, messages: Sequence[Message]) -> None:
        """Publish through the real publisher; fail (half published) while failures are left."""
        self.calls += 1
        half = len(messages) // 2 if self.calls > self.after and self.left > 0 else 0
        if half:
            await self.inner.publish(messages[:half])
            self.accepted += [m.id for m in messages[:half]]
            if self.left > 0:  # another call may have failed meanwhile
                self.left -= 1
                self.failed += 1
                raise BrokerUnavailable(f"connection lost (test, call {self.calls})")
        await self.inner.publish(messages[half:])
        self.accepted += [m.id for m in messages[half:]]

    async def close(self) -> None:
        """Nothing to close: the real publisher is the test's."""


class GatedPublisher:
    """Wraps a real publisher: every call takes ``delay`` seconds longer, and between
    :meth:`block` and :meth:`release` every call hangs (``hang``) or fails at once with a
    transient ``BrokerUnavailable`` (a broker refusing connections); ``failed`` counts those."""

    def __init__(self, inner: Publisher, *, delay: float = 0.0, hang: bool = True) -> None:
        self.inner, self.delay, self.hang = inner, delay, hang
        self.failed = 0
        self._open = asyncio.Event()
        self._open.set()

    def block(self) -> None:
        """From now on, calls hang or fail until :meth:`release`."""
        self._open.clear()

    def release(self) -> None:
        """Let calls through again (a hanging one goes on)."""
        self._open.set()

    async def publish(self, messages: Sequence[Message]) -> None:
        """Publish through the real publisher, unless blocked (see the class)."""
        if not self._open.is_set():
            if not self.hang:
                self.failed += 1
                raise BrokerUnavailable("the broker refuses connections (test)")
            await self._open.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        await self.inner.publish(messages)

    async def close(self) -> None:
        """Nothing to close: the real publisher is the test's."""


async def append_interleaved(
    events: EventStore, streams: Sequence[str], per_stream: int, *, event_type: str = "Placed"
) -> None:
    """Append ``per_stream`` events to each of ``streams``, one at a time round-robin (version
    1 of every stream, then version 2, ...), so the streams interleave in the log."""
    for version in range(1, per_stream + 1):
        for stream in streams:
            await events.append(stream, [NewEvent(event_type, {"stream": stream, "n": version})])


async def recorded(
    events: EventStore,
    *,
    event_types: Collection[str] | None = None,
    categories: Collection[str] | None = None,
) -> list[RecordedEvent]:
    """Every event of the log (of those types and categories), in order."""
    return list(await events.read_all(after=0, event_types=event_types, categories=categories))


def envelope_matches(message: Message, event: RecordedEvent) -> bool:
    """Whether ``message`` carries ``event`` in the relay's envelope."""
    return (
        message.id == str(event.event_id)
        and message.type == event.event_type
        and message.subject == event.stream_id
        and json.loads(message.data) == event.data
        and message.extensions.get("streamversion") == str(event.version)
        and message.extensions.get("position") == str(event.position)
    )
