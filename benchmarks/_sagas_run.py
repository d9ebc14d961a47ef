"""The measurements of ``sagas.py``: dispatcher against raw signal-with-start, and latency."""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import signal
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from forze import DomainEvent
from forze.contracts import ExpectedVersion, NewEvent, RecordedEvent, SagaRunner
from forze_eventstore import EventCodec, SQLiteDatabase, SQLiteEventStore
from forze_projections import SQLiteProjectionBackend
from forze_projections.sagas import SagaDispatcher
from forze_projections.sagas.engine import event_to_json
from forze_projections.testing.saga_samples import TRIP_SAGA, TRIPS, TripPaid, TripRequested
from forze_temporal import TemporalSagaRunner, ensure_search_attributes, workflow_id
from forze_temporal.workflow import OUTCOME, SAGA, WORKFLOW

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Stopwatch, progress
else:
    from _harness import Stopwatch, progress

__all__ = [
    "TEMPORAL_ADDRESS",
    "Latency",
    "LiveLatencies",
    "Options",
    "Rig",
    "connect",
    "dispatcher_alone",
    "latency",
    "open_rig",
    "open_store",
    "starts",
]

TEMPORAL_ADDRESS = os.environ.get("FORZE_TEST_TEMPORAL_ADDRESS", "127.0.0.1:7233")
"""The dev server of the tests (``.ci/ensure-services.sh`` starts it)."""
CONNECT_SECONDS = 10.0
RPC_SECONDS = 10.0
"""The deadline of the raw client's calls: the runner's default ``timeout_seconds``."""
APPEND_BATCH = 100
"""Trips appended per transaction when filling a store (one event per trip stream)."""
WARMUP_SHARE = 0.1
"""The share of a latency run's first events left out of its percentiles."""
PAY_AFTER_SECONDS = 0.5
"""How long after its ``TripRequested`` the latency run appends a trip's ``TripPaid``."""
DRAIN_SECONDS = 20.0
"""How long the latency run waits, after its last append, for every delivery and step."""
READY_SECONDS = 30.0
"""How long the latency run waits for its worker process to be polling."""
BENCHMARKS = Path(__file__).resolve().parent
WORKER_SCRIPT = BENCHMARKS / "_sagas_worker.py"
CODEC = EventCodec.for_specs(TRIPS)
START_SIGNAL = "deliver"


@dataclass(frozen=True, slots=True)
class Options:
    """The dispatcher's ``lanes`` and ``batch_size`` (the raw side's concurrency is ``lanes``),
    and whether to profile a dispatcher catch-up."""

    lanes: int = 16
    batch_size: int = 500
    profile: bool = False

    def dispatcher(self, store: Store, runner: SagaRunner, name: str) -> SagaDispatcher:
        """A dispatcher of the trip saga from ``store`` through ``runner``."""
        return SagaDispatcher(
            store.events,
            store.backend,
            runner,
            name=name,
            sagas=[TRIP_SAGA],
            lanes=self.lanes,
            batch_size=self.batch_size,
        )


@dataclass
class Store:
    """A SQLite event store file and the projection backend (checkpoints) on it."""

    path: Path
    db: SQLiteDatabase
    events: SQLiteEventStore
    backend: SQLiteProjectionBackend


def open_store(path: Path) -> Store:
    """A store on a new SQLite file (``synchronous=NORMAL``, WAL)."""
    db = SQLiteDatabase(path, synchronous="NORMAL")
    return Store(path, db, SQLiteEventStore(db), SQLiteProjectionBackend(db))


def encoded(event: DomainEvent) -> NewEvent:
    """``event`` as the trip aggregate's repository would store it."""
    return CODEC.encode(event, {"correlation_id": str(uuid4())})


async def fill(store: Store, trips: Sequence[str]) -> list[RecordedEvent]:
    """Append one ``TripRequested`` per trip of ``trips`` (each its own stream, ``APPEND_BATCH``
    per transaction); the recorded events, in feed order."""
    for start in range(0, len(trips), APPEND_BATCH):
        async with store.db.transaction():
            for trip in trips[start : start + APPEND_BATCH]:
                await store.events.append(
                    TRIPS.stream_id(trip),
                    [encoded(TripRequested(trip_id=trip))],
                    ExpectedVersion.NO_STREAM,
                )
    head = await store.events.head_position()
    found: list[RecordedEvent] = []
    after = head - len(trips)
    while page := await store.events.read_all(after=found[-1].position if found else after):
        found += page
    return found


@dataclass
class Rig:
    """A client of the dev server, a task queue of its own and the ids of every workflow it
    started (left on the server: see the notes of ``sagas.py``)."""

    client: Client
    run: str
    queue: str
    started: int = 0

    def runner(self, side: str) -> TemporalSagaRunner:
        """A runner whose workflow ids start with ``<run>-<side>-``."""
        return TemporalSagaRunner(
            self.client, [TRIP_SAGA], task_queue=self.queue, id_prefix=self.prefix(side)
        )

    def prefix(self, side: str) -> str:
        """The workflow id prefix of ``side``."""
        return f"{self.run}-{side}-"

    def note(self, side: str, events: Sequence[RecordedEvent]) -> None:
        """Count the workflows ``events`` start on ``side``."""
        self.started += len(events)

    def left(self) -> None:
        """Say which workflows the run leaves on the server."""
        if self.started:
            progress(
                f"  left {self.started:,} workflows of task queue {self.queue} (ids {self.run}-*)"
                " on the dev server's throwaway store"
            )


async def connect() -> Client:
    """A client of ``TEMPORAL_ADDRESS``, the saga search attributes registered."""
    client = await Client.connect(
        TEMPORAL_ADDRESS, connect_timeout=timedelta(seconds=CONNECT_SECONDS)
    )
    await ensure_search_attributes(client)
    return client


def open_rig(client: Client) -> Rig:
    """A fresh run id and task queue (no worker polls it unless the latency run starts one)."""
    run = f"bench-{uuid4().hex[:8]}"
    return Rig(client, run, f"{run}-sagas")


def _key(event: RecordedEvent) -> str:
    key = TRIP_SAGA.key_of(event)
    if key is None:
        raise RuntimeError(f"event {event.event_type} has no trip key")
    return key


@dataclass(frozen=True, slots=True)
class RawStart:
    """One signal-with-start the raw client makes: everything the runner would pass."""

    workflow_id: str
    start: dict[str, Any]
    payload: dict[str, Any]


ATTRIBUTES = TypedSearchAttributes(
    [SearchAttributePair(SAGA, TRIP_SAGA.name), SearchAttributePair(OUTCOME, "running")]
)


def raw_starts(rig: Rig, events: Sequence[RecordedEvent]) -> list[RawStart]:
    """The raw side's calls for ``events``: the runner's arguments, to the ``raw`` ids."""
    return [
        RawStart(
            rig.prefix("raw") + workflow_id(TRIP_SAGA.name, _key(event)),
            {
                "saga": TRIP_SAGA.name,
                "key": _key(event),
                "continue_as_new_after": 0,
                "search_attributes": True,
            },
            event_to_json(event),
        )
        for event in events
    ]


async def start_raw(rig: Rig, calls: Sequence[RawStart], lanes: int) -> None:
    """temporalio's ``start_workflow`` with ``start_signal`` for every call, ``lanes`` at once:
    the runner's arguments and policies, nothing around them."""
    gate = asyncio.Semaphore(lanes)
    timeout = timedelta(seconds=RPC_SECONDS)

    async def start(call: RawStart) -> None:
        async with gate:
            await rig.client.start_workflow(
                WORKFLOW,
                call.start,
                id=call.workflow_id,
                task_queue=rig.queue,
                start_signal=START_SIGNAL,
                start_signal_args=[call.payload],
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=ATTRIBUTES,
                rpc_timeout=timeout,
            )

    async with asyncio.TaskGroup() as group:
        for call in calls:
            group.create_task(start(call))


async def starts(
    rig: Rig, folder: Path, total: int, slices: int, options: Options
) -> tuple[float, float, str]:
    """Seconds of the raw client and of ``dispatcher.catch_up()`` for ``total`` trips, and the
    dispatcher's profile (``--profile``).

    After a warm-up of both (a tenth as many trips, at most 100), the trips are stored in
    ``slices`` slices (untimed); after each the raw client starts the slice's workflows and the
    dispatcher catches up with it, the two taking turns to go first. Each side's workflow ids
    are its own (``<run>-raw-`` and ``<run>-dispatcher-``)."""
    warmup = open_store(folder / "warmup.sqlite")
    store = open_store(folder / "starts.sqlite")
    try:
        warm = await fill(warmup, [f"w{i:06d}" for i in range(max(1, min(100, total // 10)))])
        rig.note("raw", warm)
        rig.note("dispatcher", warm)
        await start_raw(rig, raw_starts(rig, warm), options.lanes)
        status = await options.dispatcher(warmup, rig.runner("dispatcher"), "warmup").catch_up()
        if status.delivered != len(warm):
            raise RuntimeError(f"the warm-up dispatcher stopped early: {status}")

        dispatcher = options.dispatcher(store, rig.runner("dispatcher"), "bench")
        seconds = {"raw": 0.0, "dispatcher": 0.0}
        done = 0
        for index in range(slices):
            size = total // slices + (index < total % slices)
            page = await fill(store, [f"t{done + i:07d}" for i in range(size)])
            rig.note("raw", page)
            rig.note("dispatcher", page)
            calls = raw_starts(rig, page)
            for turn in ("raw", "dispatcher") if index % 2 == 0 else ("dispatcher", "raw"):
                with Stopwatch() as watch:
                    if turn == "raw":
                        await start_raw(rig, calls, options.lanes)
                    else:
                        status = await dispatcher.catch_up()
                seconds[turn] += watch.seconds
            done += size
            if status.delivered != done or status.error or status.checkpoint != status.head:
                raise RuntimeError(f"the dispatcher stopped early: {status}")
        profile = ""
        if options.profile:
            profile = await _profile(rig, store, options)
    finally:
        warmup.db.close()
        store.db.close()
    return seconds["raw"], seconds["dispatcher"], profile


async def _profile(rig: Rig, store: Store, options: Options) -> str:
    """The cProfile (by own time) of one more dispatcher catch-up of every trip of ``store``
    (new workflow ids, so every delivery starts a workflow again)."""
    rig.note("profiled", await _recorded(store))
    profiled = options.dispatcher(store, rig.runner("profiled"), "profiled")
    profiler = cProfile.Profile()
    profiler.enable()
    await profiled.catch_up()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    return out.getvalue()


async def _recorded(store: Store) -> list[RecordedEvent]:
    found: list[RecordedEvent] = []
    while page := await store.events.read_all(after=found[-1].position if found else 0):
        found += page
    return found


class AcceptingRunner:
    """A runner that accepts every delivery at once: the dispatcher's own cost."""

    async def deliver(self, saga: str, key: str, event: RecordedEvent) -> None:
        """Accept ``event``."""

    async def counts(self, saga: str) -> Mapping[str, int]:
        """No instances."""
        return {}


async def dispatcher_alone(folder: Path, total: int, options: Options) -> float:
    """Seconds of ``dispatcher.catch_up()`` of ``total`` trips to an :class:`AcceptingRunner`
    (reading pages, decoding keys, lanes, checkpoints; no Temporal)."""
    store = open_store(folder / "alone.sqlite")
    try:
        await fill(store, [f"a{i:07d}" for i in range(total)])
        await options.dispatcher(store, AcceptingRunner(), "alone_warmup").catch_up()
        dispatcher = options.dispatcher(store, AcceptingRunner(), "alone")
        with Stopwatch() as watch:
            status = await dispatcher.catch_up()
        if status.delivered != total:
            raise RuntimeError(f"the dispatcher to no runner stopped early: {status}")
    finally:
        store.db.close()
    return watch.seconds


class TimedRunner:
    """A runner that records ``time.monotonic()`` when its inner runner accepted each event."""

    def __init__(self, inner: SagaRunner) -> None:
        self.inner = inner
        self.accepted: dict[str, float] = {}

    async def deliver(self, saga: str, key: str, event: RecordedEvent) -> None:
        """Deliver through the inner runner, then note when it returned."""
        await self.inner.deliver(saga, key, event)
        self.accepted.setdefault(str(event.event_id), time.monotonic())

    async def counts(self, saga: str) -> Mapping[str, int]:
        """The inner runner's counts."""
        return await self.inner.counts(saga)


@dataclass(frozen=True, slots=True)
class Latency:
    """Milliseconds, over the measured events."""

    p50: float
    p99: float
    worst: float
    events: int

    @classmethod
    def of(cls, milliseconds: Sequence[float]) -> Latency:
        """The percentiles of ``milliseconds`` (at least two)."""
        cuts = statistics.quantiles(milliseconds, n=100, method="inclusive")
        return cls(cuts[49], cuts[98], max(milliseconds), len(milliseconds))


@dataclass(frozen=True, slots=True)
class LiveLatencies:
    """The latency run: starts and signals accepted, first steps done; the append rate."""

    start: Latency
    signal: Latency
    step: Latency
    rate: float


async def latency(
    rig: Rig, folder: Path, options: Options, rate: float, seconds: float
) -> LiveLatencies:
    """Trips requested at ``rate`` per second for ``seconds``, each paid ``PAY_AFTER_SECONDS``
    later (one append each, in this process), while a live dispatcher (this process) delivers
    them and a ``SagaWorker`` runs the instances in a process of its own
    (``_sagas_worker.py``, on the same store, where its steps append)."""
    store = open_store(folder / "live.sqlite")
    timed = TimedRunner(rig.runner("live"))
    limit = 2 * seconds + DRAIN_SECONDS + READY_SECONDS + 30  # the child's own backstop
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER_SCRIPT),
        str(store.path),
        rig.queue,
        str(limit),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        env=_child_environment(),
    )
    total = max(2, round(rate * seconds))
    lag = max(1, round(rate * PAY_AFTER_SECONDS))
    sent: dict[str, float] = {}
    requested: list[str] = []
    paid: list[str] = []
    trips = [f"l{i:06d}" for i in range(total)]
    rig.started += len(trips)
    try:
        await _ready(child)
        async with options.dispatcher(store, timed, "live") as dispatcher:
            await _warm_up(rig, store, dispatcher)
            start = time.monotonic()
            for tick in range(total + lag):
                delay = start + tick / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if tick < total:
                    event = encoded(TripRequested(trip_id=trips[tick]))
                    requested.append(str(event.event_id))
                    await _append(store, trips[tick], event, sent)
                if tick >= lag:
                    event = encoded(TripPaid(trip_id=trips[tick - lag]))
                    paid.append(str(event.event_id))
                    await _append(store, trips[tick - lag], event, sent)
            achieved = (total + lag) / (time.monotonic() - start)
            progress(f"  {total:,} trips at {achieved:,.0f}/s; waiting for the last step")
            head = await store.events.head_position()
            await dispatcher.wait_until(head, timeout=DRAIN_SECONDS)
            steps = await _steps(store, trips, DRAIN_SECONDS)
    finally:
        await _stop(child)
        store.db.close()
    skip = int(total * WARMUP_SHARE)

    def accepted(ids: Sequence[str]) -> Latency:
        return Latency.of([(timed.accepted[i] - sent[i]) * 1000 for i in ids[skip:]])

    return LiveLatencies(
        accepted(requested), accepted(paid), Latency.of(steps[skip:]), min(rate, achieved)
    )


async def _append(store: Store, trip: str, event: NewEvent, sent: dict[str, float]) -> None:
    # CLOCK_MONOTONIC, as the timed runner's (this process)
    sent[str(event.event_id)] = time.monotonic()
    await store.events.append(TRIPS.stream_id(trip), [event])


async def _warm_up(rig: Rig, store: Store, dispatcher: SagaDispatcher) -> None:
    """One trip requested, delivered, its first step done, then paid: the worker has run a
    workflow and an activity before the clock starts."""
    trip = "warmup"
    rig.started += 1
    await store.events.append(TRIPS.stream_id(trip), [encoded(TripRequested(trip_id=trip))])
    await _steps(store, [trip], READY_SECONDS)
    await store.events.append(TRIPS.stream_id(trip), [encoded(TripPaid(trip_id=trip))])
    await dispatcher.wait_until(await store.events.head_position(), timeout=DRAIN_SECONDS)


async def _steps(store: Store, trips: Sequence[str], within: float) -> list[float]:
    """Milliseconds from each trip's ``TripRequested`` being recorded to its first step's
    ``HotelReserved`` being recorded (the worker's append), in ``trips`` order, once all are
    there (within ``within`` seconds). Both ``recorded_at`` come from the store (wall clock,
    microseconds) of the two processes on this machine."""
    wanted = set(trips)
    requested: dict[str, float] = {}
    reserved: dict[str, float] = {}
    after = 0
    deadline = time.monotonic() + within
    while True:
        while page := await store.events.read_all(
            after=after, event_types=("TripRequested", "HotelReserved")
        ):
            after = page[-1].position
            for event in page:
                kind, _, trip = event.stream_id.partition("-")
                if trip not in wanted:
                    continue
                found = requested if kind == TRIPS.name else reserved
                found.setdefault(trip, event.recorded_at.timestamp())
        if len(reserved) == len(wanted):
            return [(reserved[t] - requested[t]) * 1000 for t in trips]
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{len(wanted) - len(reserved)} of {len(wanted)} trips had no first step"
                f" {within:.0f} s after the last append"
            )
        await asyncio.sleep(0.05)


def _child_environment() -> dict[str, str]:
    """This environment, with ``PYTHONPATH`` reaching the repository's packages and the
    benchmarks' helpers."""
    root = BENCHMARKS.parent
    paths = [BENCHMARKS, root, root / "adapters", root / "eventstore", root / "projections"]
    entries = [str(path) for path in paths]
    if os.environ.get("PYTHONPATH"):
        entries.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(entries)}


async def _ready(child: asyncio.subprocess.Process) -> None:
    """Wait for the worker process to say it runs."""
    assert child.stdout is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), READY_SECONDS)
    except TimeoutError:
        raise RuntimeError(
            f"the worker process did not start within {READY_SECONDS:.0f} s"
        ) from None
    if line.strip() != b"ready":
        raise RuntimeError(
            f"the worker process failed to start (it said {line!r}; its errors are above)"
        )


async def _stop(child: asyncio.subprocess.Process) -> None:
    """SIGTERM the worker process (it leaves its worker and exits); kill it if it lingers."""
    if child.returncode is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(child.wait(), 15)
    except TimeoutError:
        child.kill()
        await child.wait()
