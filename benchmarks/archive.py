"""Export, import and archive throughput: ``forze export`` / ``import`` / ``archive`` and
reads of archived streams, against bare store calls.

Run ``.venv/bin/python benchmarks/archive.py [--events N] [--storage dir|s3] [--json]``.

Setup (not timed): a temporary SQLite file holding ``--events`` events of the bank example,
stored as ``benchmarks/projections.py`` stores them.

Scenario ``export`` (events per second):

* ``bare calls`` (the baseline): ``read_all`` pages of 5,000 events, nothing written.
* ``export_events``: the same pages written as gzip JSON-lines chunks of 50,000 events with
  their SHA-256 and the manifest, to a local directory (``--storage dir``) or to S3 on the
  moto server ``make test`` starts (``--storage s3``).

Scenario ``import`` (events per second), into a new SQLite file each:

* ``bare calls`` (the baseline): the events, already in memory, appended in batches of 1,000
  with ``append_many`` (each stream's part expecting its version), as the import does.
* ``import_events``: the export read back, each chunk's checksum checked, decompressed,
  parsed and appended the same way. The run fails unless the copy holds the same events.

Scenario ``archive`` (events per second), on the source once exported:

* ``bare calls`` (the baseline): each stream's events but its last read with ``read_stream``,
  nothing written, as the archiver reads them.
* ``archive_cold_streams``: every stream (all cold by age) archived: read, encoded, written,
  read back and checked, then deleted from the store with a segment row left.

Scenario ``load`` (events per second): every stream read whole.

* ``bare calls`` (the baseline): ``read_stream`` on the imported copy, never archived.
* ``ArchivedReads``: ``read_stream`` on the archived source, every segment fetched from the
  storage, checked and decoded (a cold cache). The run fails unless both read the same.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from forze.contracts import NewEvent, ObjectStorage, RecordedEvent, StreamAppend
from forze_eventstore import (
    ArchivedReads,
    ArchivePolicy,
    DirectoryObjectStorage,
    SQLiteDatabase,
    SQLiteEventStore,
    archive_cold_streams,
    export_events,
    import_events,
)

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Results, Stopwatch, base_parser, progress
    from benchmarks.projections import append_events, plan_events
else:
    from _harness import Results, Stopwatch, base_parser, progress

    from projections import append_events, plan_events

DEFAULT_EVENTS = 100_000
PAGE = 5_000
BATCH = 1_000


async def _fill(path: Path, total: int) -> None:
    db = SQLiteDatabase(path, synchronous="NORMAL")
    try:
        ids, histories = plan_events(total)
        await append_events(db, SQLiteEventStore(db), ids, histories)
    finally:
        db.close()


async def _read_all(store: SQLiteEventStore) -> list[RecordedEvent]:
    events: list[RecordedEvent] = []
    while True:
        page = await store.read_all(after=events[-1].position if events else 0, limit=PAGE)
        events += page
        if len(page) < PAGE:
            return events


async def _append_all(store: SQLiteEventStore, events: list[RecordedEvent]) -> None:
    for start in range(0, len(events), BATCH):
        parts: list[tuple[str, list[NewEvent], int]] = []
        for event in events[start : start + BATCH]:
            new = NewEvent(event.event_type, event.data, event.metadata, event.event_id)
            if parts and parts[-1][0] == event.stream_id:
                parts[-1][1].append(new)
            else:
                parts.append((event.stream_id, [new], event.version - 1))
        await store.append_many([StreamAppend(*part) for part in parts])


@asynccontextmanager
async def _storage(kind: str, folder: Path) -> AsyncIterator[ObjectStorage]:
    if kind == "dir":
        yield DirectoryObjectStorage(folder / "export")
        return
    from forze_s3 import S3ObjectStorage, S3Settings

    endpoint = os.environ.get("FORZE_TEST_S3_ENDPOINT", "http://127.0.0.1:5055")
    settings = S3Settings(
        bucket=f"forze-bench-{os.getpid()}",
        endpoint_url=endpoint,
        access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),  # moto takes any
        secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    )
    storage = S3ObjectStorage(settings)
    try:
        await storage.ensure_bucket()
        yield storage
    finally:
        for key in await storage.list():
            await storage.delete(key)
        await storage.close()


async def run(folder: Path, total: int, kind: str, results: Results) -> None:
    source_path = folder / "source.sqlite"
    progress(f"storing {total:,} events of the bank example ...")
    await _fill(source_path, total)
    async with SQLiteEventStore(source_path, synchronous="NORMAL") as source:
        await _read_all(source)  # warm the page cache for both timed reads
        with Stopwatch() as watch:
            events = await _read_all(source)
        results.add("export", "bare calls", len(events), watch.seconds)
        async with _storage(kind, folder) as storage:
            with Stopwatch() as watch:
                manifest = await export_events(source, storage, "bench")
            results.add("export", "export_events", manifest.events, watch.seconds)
            async with SQLiteEventStore(folder / "bare.sqlite", synchronous="NORMAL") as bare:
                with Stopwatch() as watch:
                    await _append_all(bare, events)
                results.add("import", "bare calls", len(events), watch.seconds)
            async with SQLiteEventStore(folder / "copy.sqlite", synchronous="NORMAL") as copy:
                with Stopwatch() as watch:
                    report = await import_events(storage, "bench", copy)
                results.add("import", "import_events", report.imported, watch.seconds)
                copied = await _read_all(copy)
                if [e.event_id for e in copied] != [e.event_id for e in events]:
                    raise RuntimeError("the imported copy differs from the source")
                await _archive_and_load(source, copy, storage, results)


async def _archive_and_load(
    source: SQLiteEventStore, copy: SQLiteEventStore, storage: ObjectStorage, results: Results
) -> None:
    streams = await source.list_streams()
    with Stopwatch() as watch:
        read = 0
        for stream_id, version in streams:
            read += len(await source.read_stream(stream_id, limit=version - 1))
    results.add("archive", "bare calls", read, watch.seconds)
    policy = ArchivePolicy(older_than=timedelta(days=1))
    later = datetime.now(UTC) + timedelta(days=2)
    with Stopwatch() as watch:
        report = await archive_cold_streams(source, storage, policy, prefix="cold", now=later)
    results.add("archive", "archive_cold_streams", report.events, watch.seconds)
    with Stopwatch() as watch:
        bare = [await copy.read_stream(stream_id) for stream_id, _ in streams]
    results.add("load", "bare calls", sum(map(len, bare)), watch.seconds)
    reads = ArchivedReads(source, storage)
    with Stopwatch() as watch:
        whole = [await reads.read_stream(stream_id) for stream_id, _ in streams]
    results.add("load", "ArchivedReads", sum(map(len, whole)), watch.seconds)
    if [[e.event_id for e in s] for s in whole] != [[e.event_id for e in s] for s in bare]:
        raise RuntimeError("the archived streams read back differ from the copy")


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(
        "forze export/import/archive against bare store calls", default_events=DEFAULT_EVENTS
    )
    parser.add_argument("--storage", choices=("dir", "s3"), default="dir", help="where to export")
    arguments = parser.parse_args(argv)
    results = Results()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(Path(folder), arguments.events, arguments.storage, results))
    results.note(f"SQLite (synchronous=NORMAL) on both sides; export to {arguments.storage}")
    results.print("bare calls", as_json=arguments.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
