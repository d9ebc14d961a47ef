"""Two processes append to one SQLite file at once, through group commits and inline writes,
and one of them is killed mid-run: the file keeps a gap-free feed, every stream's versions
run on without a hole, and every append a process was told had committed is there.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from forze.contracts import RecordedEvent
from forze_eventstore import SQLiteEventStore

PATIENCE = 60.0

_WORKER = """
import asyncio, sys
from forze.contracts import NewEvent
from forze.contracts import RecordedEvent
from forze_eventstore import SQLiteEventStore

path, name, mode = sys.argv[1], sys.argv[2], sys.argv[3]

async def writer(store, stream):
    for version in range(40):
        await store.append(stream, [NewEvent("Added", {"n": version})], version)
        print(stream, version + 1, flush=True)

async def main():
    async with SQLiteEventStore(path, synchronous=mode) as store:
        await asyncio.gather(*(writer(store, f"{name}-{task}") for task in range(8)))

asyncio.run(main())
"""


async def _start(path: Path, name: str, mode: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WORKER, str(path), name, mode, stdout=asyncio.subprocess.PIPE
    )


async def _acks(process: asyncio.subprocess.Process, acked: dict[str, int], until: int) -> None:
    """Record each committed append ``process`` reports, until ``until`` of them (or its end)."""
    assert process.stdout is not None
    count = 0
    while count < until and (line := await process.stdout.readline()):
        stream, version = line.decode().split()
        acked[stream] = max(acked.get(stream, 0), int(version))
        count += 1


@pytest.mark.parametrize("mode", ["FULL", "NORMAL"])
async def test_two_processes_appending_one_killed_mid_run_leave_a_whole_feed(
    tmp_path: Path, mode: str
) -> None:
    path = tmp_path / "events.sqlite"
    SQLiteEventStore(path).close()  # the schema exists before both start
    acked: dict[str, int] = {}
    killed, survivor = await _start(path, "killed", mode), await _start(path, "survivor", mode)
    await asyncio.wait_for(_acks(killed, acked, 60), PATIENCE)
    os.kill(killed.pid, signal.SIGKILL)
    await asyncio.wait_for(killed.wait(), PATIENCE)
    await asyncio.wait_for(_acks(survivor, acked, 10**9), PATIENCE)
    assert await asyncio.wait_for(survivor.wait(), PATIENCE) == 0

    async with SQLiteEventStore(path) as store:
        feed: list[RecordedEvent] = []
        while page := await store.read_all(after=feed[-1].position if feed else 0):
            feed += page
        assert [e.position for e in feed] == list(range(1, len(feed) + 1))
        versions: dict[str, list[int]] = {}
        for event in feed:
            versions.setdefault(event.stream_id, []).append(event.version)
        for stream, seen in versions.items():
            assert seen == list(range(1, len(seen) + 1)), stream
        for stream, version in acked.items():
            assert len(versions.get(stream, [])) >= version, stream  # nothing acked was lost
        assert all(len(versions[f"survivor-{task}"]) == 40 for task in range(8))
        assert sum(len(v) for k, v in versions.items() if k.startswith("killed")) < 320
