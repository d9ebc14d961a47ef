"""The consumer runtime: messages from a ``Subscriber`` to handlers, exactly once in effect.

Each delivery is handled in an ``ExecutionContext`` carrying the message's correlation id
(causation: the message id) and tenant, whose saved events get ids derived from the message
id: handling a redelivered message appends nothing new (the durable idempotent append is the
inbox). A delivery is acked only once its handler returned, so after its unit of work
committed; failures retry with back-off and end in the dead-letter destination.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any

from forze.contracts import Delivery, Message, Subscriber
from forze.domain.errors import (
    BrokerUnavailable,
    DuplicateEventIdError,
    EventStoreUnavailable,
    ForzeError,
    InvalidInputError,
    MalformedMessage,
)
from forze.execution import Backoff, Runtime
from forze.messaging._handlers import Call, ClaimedElsewhere, Route, bind

__all__ = ["Consumer", "ConsumerSettings"]

log = logging.getLogger("forze.consumer")


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    """How a :class:`Consumer` works.

    ``max_attempts``: deliveries after which a message whose handler keeps failing is
    dead-lettered (an outage of the event store or a broker retries without limit);
    ``backoff``: the delay before a failed message comes back, by attempt, and the pause
    after a failed receive;
    ``concurrency``: handlers running at once (one per ordering key at a time);
    ``batch_size``: messages asked for per receive; ``wait_seconds``: how long a receive
    waits for a first message; ``grace_seconds``: how long :meth:`Consumer.stop` lets
    running handlers finish before abandoning them (their messages come back).
    """

    max_attempts: int = 5
    backoff: Backoff = field(default_factory=lambda: Backoff(0.5, 60.0, jitter=0.2))
    concurrency: int = 8
    batch_size: int = 10
    wait_seconds: float = 1.0
    grace_seconds: float = 10.0

    def __post_init__(self) -> None:
        for name in ("max_attempts", "concurrency", "batch_size"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"consumer {name} must be >= 1")
        if self.wait_seconds < 0 or self.grace_seconds < 0:
            raise InvalidInputError("consumer wait_seconds and grace_seconds must be >= 0")


class Consumer:
    """Receives from ``subscriber`` and calls the route of each message's type (``handlers``:
    event type → usecase or message handler) through ``runtime``.

    Messages of one ordering key (the stream) are handled one at a time in order; different
    keys run concurrently. A message that cannot be decoded, or whose type has no route, is
    dead-lettered at once; a ``DuplicateEventIdError`` means an earlier delivery already
    appended its events, so it is acked. Run with :meth:`run`; :meth:`stop` ends it.

    The runtime's telemetry (``Runtime.telemetry``), if any, observes each delivery's
    handling, continuing the trace the message carries.
    """

    def __init__(
        self,
        subscriber: Subscriber,
        runtime: Runtime,
        handlers: Mapping[str, Route],
        settings: ConsumerSettings | None = None,
    ) -> None:
        self._subscriber = subscriber
        self._runtime = runtime
        self._settings = settings or ConsumerSettings()
        self._calls: dict[str, Call] = {
            kind: bind(route, runtime) for kind, route in handlers.items()
        }
        self._lanes: dict[str, deque[Delivery]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._stopping = asyncio.Event()
        self._room = asyncio.Event()
        self._slots = asyncio.Semaphore(self._settings.concurrency)

    def stop(self) -> None:
        """Stop fetching; :meth:`run` returns once running handlers finished (or the grace
        period ended) and the subscriber is closed. Safe to call more than once."""
        self._stopping.set()
        self._room.set()

    async def run(self) -> None:
        """Receive and handle messages until :meth:`stop`; a failing receive (the broker
        down) is logged and tried again after a back-off."""
        try:
            async with asyncio.TaskGroup() as group:
                await self._fetch(group)
                await self._drain()
        finally:
            try:
                await self._subscriber.close()
            except ForzeError as error:
                log.warning("closing the subscriber failed: %s", error)

    async def _fetch(self, group: asyncio.TaskGroup) -> None:
        settings = self._settings
        capacity = settings.concurrency + settings.batch_size
        failures = 0
        while not self._stopping.is_set():
            if self._in_flight >= capacity:
                self._room.clear()
                await self._room.wait()
                continue
            try:
                deliveries = await self._subscriber.receive(
                    max_messages=min(settings.batch_size, capacity - self._in_flight),
                    wait_seconds=settings.wait_seconds,
                )
            except ForzeError as error:
                failures += 1
                pause = settings.backoff.delay(failures)
                log.warning("receiving failed (%s); trying again in %.2fs", error, pause)
                await self._pause(pause)
                continue
            failures = 0
            for delivery in deliveries:
                self._dispatch(group, delivery)

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return

    def _dispatch(self, group: asyncio.TaskGroup, delivery: Delivery) -> None:
        message = delivery.message
        key = message.ordering_key or message.subject or message.id
        self._in_flight += 1
        lane = self._lanes.get(key)
        if lane is not None:
            lane.append(delivery)
            return
        self._lanes[key] = deque([delivery])
        task = group.create_task(self._run_lane(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_lane(self, key: str) -> None:
        """Handle ``key``'s deliveries in order; after a retried one, the later ones of the key
        come back behind it (a redelivery of the retried message itself, received meanwhile,
        is handled). Left unsettled when stopping (they are delivered again)."""
        lane = self._lanes[key]
        try:
            while lane and not self._stopping.is_set():
                async with self._slots:
                    if self._stopping.is_set():
                        break
                    retried_after = await self._handle(lane[0])
                handled = lane.popleft().message.id
                self._done(1)
                if retried_after is not None and lane:
                    later = [d for d in lane if d.message.id != handled]
                    again = [d for d in lane if d.message.id == handled]
                    lane.clear()
                    lane.extend(again)
                    self._done(len(later))
                    for delivery in later:
                        await self._settle(delivery, "retry", delivery.retry(retried_after))
        finally:
            self._done(len(lane))
            if self._lanes.get(key) is lane:
                del self._lanes[key]

    def _done(self, count: int) -> None:
        self._in_flight -= count
        self._room.set()

    async def _drain(self) -> None:
        """Let running handlers finish within the grace period, then abandon the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self._settings.grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            log.warning(
                "%d handler(s) did not finish in time: their messages come back", len(pending)
            )

    async def _handle(self, delivery: Delivery) -> float | None:
        """Handle and settle ``delivery``; the delay it is retried after (``None``: settled)."""
        message = delivery.message
        extensions = message.extensions
        arguments: dict[str, Any] = {
            "correlation_id": extensions.get("correlationid") or message.id,
            "causation_id": message.id,
            "tenant": extensions.get("tenant") or None,
            "event_ids_from": message.id,
        }
        try:
            call = self._calls.get(message.type)
            telemetry = self._runtime.telemetry
            if telemetry is None:
                if call is None:
                    raise _unrouted(message)
                await call(message, arguments)
            else:
                with telemetry.handle(message, delivery.attempt):
                    if call is None:
                        raise _unrouted(message)
                    await call(message, arguments)
        except DuplicateEventIdError as error:
            log.info("message %s was handled before (%s): acked", message.id, error)
        except MalformedMessage as error:
            reason = f"{type(error).__name__}: {error}"
            await self._settle(delivery, "dead-letter", delivery.dead_letter(reason))
            return None
        except Exception as error:  # the handler's failure, whatever it is, decides a retry
            return await self._failed(delivery, error)
        await self._settle(delivery, "ack", delivery.ack())
        return None

    async def _failed(self, delivery: Delivery, error: Exception) -> float | None:
        reason = f"{type(error).__name__}: {error}"
        attempt = delivery.attempt
        if not _transient(error) and attempt >= self._settings.max_attempts:
            log.error(
                "message %s failed %d times, dead-lettered: %s",
                delivery.message.id,
                attempt,
                reason,
            )
            await self._settle(delivery, "dead-letter", delivery.dead_letter(reason))
            return None
        delay = self._settings.backoff.delay(attempt)
        log.warning(
            "message %s failed (attempt %d), retried in %.2fs: %s",
            delivery.message.id,
            attempt,
            delay,
            reason,
        )
        await self._settle(delivery, "retry", delivery.retry(delay))
        return delay

    @staticmethod
    async def _settle(delivery: Delivery, what: str, settling: Awaitable[None]) -> None:
        """Await a settlement; a broker failure is logged (the message comes back)."""
        try:
            await settling
        except ForzeError as error:
            log.warning("%s of message %s failed: %s", what, delivery.message.id, error)


def _unrouted(message: Message) -> MalformedMessage:
    """The error of a message whose type has no handler (it is dead-lettered at once)."""
    return MalformedMessage(f"message {message.id!r}: no handler for type {message.type!r}")


def _transient(error: Exception) -> bool:
    """Whether ``error`` says nothing about the message: an outage, or another consumer
    holding its claim. Such failures retry without counting towards ``max_attempts``; a
    ``ConcurrencyError`` counts (a conflict that outlasts every back-off is a bug to look at,
    not a reason to block the stream for ever)."""
    if isinstance(error, ClaimedElsewhere):
        return True
    if isinstance(error, EventStoreUnavailable | BrokerUnavailable):
        return error.transient
    return False
