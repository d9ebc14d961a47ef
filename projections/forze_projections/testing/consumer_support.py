"""The consumer contract's helpers: a ledger the handler writes to, a rig that relays the log
to the broker and runs a ``Consumer`` on it, and a subscriber whose first acks are lost."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from forze import Aggregate, AggregateSpec, DomainEvent, EventType, ExecutionContext
from forze.contracts import Delivery, EventStore, Message, RecordedEvent, Subscriber
from forze.execution import Runtime
from forze.messaging import Consumer, ConsumerSettings, MessageHandler, message_data
from forze.testing.contracts.broker import BrokerUnderTest
from forze_projections.backend import ProjectionBackend
from forze_projections.relay import Relay
from forze_projections.testing.projector_support import eventually
from forze_projections.testing.relay_support import append_interleaved, recorded

__all__ = ["LEDGERS", "ConsumerRig", "Ledger", "LostAcks", "Noted", "Noting"]


class Noted(DomainEvent):
    """A ledger noted message number ``n`` of its stream."""

    n: int


class Ledger(Aggregate[Noted]):
    """The numbers noted for one source stream, in the order they were noted."""

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.numbers: list[int] = []

    def note(self, n: int) -> None:
        """Note ``n`` (again, if it was noted before: the handler is not idempotent itself)."""
        self.emit(Noted(n=n))

    def apply(self, event: Noted) -> None:
        """Remember the number."""
        self.numbers.append(event.n)


LEDGERS: AggregateSpec[Ledger] = AggregateSpec(
    name="ledger", factory=Ledger, events=(EventType("Noted", Noted),)
)
"""Ledgers live in streams ``ledger-<source stream>``."""


class Noting:
    """The handler under test: notes each message's ``n`` in the ledger of its subject (one
    append through the repository, so with ids derived from the message id) and records
    every call. A message whose id is in ``poison`` raises ``ValueError`` every time."""

    def __init__(self, poison: Collection[str] = ()) -> None:
        self.poison = set(poison)
        self.calls: list[str] = []

    async def __call__(self, ctx: ExecutionContext, message: Message) -> None:
        """Handle ``message``."""
        self.calls.append(message.id)
        if message.id in self.poison:
            raise ValueError(f"cannot digest {message.id}")
        n = int(message_data(message)["n"])
        await ctx.aggregates(LEDGERS).execute(message.subject, lambda ledger: ledger.note(n))

    def count(self, message_id: str) -> int:
        """How many times the handler was called with ``message_id``."""
        return Counter(self.calls)[message_id]


@dataclass
class ConsumerRig:
    """One test's event store, projection backend, broker and runtime (over the store).

    Source events go to ``order-*`` streams; :meth:`relay` publishes them (and only them) to
    the broker's destination; :meth:`consuming` runs a consumer of the destination whose
    handler writes ``ledger-*`` streams of the same store.
    """

    events: EventStore
    backend: ProjectionBackend
    broker: BrokerUnderTest
    runtime: Runtime
    settings: ConsumerSettings

    async def append(
        self, streams: Sequence[str], per_stream: int, *, event_type: str = "Placed"
    ) -> list[RecordedEvent]:
        """Append ``per_stream`` events (data ``{"stream", "n"}``) to each of ``streams``,
        interleaved; every ``order`` event of the log."""
        await append_interleaved(self.events, streams, per_stream, event_type=event_type)
        return await self.log()

    async def log(self) -> list[RecordedEvent]:
        """Every ``order`` event of the log, in order."""
        return await recorded(self.events, categories=["order"])

    async def relay(self) -> None:
        """Publish every ``order`` event not published yet to the broker's destination."""
        relay = Relay(
            self.events,
            self.backend,
            self.broker.publisher,
            name="outbox",
            source="forze://contract",
            route=self.broker.destination,
            categories=["order"],
            lanes=4,
            owner="relay-a",
            lease_seconds=1.0,
        )
        status = await relay.catch_up()
        assert status.lag_events == 0, status

    @asynccontextmanager
    async def consuming(
        self,
        handlers: Mapping[str, MessageHandler],
        *,
        wrap: Callable[[Subscriber], Subscriber] | None = None,
    ) -> AsyncIterator[Consumer]:
        """A consumer of a new subscriber (``wrap``-ped) running with the rig's settings for
        the block; stopped, and its subscriber closed, when the block ends."""
        subscriber = self.broker.subscribe()
        consumer = Consumer(
            subscriber if wrap is None else wrap(subscriber), self.runtime, handlers, self.settings
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(consumer.run())
            try:
                yield consumer
            finally:
                consumer.stop()

    async def notes(self, stream: str) -> list[int]:
        """The numbers noted in ``stream``'s ledger, in order."""
        return [e.data["n"] for e in await self.ledger(stream)]

    async def ledger(self, stream: str) -> list[RecordedEvent]:
        """The events of ``stream``'s ledger."""
        return list(await self.events.read_stream(LEDGERS.stream_id(stream)))

    async def until_noted(self, expected: Mapping[str, int], *, seconds: float = 30.0) -> None:
        """Wait until each stream's ledger holds at least its count of ``expected``."""

        async def done() -> bool:
            for stream, count in expected.items():
                if len(await self.notes(stream)) < count:
                    return False
            return True

        await eventually(done, f"ledgers noted {dict(expected)}", seconds)

    async def until_dead(self, count: int, *, seconds: float = 30.0) -> list[tuple[Message, str]]:
        """Wait until the broker's dead letters hold ``count`` messages; them."""

        async def enough() -> bool:
            return len(await self.broker.dead_letters()) >= count

        await eventually(enough, f"{count} dead letter(s)", seconds)
        return await self.broker.dead_letters()


class LostAcks:
    """A subscriber whose deliveries lose the ack of each message's first handling: the
    handler's unit committed, then the ack never reached the broker, which delivers the
    message again (here at once, by ``retry(0)``, rather than after a visibility timeout).
    ``lost`` lists the message ids whose ack was lost."""

    def __init__(self, inner: Subscriber) -> None:
        self.inner = inner
        self.lost: list[str] = []

    async def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 1.0
    ) -> Sequence[Delivery]:
        """The inner subscriber's deliveries, each wrapped."""
        got = await self.inner.receive(max_messages=max_messages, wait_seconds=wait_seconds)
        return [_Losing(delivery, self) for delivery in got]

    async def close(self) -> None:
        """Close the inner subscriber."""
        await self.inner.close()


class _Losing:
    def __init__(self, inner: Delivery, owner: LostAcks) -> None:
        self._inner, self._owner = inner, owner

    @property
    def message(self) -> Message:
        return self._inner.message

    @property
    def attempt(self) -> int:
        return self._inner.attempt

    async def ack(self) -> None:
        if self.message.id in self._owner.lost:
            await self._inner.ack()
            return
        self._owner.lost.append(self.message.id)
        await self._inner.retry(0.0)

    async def retry(self, delay_seconds: float) -> None:
        await self._inner.retry(delay_seconds)

    async def dead_letter(self, reason: str) -> None:
        await self._inner.dead_letter(reason)
