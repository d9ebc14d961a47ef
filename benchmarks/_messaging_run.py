"""The measurements of ``messaging.py``: relay against raw throughput, and live latency."""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from forze.contracts import ExpectedVersion, Message, NewEvent, RecordedEvent
from forze.messaging import message_of
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_projections import Relay, SQLiteProjectionBackend

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Stopwatch, progress
    from benchmarks._messaging_brokers import Rig
else:
    from _harness import Stopwatch, progress
    from _messaging_brokers import Rig

__all__ = [
    "STREAMS",
    "Latency",
    "NullPublisher",
    "Options",
    "Store",
    "latency",
    "open_store",
    "relay_alone",
    "throughput",
]

SOURCE = "forze://bench/carts"
"""The CloudEvents source of every message."""
APPEND_BATCH = 10
"""Events per append when filling a store: each round appends this many to every stream."""
STREAMS = 1_000
"""Carts the throughput events are spread over."""
WARMUP_SHARE = 0.1
"""The share of a latency run's first events left out of its percentiles."""
DRAIN_SECONDS = 15.0
"""How long the latency run waits, after its last append, for the last message."""
READY_SECONDS = 30.0
"""How long the latency run waits for its consumer process to have subscribed."""
BENCHMARKS = Path(__file__).resolve().parent
CONSUMER_SCRIPT = BENCHMARKS / "_messaging_consumer.py"
"""The latency run's consumer process."""
EVENT_TYPE = "ItemAdded"
"""The type of every benchmark event."""


@dataclass(frozen=True, slots=True)
class Options:
    """What the benchmark controls: the relay's ``batch_size`` and ``lanes`` (``None``: the
    relay's defaults), and whether to profile the relay's catch-up."""

    batch_size: int | None = None
    lanes: int | None = None
    profile: bool = False

    def relay(self, store: Store, rig: Rig, name: str) -> Relay:
        """A relay of ``store`` to ``rig``'s relay destination with these options."""
        tuned: dict[str, Any] = {}
        if self.batch_size is not None:
            tuned["batch_size"] = self.batch_size
        if self.lanes is not None:
            tuned["lanes"] = self.lanes
        return Relay(
            store.events,
            store.backend,
            rig.publisher,
            name=name,
            source=SOURCE,
            route=rig.relay,
            **tuned,
        )


class NullPublisher:
    """A publisher that accepts every message at once: the relay's own cost, no broker."""

    async def publish(self, messages: Sequence[Message]) -> None:
        """Accept ``messages``."""

    async def close(self) -> None:
        """Nothing to close."""


async def relay_alone(store: Store, options: Options) -> float:
    """Seconds of ``relay.catch_up()`` of every event of ``store`` to a :class:`NullPublisher`
    (reading pages, building messages, saving checkpoints; no broker)."""
    tuned = options.relay(store, _NULL_RIG, "alone")
    await options.relay(store, _NULL_RIG, "alone_warmup").catch_up()
    with Stopwatch() as watch:
        status = await tuned.catch_up()
    if status.checkpoint != status.head:
        raise RuntimeError(f"the relay to no broker stopped early: {status}")
    return watch.seconds


@dataclass
class Store:
    """A SQLite event store file and the projection backend (checkpoints) on it."""

    db: SQLiteDatabase
    events: SQLiteEventStore
    backend: SQLiteProjectionBackend

    async def recorded(self) -> list[RecordedEvent]:
        """Every event, in feed order."""
        found: list[RecordedEvent] = []
        while page := await self.events.read_all(after=found[-1].position if found else 0):
            found += page
        return found


def new_event(index: int) -> NewEvent:
    """The ``index``-th event: a small cart line with the metadata a command would add."""
    return NewEvent(
        EVENT_TYPE,
        {"sku": f"sku-{index % 997:04d}", "quantity": index % 7 + 1, "price_cents": 1999},
        {
            "occurred_at": datetime.now(UTC).isoformat(),
            "correlation_id": str(uuid4()),
            "causation_id": str(uuid4()),
        },
    )


def open_store(path: Path) -> Store:
    """A store on a new SQLite file (``synchronous=NORMAL``, WAL)."""
    db = SQLiteDatabase(path, synchronous="NORMAL")
    return Store(db, SQLiteEventStore(db), SQLiteProjectionBackend(db))


async def fill(store: Store, total: int, streams: int) -> None:
    """Append ``total`` more events over ``streams`` carts, ``APPEND_BATCH`` per append, carts
    interleaved round by round (each round one transaction, to keep the setup quick)."""
    streams = max(1, min(streams, total))
    per_stream = [total // streams + (i < total % streams) for i in range(streams)]
    index = 0
    for start in range(0, max(per_stream), APPEND_BATCH):
        async with store.db.transaction():
            for cart, count in enumerate(per_stream):
                size = min(APPEND_BATCH, count - start)
                if size <= 0:
                    continue
                batch = [new_event(index + i) for i in range(size)]
                index += size
                await store.events.append(f"cart-{cart:05d}", batch, ExpectedVersion.ANY)


async def throughput(
    rig: Rig, folder: Path, total: int, slices: int, options: Options
) -> tuple[float, float, str]:
    """Seconds of the raw client and of ``relay.catch_up()`` for ``total`` events, checked at
    the broker; and the relay's profile (``--profile``).

    After a warm-up of both (a tenth as many events, at most 500), the events are stored in
    ``slices`` slices (untimed); after each the raw client publishes the slice's messages and
    the relay catches up with it, the two taking turns to go first, so that a change of load
    on the machine during the run touches both alike."""
    window = options.batch_size or 500
    warmup = open_store(folder / f"warmup-{rig.broker}.sqlite")
    store = open_store(folder / f"events-{rig.broker}.sqlite")
    try:
        await fill(warmup, max(1, min(500, total // 10)), STREAMS)
        warm = await warmup.recorded()
        await publish_raw(rig, [_raw_message(rig, e) for e in warm], window)
        await options.relay(warmup, rig, f"warmup_{rig.broker}").catch_up()

        relay = options.relay(store, rig, f"bench_{rig.broker}")
        seconds = {"raw": 0.0, "relay": 0.0}
        done = 0
        for index in range(slices):
            size = total // slices + (index < total % slices)
            await fill(store, size, STREAMS)
            page = await store.events.read_all(after=done)
            raw_messages = [_raw_message(rig, e) for e in page]
            for turn in ("raw", "relay") if index % 2 == 0 else ("relay", "raw"):
                with Stopwatch() as watch:
                    if turn == "raw":
                        await publish_raw(rig, raw_messages, window)
                    else:
                        status = await relay.catch_up()
                seconds[turn] += watch.seconds
            done += size
            if status.checkpoint != done or status.error or len(page) != size:
                raise RuntimeError(f"{rig.broker}: the relay stopped early: {status}")
        for key in ("raw", "relay"):
            got = await rig.count(key)
            if got != total + len(warm):
                raise RuntimeError(f"{rig.broker}: {got} messages at {key}, expected {total}")
        profile = await _profile(rig, store, options) if options.profile else ""
    finally:
        warmup.db.close()
        store.db.close()
    return seconds["raw"], seconds["relay"], profile


def _raw_message(rig: Rig, event: RecordedEvent) -> Message:
    return message_of(event, source=SOURCE, destination=rig.raw)


async def _profile(rig: Rig, store: Store, options: Options) -> str:
    """The cProfile (by own time) of one more relay catch-up of every event of ``store``."""
    profiled = options.relay(store, rig, f"profiled_{rig.broker}")
    profiler = cProfile.Profile()
    profiler.enable()
    await profiled.catch_up()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    return out.getvalue()


async def publish_raw(rig: Rig, messages: Sequence[Message], window: int) -> None:
    """Publish ``messages`` with the raw client, ``window`` per call (the relay's page)."""
    for start in range(0, len(messages), window):
        await rig.raw_publish(messages[start : start + window])


async def _no_count(destination: str) -> int:
    return 0


async def _no_raw(messages: Sequence[Message]) -> None:
    raise RuntimeError("no broker, no raw client")


_NULL_RIG = Rig("none", "null", "null", NullPublisher(), _no_raw, [], _no_count)


@dataclass(frozen=True, slots=True)
class Latency:
    """Milliseconds from the append to the subscriber, over the measured events."""

    p50: float
    p99: float
    worst: float
    events: int
    rate: float
    """The append rate achieved (events/s)."""


async def latency(rig: Rig, store: Store, options: Options, rate: float, seconds: float) -> Latency:
    """Append ``rate`` events/s for ``seconds`` (one event per append, over 100 carts) while a
    live relay publishes (both in this process) and a forze ``Consumer`` on ``rig``'s
    subscriber, in a process of its own (``_messaging_consumer.py``, as a deployment runs
    it), calls a handler for each message (acked once it returned); the latencies, append
    to handler."""
    total = max(2, round(rate * seconds))
    sent: dict[str, float] = {}
    limit = 2 * seconds + DRAIN_SECONDS + READY_SECONDS  # the child's own backstop
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CONSUMER_SCRIPT),
        rig.broker,
        str(total),
        str(limit),
        *rig.subscriber_args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        env=_child_environment(),
    )
    try:
        await _ready(child, rig.broker)
        async with options.relay(store, rig, f"live_{rig.broker}"):
            start = time.monotonic()
            for index in range(total):
                delay = start + index / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                event = new_event(index)
                # CLOCK_MONOTONIC: system-wide on Linux, so comparable with the consumer's.
                sent[str(event.event_id)] = time.monotonic()
                await store.events.append(f"cart-{index % 100:05d}", [event])
            achieved = total / (time.monotonic() - start)
            progress(
                f"  {rig.broker}: {total:,} appends at {achieved:,.0f}/s; waiting for the last"
            )
            received = await _received(child, rig.broker, total)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    measured = [
        (received[key] - sent[key]) * 1000
        for key in list(sent)[int(total * WARMUP_SHARE) :]
        if key in received
    ]
    cuts = statistics.quantiles(measured, n=100, method="inclusive")
    return Latency(cuts[49], cuts[98], max(measured), len(measured), achieved)


def _child_environment() -> dict[str, str]:
    """This environment, with ``PYTHONPATH`` reaching the repository's packages and the
    benchmarks' helpers."""
    root = BENCHMARKS.parent
    paths = [BENCHMARKS, root, root / "adapters", root / "eventstore", root / "projections"]
    entries = [str(path) for path in paths]
    if os.environ.get("PYTHONPATH"):
        entries.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(entries)}


async def _ready(child: asyncio.subprocess.Process, broker: str) -> None:
    """Wait for the consumer process to say it has subscribed."""
    assert child.stdout is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), READY_SECONDS)
    except TimeoutError:
        raise RuntimeError(
            f"{broker}: the consumer process did not subscribe within {READY_SECONDS:.0f} s"
        ) from None
    if line.strip() != b"ready":
        raise RuntimeError(
            f"{broker}: the consumer process failed to subscribe (it said {line!r}; its"
            " errors are above)"
        )


async def _received(child: asyncio.subprocess.Process, broker: str, total: int) -> dict[str, float]:
    """The consumer process's message id -> ``time.monotonic()`` of its handler, once it has
    had all ``total`` messages (within ``DRAIN_SECONDS``)."""
    assert child.stdout is not None
    stdout = child.stdout

    async def finish() -> tuple[bytes, int]:
        return await stdout.read(), await child.wait()

    try:
        output, code = await asyncio.wait_for(finish(), DRAIN_SECONDS)
    except TimeoutError:
        raise RuntimeError(
            f"{broker}: the consumer process did not have all {total:,} messages"
            f" {DRAIN_SECONDS:.0f} s after the last append; killed it"
        ) from None
    if code != 0:
        raise RuntimeError(
            f"{broker}: the consumer process exited with code {code} (its errors are above)"
        )
    received: dict[str, float] = json.loads(output)
    if len(received) < total:
        raise RuntimeError(f"{broker}: {total - len(received)} of {total} messages never arrived")
    return received
