"""What a thread hand-off costs a ``synchronous=FULL`` SQLite commit on this machine.

Keeping a commit's sync off the event loop means running the ``COMMIT`` on another thread and
awaiting it: one wake-up of that thread and one of the loop per commit. ``handoff_floor``
measures that cost with no forze code at all: a one-row ``BEGIN IMMEDIATE`` / ``INSERT`` /
``COMMIT`` run on the loop's thread, against the same transaction handed to a dedicated thread
through the lightest hand-off asyncio has (a ``SimpleQueue`` one way,
``call_soon_threadsafe`` back). A task that appends alone cannot do better than the ratio of
the two, whatever the store around them does; on a machine whose idle CPUs wake slowly (a VM
without guest halt polling) that ratio is far from 1.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HandoffFloor", "handoff_floor"]

ROUNDS = 3
"""Rounds of each way, alternated, so a drift of the machine's speed hits both alike."""


@dataclass(frozen=True)
class HandoffFloor:
    """Microseconds per one-row ``FULL`` commit, on the loop's thread and on a thread."""

    on_loop_us: float
    on_thread_us: float

    @property
    def ratio(self) -> float:
        """Commits per second on a thread, as a fraction of those on the loop's thread."""
        return self.on_loop_us / self.on_thread_us

    def shown(self) -> str:
        """One line for the benchmark's notes."""
        return (
            f"a one-row synchronous=FULL commit with no forze code takes {self.on_loop_us:.0f} µs"
            f" on the loop's thread and {self.on_thread_us:.0f} µs handed to a thread and"
            f" awaited ({self.ratio:.2f}x): the most a task appending alone can keep of the"
            " blocking design's speed once the sync leaves the loop (medians of"
            f" {ROUNDS} alternated rounds)"
        )


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    return connection


def _commit(connection: sqlite3.Connection) -> None:
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("INSERT INTO rows (body) VALUES (?)", ("x" * 200,))
    connection.execute("COMMIT")


def _on_loop(connection: sqlite3.Connection, commits: int) -> float:
    started = time.perf_counter()
    for _ in range(commits):
        _commit(connection)
    return (time.perf_counter() - started) / commits


async def _on_thread(connection: sqlite3.Connection, commits: int) -> float:
    loop = asyncio.get_running_loop()
    jobs: queue.SimpleQueue[asyncio.Future[None] | None] = queue.SimpleQueue()

    def serve() -> None:
        while (done := jobs.get()) is not None:
            _commit(connection)
            loop.call_soon_threadsafe(done.set_result, None)

    thread = threading.Thread(target=serve, name="handoff-floor", daemon=True)
    thread.start()
    try:
        started = time.perf_counter()
        for _ in range(commits):
            done = loop.create_future()
            jobs.put(done)
            await done
        return (time.perf_counter() - started) / commits
    finally:
        jobs.put(None)
        thread.join()


async def handoff_floor(folder: Path, commits: int) -> HandoffFloor:
    """Measure ``commits`` commits each way, ``ROUNDS`` times, in files under ``folder``."""
    on_loop: list[float] = []
    on_thread: list[float] = []
    for round_ in range(ROUNDS):
        for way, times in (("loop", on_loop), ("thread", on_thread)):
            connection = _connect(folder / f"handoff-{way}-{round_}.sqlite")
            try:
                if way == "loop":
                    times.append(_on_loop(connection, commits))
                else:
                    times.append(await _on_thread(connection, commits))
            finally:
                connection.close()
    return HandoffFloor(1e6 * statistics.median(on_loop), 1e6 * statistics.median(on_thread))
