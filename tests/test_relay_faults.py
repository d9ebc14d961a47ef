"""The relay under load while a real broker loses its connections: every event arrives,
each stream's first arrivals are in version order, duplicates are counted, nothing is lost.

Events are appended by a concurrent task (20 streams of 100 events) while the relay
publishes. The connections of the relay's publisher, and only those (found by their client
name, so tests running beside these are not disturbed), are killed on the server again and
again: ``CLIENT KILL ID`` on Redis, ``rabbitmqctl close_connection`` on RabbitMQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from uuid import uuid4

from forze.contracts import EventStore, Message, NewEvent, Publisher, RecordedEvent
from forze.messaging.envelope import from_headers
from forze_eventstore import InMemoryEventStore, SQLiteDatabase, SQLiteEventStore
from forze_projections import InMemoryProjectionBackend, Relay, SQLiteProjectionBackend
from forze_projections.testing.relay_support import Arrivals
from forze_rabbitmq import RabbitPublisher
from forze_redis import DATA_FIELD, HEADER_PREFIX, RedisStreamPublisher, connect
from tests.redis_support import REDIS_URL, delete_prefixed, new_prefix
from tests.test_rabbitmq_broker import URL, _close_connections_named, subscription
from tests.test_redis_broker import entries

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
PATIENCE = 60.0
"""Seconds a process may take to start, take over or catch up (a loaded CI machine)."""
STREAMS, PER_STREAM = 20, 100
TOTAL = STREAMS * PER_STREAM
DATA = DATA_FIELD.encode()
KILLS = 3
"""The fewest times the publisher's connections must have been killed in a run."""


@dataclass
class Kills:
    """How many times the connections were killed so far, for the load to keep pace with."""

    count: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, killed: int) -> None:
        """``killed`` more connections were killed."""
        self.count += killed
        self.changed.set()

    async def reach(self, due: int) -> None:
        """Until ``due`` kills happened (or ``PATIENCE`` ran out)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PATIENCE):
                while self.count < due:
                    self.changed.clear()
                    await self.changed.wait()


async def append_load(events: EventStore, pause: float, kills: Kills | None = None) -> None:
    """``PER_STREAM`` rounds of one event per stream, ``pause`` seconds between rounds; with
    ``kills``, the load waits for the kills to keep pace with it, so that at least ``KILLS``
    happen while it runs however fast or slow the machine is."""
    for version in range(1, PER_STREAM + 1):
        for stream in range(STREAMS):
            await events.append(f"order-{stream}", [NewEvent("Placed", {"n": version})])
        await asyncio.sleep(pause)
        if kills is not None:
            await kills.reach(version * KILLS // PER_STREAM)


async def run_under_kills(
    publisher: Publisher, destination: str, kill: Callable[[], Awaitable[int]], pause: float
) -> tuple[InMemoryEventStore, int]:
    """Relay the load (``pause`` between rounds) to ``destination`` while ``kill()`` closes
    the publisher's connections, again each time the checkpoint moved, until the load is
    appended; the store and how many connections were killed."""
    events, backend = InMemoryEventStore(poll_interval=0.02), InMemoryProjectionBackend()
    relay = Relay(
        events,
        backend,
        publisher,
        name="faults",
        source="forze://faults",
        route=destination,
        lanes=8,
        batch_size=100,
        lease_seconds=2.0,
    )
    kills = Kills()
    async with relay:
        load = asyncio.create_task(append_load(events, pause, kills))
        while not load.done():
            mark = (await relay.status()).checkpoint
            await relay.wait_until(min(mark + 1, TOTAL), timeout=30)
            kills.add(await kill())
        await load
        await relay.wait_until(TOTAL, timeout=60)
        status = await relay.status()
    assert (status.checkpoint, status.refused, status.error) == (TOTAL, 0, None)
    return events, kills.count


def check_arrivals(messages: Sequence[Message], log: Sequence[RecordedEvent], run: str) -> None:
    """Every event of ``log`` arrived; each stream's first arrivals are in version order
    (``run`` names the run in the line printed)."""
    assert len(log) == TOTAL
    assert {m.id for m in messages} == {str(e.event_id) for e in log}
    first: dict[str, list[int]] = {}
    seen: set[str] = set()
    for message in messages:
        if message.id not in seen:
            seen.add(message.id)
            first.setdefault(message.subject, []).append(int(message.extensions["streamversion"]))
    for stream, versions in first.items():
        assert versions == list(range(1, PER_STREAM + 1)), stream
    duplicates = len(messages) - TOTAL
    print(f"{run}: {TOTAL} events, {duplicates} duplicates")


async def test_a_relay_to_redis_whose_connections_are_killed_loses_nothing_and_keeps_order() -> (
    None
):
    admin, prefix = connect(REDIS_URL), new_prefix()
    stream, name = f"{prefix}orders", f"relay-{uuid4().hex[:12]}"
    separator = "&" if "?" in REDIS_URL else "?"
    publisher = RedisStreamPublisher(connect(f"{REDIS_URL}{separator}client_name={name}"))

    async def kill() -> int:
        clients = await admin.client_list()
        mine = [client["id"] for client in clients if client.get("name") == name]
        for client in mine:
            await admin.client_kill_filter(_id=client)
        return len(mine)

    try:
        events, killed = await run_under_kills(publisher, stream, kill, pause=0.005)
        messages = [
            from_headers({k.decode(): v for k, v in fields.items()}, fields[DATA], HEADER_PREFIX)
            for _, fields in await entries(admin, stream)
        ]
        check_arrivals(messages, await events.read_all(), f"redis, {killed} connections killed")
        assert killed >= KILLS
    finally:
        await publisher.close()
        await delete_prefixed(admin, prefix)
        await admin.aclose()


async def test_a_relay_to_rabbitmq_whose_connections_are_closed_loses_nothing_and_keeps_order() -> (
    None
):
    async with subscription() as (settings, _, subscribe):
        name = f"relay-{uuid4().hex[:12]}"
        publisher = RabbitPublisher(replace(settings, url=f"{URL}?name={name}"))

        async def kill() -> int:
            return await asyncio.to_thread(_close_connections_named, name)

        try:
            events, killed = await run_under_kills(publisher, "orders.placed", kill, pause=0.04)
        finally:
            await publisher.close()
        arrivals = Arrivals(subscribe())
        started = time.monotonic()
        log = await events.read_all()
        await arrivals.until({str(e.event_id) for e in log}, seconds=60)
        await arrivals.drain(1.0)
        print(f"received in {time.monotonic() - started:.1f} s")
        check_arrivals(arrivals.messages, log, f"rabbitmq, {killed} connections closed")
        assert killed >= KILLS


async def test_a_relay_process_killed_mid_run_is_replaced_by_a_standby_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    db = SQLiteDatabase(tmp_path / "shared.sqlite", synchronous="NORMAL")
    events, backend = SQLiteEventStore(db), SQLiteProjectionBackend(db)
    admin, prefix = connect(REDIS_URL), new_prefix()
    stream = f"{prefix}orders"
    workers: list[asyncio.subprocess.Process] = []

    async def start(owner: str) -> asyncio.subprocess.Process:
        arguments = [str(tmp_path / "shared.sqlite"), REDIS_URL, stream, owner]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.relay_worker",
            *arguments,
            stdout=asyncio.subprocess.PIPE,
            env=ENVIRONMENT,
            cwd=ROOT,
        )
        workers.append(process)
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), PATIENCE) == b"ready\n"
        return process

    async def holder() -> str | None:
        lease = await backend.leases.read("relay:faults")
        return None if lease is None else lease.holder

    async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
        deadline = time.monotonic() + PATIENCE
        while not await check():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.05)

    try:
        await events.head_position()  # the store exists before the workers open it
        first = await start("relay-a")

        async def first_holds() -> bool:
            return await holder() == "relay-a"

        await until(first_holds, "the first process holds the relay")
        await start("relay-b")
        load = asyncio.create_task(append_load(events, 0.01))

        async def halfway() -> bool:
            return await backend.checkpoints.load("relay:faults") >= TOTAL // 2

        await until(halfway, "the first process published half the load")
        first.kill()  # SIGKILL: no release, no last checkpoint
        await first.wait()

        async def second_holds() -> bool:
            return await holder() == "relay-b"

        await until(second_holds, "the standby took over")
        await load

        async def done() -> bool:
            return await backend.checkpoints.load("relay:faults") >= TOTAL

        await until(done, "the standby published everything")
        messages = [
            from_headers({k.decode(): v for k, v in fields.items()}, fields[DATA], HEADER_PREFIX)
            for _, fields in await entries(admin, stream)
        ]
        check_arrivals(messages, await events.read_all(), "relay process killed")
    finally:
        for process in workers:
            if process.returncode is None:
                process.kill()
                await process.wait()
        await delete_prefixed(admin, prefix)
        await admin.aclose()
        db.close()
