"""``Relay``: the event log as outbox. Recorded events go to a broker, checkpointed."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from forze.contracts import EventStore, Publisher, RecordedEvent, Telemetry
from forze.domain.errors import InvalidInputError
from forze_eventstore.adapter_kit import DEFAULT_LIMITS
from forze_projections._feed_service import FeedService
from forze_projections._relay_work import (
    RelayCounts,
    RelayFailed,
    RelayWork,
    Router,
    parallel_calls,
)
from forze_projections.backend import ProjectionBackend
from forze_projections.projector import ProgressCallback
from forze_projections.status import FailurePolicy, ProjectionState

__all__ = ["SKIP_REFUSED", "Relay", "RelayFailed", "RelayStatus", "topic"]

SKIP_REFUSED = FailurePolicy(on_error="skip")
"""A relay's default policy: a message the broker refuses for good (too large, say) is recorded
as a failure (``Relay.failures``, the status's ``refused``) and the relay goes on."""


def topic(event: RecordedEvent) -> str:
    """The default route: ``<category>.<event type>`` (``order.OrderPlaced``), a topic
    exchange's routing key."""
    return f"{event.category}.{event.event_type}"


@dataclass(frozen=True, slots=True)
class RelayStatus:
    """Where a relay is: its checkpoint, lag behind the head, state, errors, holder and counts.

    ``stalled``: the relay is behind (an event it publishes waits) and its checkpoint has not
    moved for over the relay's ``stall_seconds``, measured from the later of its last move
    (``moved_at``) and the arrival of the oldest waiting event (``stuck_seconds``). A relay
    working through an old backlog is not stalled; one whose publisher hangs or keeps failing
    is. Any process can tell, from the store alone.

    ``error`` is what stopped it (``FAILED``). ``last_error`` is the last error its runner in
    this process met, with its time: a broker or store outage it is backing off from, a page
    it retried, or what stopped it. It stays after the relay recovers (a later error replaces
    it): it is current while ``last_error_at`` is after ``moved_at``. ``published`` and
    ``refused`` count what this process's runner did since it started.
    """

    name: str
    checkpoint: int
    head: int
    lag_events: int
    lag_seconds: float
    state: ProjectionState
    stalled: bool
    error: str | None = None
    holder: str | None = None
    published: int = 0
    refused: int = 0
    moved_at: datetime | None = None
    """When the checkpoint last moved forward (any process; ``None``: it never did)."""
    last_error: str | None = None
    """The last error this process's runner met (see the class), or ``None``."""
    last_error_at: datetime | None = None
    """When ``last_error`` happened (UTC)."""


class Relay(FeedService):
    """Publishes the events of the log to a broker: the outbox without a second write.

    A relay is a feed consumer with its own checkpoint (``relay:<name>`` on ``backend``). It
    reads pages of the events it is given (``event_types``, ``categories``: ``None`` for all),
    turns each into a ``Message`` (the one CloudEvents envelope of ``forze.messaging``; id =
    event id, so consumers deduplicate by it), routes it (``route(event)`` becomes its
    destination: a routing key, a queue or a stream name; ``<category>.<event type>`` by
    default) and hands the page to ``publisher``. Only once the broker has accepted every
    message of a page is the checkpoint saved: delivery is at least once and no event is
    skipped unless the policy says so.

    **Order.** A page is published in up to ``lanes`` concurrent calls of ``publisher``; all
    messages of one ordering key (``ordering_key(event)``, the stream id by default) share a
    lane and are published in version order, so one stream's events reach the broker in order.
    By default ``lanes`` is the publisher's ``parallel_calls`` (see ``Publisher``): 1 for
    publishers that already send one call's messages concurrently (RabbitMQ, Redis), 8 for
    SQS, whose calls are sequential batches of 10.

    **Failures.** A transient ``BrokerUnavailable`` (the broker is down, a connection was
    lost) or store outage rolls the page back to the checkpoint: the relay backs off (doubling
    up to 5 s) and publishes from the checkpoint again (messages the broker had already
    accepted arrive twice). A message refused for good (``MessageRefused``: too large, no
    route) follows ``policy``: ``skip`` (the default) records it as a failure and goes on;
    ``retry`` tries the page again after a back-off, then stops; ``stop`` stops the relay
    (``FAILED``, its status says why). Every error met shows in the status's ``last_error``; a
    relay behind whose checkpoint has not moved for ``stall_seconds`` is reported ``stalled``.

    **One runner.** As a projection, a relay runs in one process at a time across all those
    sharing ``backend`` (a lease renewed every third of ``lease_seconds``); the others stand
    by and take over when it stops or dies.

    **Telemetry.** With ``telemetry`` (a runtime's ``Runtime.telemetry``), every batch and
    every publisher call is reported to it, and the messages carry the trace context of their
    publication, so that consumers continue the trace of the operation that saved the events.

    Use ``async with relay:`` (or ``run()``/``stop()``) in a service, ``catch_up()`` in tests.
    """

    kind: ClassVar[str] = "relay"

    def __init__(
        self,
        events: EventStore,
        backend: ProjectionBackend,
        publisher: Publisher,
        *,
        name: str,
        source: str,
        route: Router | str = topic,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
        ordering_key: Callable[[RecordedEvent], str] | None = None,
        lanes: int | None = None,
        batch_size: int = 500,
        page_bytes: int = DEFAULT_LIMITS.page_bytes,
        policy: FailurePolicy = SKIP_REFUSED,
        owner: str | None = None,
        lease_seconds: float = 5.0,
        stall_seconds: float = 60.0,
        on_progress: ProgressCallback | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        if not name.isidentifier():
            raise InvalidInputError(f"relay name {name!r} must be an identifier")
        if not source:
            raise InvalidInputError("a relay needs a source (the CloudEvents source attribute)")
        if lanes is None:
            lanes = parallel_calls(publisher)
        if lanes < 1 or batch_size < 1 or page_bytes < 1:
            raise InvalidInputError("lanes, batch_size and page_bytes must be >= 1")
        if stall_seconds <= 0:
            raise InvalidInputError("stall_seconds must be > 0")
        self.name = name
        self.publisher = publisher
        self.lanes = lanes
        destination = route
        router: Router = (lambda _: destination) if isinstance(destination, str) else destination
        self._relay = RelayWork(
            name=f"relay:{name}",
            backend=backend,
            publisher=publisher,
            policy=policy,
            source=source,
            route=router,
            ordering_key=ordering_key,
            lanes=lanes,
            event_types=None if event_types is None else tuple(event_types),
            categories=None if categories is None else tuple(categories),
            counts=RelayCounts(),
            telemetry=telemetry,
        )
        super().__init__(
            events,
            backend,
            self._relay,
            owner=owner,
            lease_seconds=lease_seconds,
            batch_size=batch_size,
            page_bytes=page_bytes,
            stall_seconds=stall_seconds,
            on_progress=on_progress,
            telemetry=telemetry,
        )

    async def __aenter__(self) -> Relay:
        await self._enter()
        return self

    async def catch_up(self) -> RelayStatus:
        """Publish every event up to the current head (or wait for the runner holding the
        lease to), then return the status. Raises the failure that stopped it here."""
        await self._catch_up()
        return await self.status()

    async def replay(self) -> RelayStatus:
        """Publish every event again from the start of the log (for a new consumer; the
        others deduplicate by event id). Carried out by the runner holding the lease, as a
        projection's rebuild."""
        if self._task is None:
            self._runners.stopping.clear()
        leases = self.backend.leases
        name = self.checkpoint_name
        number = await leases.request_rebuild(name)
        local = self._runners.held.get(name)
        if local is not None:
            found = await leases.read(name)
            if found is not None:
                local.note(found)
        await self._runners.bring_up(self._relay, rebuild=number)
        return await self.status()

    async def status(self) -> RelayStatus:
        """Checkpoint, lag (events and seconds), state, stalled, errors, holder and counts."""
        counts = self._relay.counts
        found = await self._service_status([counts.last_refused])
        last_error, last_error_at = found.last_error or (None, None)
        return RelayStatus(
            name=self.name,
            checkpoint=found.checkpoint,
            head=found.head,
            lag_events=found.lag_events,
            lag_seconds=found.lag_seconds,
            state=found.state,
            stalled=found.stalled,
            error=found.error,
            holder=found.holder,
            published=counts.published,
            refused=counts.refused,
            moved_at=found.moved_at,
            last_error=last_error,
            last_error_at=last_error_at,
        )
