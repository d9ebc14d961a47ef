"""``InMemoryBroker``: a broker in memory that behaves like the real ones where tests notice.

Queues receive what is published to destinations bound to them (AMQP topic patterns); an
unsettled delivery comes back after the visibility timeout or when its subscriber closes;
``retry`` delays it; ``dead_letter`` and the delivery limit move it to the queue's dead
letters with the reason; messages of one ordering key are handed out one at a time, in order,
as by a FIFO queue's message group or a single active consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from forze.contracts import Message
from forze.domain.errors import InvalidInputError, MessageRefused
from forze_mock.memory_storage import Clock

__all__ = [
    "DeadLetter",
    "InMemoryBroker",
    "InMemoryPublisher",
    "InMemorySubscriber",
    "topic_matches",
]

_WORDS = re.compile(r"[^.]+")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message a queue gave up, with why and after how many deliveries."""

    message: Message
    reason: str
    attempts: int


@dataclass(slots=True)
class _Entry:
    message: Message
    attempts: int = 0
    available_at: float = 0.0
    holder: InMemorySubscriber | None = None
    serial: int = 0


@dataclass(slots=True)
class _Queue:
    name: str
    patterns: list[str]
    entries: list[_Entry] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


def topic_matches(pattern: str, destination: str) -> bool:
    """Whether ``destination`` matches an AMQP topic ``pattern`` (``*`` one dot-separated word,
    ``#`` zero or more)."""
    return _match(pattern.split("."), destination.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[n:]) for n in range(len(words) + 1))
    if not words:
        return False
    return (head in ("*", words[0])) and _match(rest, words[1:])


class InMemoryBroker:
    """Queues, bindings and dead letters in memory, for one event loop.

    ``visibility_seconds``: how long a delivery may stay unsettled before the message is
    delivered again (a consumer that died); ``max_deliveries``: deliveries after which an
    unsettled message is dead-lettered instead (``None``: never); ``max_message_bytes``: a
    larger body is refused with ``MessageRefused``, as a real broker would.
    """

    def __init__(
        self,
        *,
        visibility_seconds: float = 30.0,
        max_deliveries: int | None = None,
        max_message_bytes: int = 256 * 1024,
        clock: Clock = time.monotonic,
    ) -> None:
        self.visibility_seconds = visibility_seconds
        self.max_deliveries = max_deliveries
        self.max_message_bytes = max_message_bytes
        self._clock = clock
        self._queues: dict[str, _Queue] = {}
        self._serials = 0

    def declare(self, queue: str, *patterns: str) -> None:
        """Create ``queue`` (if new) receiving what is published to destinations matching any
        of ``patterns`` (``#``: everything)."""
        if not queue:
            raise InvalidInputError("a queue needs a name")
        found = self._queues.setdefault(queue, _Queue(queue, []))
        found.patterns.extend(p for p in patterns or ("#",) if p not in found.patterns)

    def publisher(self) -> InMemoryPublisher:
        """A publisher to this broker."""
        return InMemoryPublisher(self)

    def subscriber(self, queue: str) -> InMemorySubscriber:
        """A subscriber of ``queue`` (declared with ``#`` if it was not)."""
        if queue not in self._queues:
            self.declare(queue)
        return InMemorySubscriber(self, self._queues[queue])

    def dead_letters(self, queue: str) -> list[DeadLetter]:
        """What ``queue`` gave up, oldest first."""
        found = self._queues.get(queue)
        return [] if found is None else list(found.dead)

    def pending(self, queue: str) -> int:
        """Messages in ``queue`` not settled yet (waiting or in flight)."""
        found = self._queues.get(queue)
        return 0 if found is None else len(found.entries)

    def _accept(self, message: Message) -> None:
        if len(message.data) > self.max_message_bytes:
            raise MessageRefused(
                message.id, f"{len(message.data)} bytes is over {self.max_message_bytes}"
            )
        for queue in self._queues.values():
            if any(topic_matches(p, message.destination) for p in queue.patterns):
                self._serials += 1
                queue.entries.append(_Entry(message, serial=self._serials))
                queue.arrived.set()

    def _take(self, queue: _Queue, subscriber: InMemorySubscriber, limit: int) -> list[_Entry]:
        now = self._clock()
        taken: list[_Entry] = []
        blocked: set[str] = set()
        for entry in list(queue.entries):
            if entry.holder is not None and entry.available_at <= now:
                entry.holder = None  # the visibility timeout passed: it goes back
            key = entry.message.ordering_key
            if entry.holder is not None or entry.available_at > now or key in blocked:
                if key:
                    blocked.add(key)
                continue
            if self.max_deliveries is not None and entry.attempts >= self.max_deliveries:
                self._bury(queue, entry, f"delivered {entry.attempts} times without an ack")
                continue
            entry.attempts += 1
            entry.holder = subscriber
            entry.available_at = now + self.visibility_seconds
            taken.append(entry)
            if key:
                blocked.add(key)
            if len(taken) == limit:
                break
        return taken

    def _bury(self, queue: _Queue, entry: _Entry, reason: str) -> None:
        if entry in queue.entries:
            queue.entries.remove(entry)
            queue.dead.append(DeadLetter(entry.message, reason, entry.attempts))

    def _next_wake(self, queue: _Queue) -> float | None:
        now = self._clock()
        waits = [e.available_at - now for e in queue.entries if e.available_at > now]
        return min(waits) if waits else None


class InMemoryPublisher:
    """A :class:`forze.contracts.Publisher` to an :class:`InMemoryBroker`."""

    def __init__(self, broker: InMemoryBroker) -> None:
        self._broker = broker

    async def publish(self, messages: Sequence[Message]) -> None:
        """See ``Publisher.publish``: each message goes to every queue bound to its destination."""
        for message in messages:
            self._broker._accept(message)

    async def close(self) -> None:
        """Nothing to release."""


class InMemorySubscriber:
    """A :class:`forze.contracts.Subscriber` of one queue of an :class:`InMemoryBroker`."""

    def __init__(self, broker: InMemoryBroker, queue: _Queue) -> None:
        self._broker, self._queue = broker, queue
        self._closed = False

    async def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 1.0
    ) -> Sequence[_InMemoryDelivery]:
        """See ``Subscriber.receive``."""
        if max_messages < 1:
            raise InvalidInputError("max_messages must be >= 1")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(wait_seconds, 0.0)
        while not self._closed:
            taken = self._broker._take(self._queue, self, max_messages)
            if taken:
                return [_InMemoryDelivery(self._broker, self._queue, e, e.attempts) for e in taken]
            left = deadline - loop.time()
            if left <= 0:
                return []
            wake = self._broker._next_wake(self._queue)
            self._queue.arrived.clear()
            timeout = left if wake is None else min(left, max(wake, 0.001))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.arrived.wait(), timeout)
        return []

    async def close(self) -> None:
        """See ``Subscriber.close``: what it holds unsettled is delivered again at once."""
        self._closed = True
        for entry in self._queue.entries:
            if entry.holder is self:
                entry.holder, entry.available_at = None, 0.0
        self._queue.arrived.set()


class _InMemoryDelivery:
    def __init__(self, broker: InMemoryBroker, queue: _Queue, entry: _Entry, attempt: int) -> None:
        self._broker, self._queue, self._entry, self._attempt = broker, queue, entry, attempt

    @property
    def message(self) -> Message:
        return _received(self._entry.message, self._queue.name)

    @property
    def attempt(self) -> int:
        return self._attempt

    def _current(self) -> bool:
        entry = self._entry
        return entry in self._queue.entries and entry.attempts == self._attempt

    async def ack(self) -> None:
        if self._current():
            self._queue.entries.remove(self._entry)
            self._queue.arrived.set()  # the key's next message may be handed out now

    async def retry(self, delay_seconds: float) -> None:
        if self._current():
            self._entry.holder = None
            self._entry.available_at = self._broker._clock() + max(delay_seconds, 0.0)
            self._queue.arrived.set()

    async def dead_letter(self, reason: str) -> None:
        if self._current():
            self._broker._bury(self._queue, self._entry, reason)
            self._queue.arrived.set()


def _received(message: Message, queue: str) -> Message:
    return replace(message, destination=queue)
