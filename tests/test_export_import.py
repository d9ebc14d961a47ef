"""Exporting the event log to object storage and importing it elsewhere: the same streams,
versions, ids and order; checksums checked; interrupted runs resumed."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forze import NewEvent
from forze.contracts import EventStore, ObjectStorage, RecordedEvent
from forze.domain.errors import InvalidInputError
from forze.testing.contracts import ObjectStorageContract
from forze_eventstore import (
    DirectoryObjectStorage,
    ExportCorrupted,
    InMemoryEventStore,
    SQLiteEventStore,
    export_events,
    import_events,
    read_manifest,
)
from forze_mock import InMemoryObjectStorage


class TestDirectoryObjectStorage(ObjectStorageContract):
    """The object-storage contract on a local directory."""

    @pytest.fixture(autouse=True)
    def _root(self, tmp_path: Path) -> None:
        self.root = tmp_path / "objects"

    def make_storage(self) -> ObjectStorage:
        return DirectoryObjectStorage(self.root)


@pytest.mark.parametrize(
    "key",
    [
        "../escape",
        "a/../../b",
        "/absolute",
        "a//b",
        "a/./b",
        "nul\x00",
        "tab\tkey",
        "back\\slash",
        "",
        "x" * 251,
        "é" * 513,
    ],
)
async def test_a_directory_refuses_keys_that_could_leave_it_or_cannot_be_files(
    key: str, tmp_path: Path
) -> None:
    storage = DirectoryObjectStorage(tmp_path / "root")
    with pytest.raises(InvalidInputError):
        await storage.put(key, b"x")
    assert not (tmp_path / "escape").exists()
    assert await storage.list() == []
    assert not (tmp_path / "root").exists()


async def _fill(store: EventStore, seed: int, streams: int = 7, appends: int = 40) -> None:
    rng = random.Random(seed)
    versions = dict.fromkeys(range(streams), 0)
    for _ in range(appends):
        n = rng.randrange(streams)
        category = "order" if n % 2 else "invoice"
        batch = [
            NewEvent(
                f"Happened{rng.randrange(3)}",
                {"n": rng.randrange(10**6), "text": 'é€\n"', "big": 2**70},
                {"correlation_id": f"c-{seed}-{n}", "schema_version": 1},
            )
            for _ in range(rng.randint(1, 4))
        ]
        await store.append(f"{category}-{n}", batch, versions[n])
        versions[n] += len(batch)


def _shape(events: list[RecordedEvent]) -> list[tuple[Any, ...]]:
    """What an import reproduces: all but the positions and recorded times."""
    return [(e.stream_id, e.version, e.event_id, e.event_type, e.data, e.metadata) for e in events]


async def _all(store: EventStore) -> list[RecordedEvent]:
    return list(await store.read_all())


async def test_an_import_into_an_empty_store_reproduces_streams_versions_ids_and_order(
    tmp_path: Path,
) -> None:
    source = InMemoryEventStore()
    await _fill(source, seed=1)
    storage = DirectoryObjectStorage(tmp_path / "export")
    manifest = await export_events(source, storage, "", chunk_events=17)
    assert manifest.complete
    assert manifest.events == len(await _all(source))
    assert len(manifest.chunks) == -(-manifest.events // 17)
    async with SQLiteEventStore(tmp_path / "target.sqlite") as target:
        report = await import_events(storage, "", target, batch_events=5)
        assert (report.imported, report.skipped) == (manifest.events, 0)
        assert _shape(await _all(target)) == _shape(await _all(source))
        for stream_id in {e.stream_id for e in await _all(source)}:
            assert await target.stream_version(stream_id) == await source.stream_version(stream_id)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    chunk=st.integers(1, 40),
    batch=st.integers(1, 30),
    cut=st.integers(0, 60),
)
async def test_any_chunking_and_batching_round_trips_a_position_range(
    seed: int, chunk: int, batch: int, cut: int
) -> None:
    source = InMemoryEventStore()
    await _fill(source, seed=seed, appends=25)
    everything = await _all(source)
    after = min(cut, len(everything))
    storage = InMemoryObjectStorage()
    await export_events(source, storage, "p", after=after, chunk_events=chunk)
    target = InMemoryEventStore()
    chosen = [e for e in everything if e.position > after]
    prefix = {(e.stream_id, e.version) for e in everything if e.position <= after}
    if any((e.stream_id, e.version - 1) in prefix for e in chosen):
        with pytest.raises(InvalidInputError, match=r"other events of a stream|empty store"):
            await import_events(storage, "p", target, batch_events=batch)
        return  # a range that starts inside a stream needs its beginning in the target
    await import_events(storage, "p", target, batch_events=batch)
    assert _shape(await _all(target)) == _shape(chosen)


async def test_an_export_of_some_categories_holds_only_their_streams() -> None:
    source = InMemoryEventStore()
    await _fill(source, seed=3)
    storage = InMemoryObjectStorage()
    manifest = await export_events(source, storage, "orders", categories=["order"])
    target = InMemoryEventStore()
    await import_events(storage, "orders", target)
    imported = await _all(target)
    assert {e.stream_id.split("-")[0] for e in imported} == {"order"}
    assert _shape(imported) == _shape(
        [e for e in await _all(source) if e.stream_id.startswith("order-")]
    )
    assert manifest.categories == ("order",)


class _FailingPuts(InMemoryObjectStorage):
    """Object storage whose puts fail after ``allowed`` of them (a crash mid-export)."""

    def __init__(self, allowed: int) -> None:
        super().__init__()
        self.allowed = allowed

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        if self.allowed == 0:
            raise OSError("disk gone")
        self.allowed -= 1
        await super().put(key, data, content_type=content_type)


async def test_an_interrupted_export_run_again_finishes_with_the_same_chunks() -> None:
    source = InMemoryEventStore()
    await _fill(source, seed=5)
    whole = InMemoryObjectStorage()
    expected = await export_events(source, whole, "x", chunk_events=10)
    broken = _FailingPuts(allowed=5)  # 2 chunks and their manifests, then a chunk
    with pytest.raises(OSError, match="disk gone"):
        await export_events(source, broken, "x", chunk_events=10)
    partial = await read_manifest(broken, "x")
    assert partial is not None
    assert (partial.complete, len(partial.chunks)) == (False, 2)
    broken.allowed = 10**6
    await source.append("late-1", [NewEvent("After", {})])  # beyond the export's range
    finished = await export_events(source, broken, "x", chunk_events=10)
    assert finished.complete
    assert finished.up_to == expected.up_to
    assert [c.sha256 for c in finished.chunks] == [c.sha256 for c in expected.chunks]
    with pytest.raises(InvalidInputError, match="holds an export of other events"):
        await export_events(source, broken, "x", categories=["order"])


class _FailingAppends(InMemoryEventStore):
    """An event store whose ``append_many`` fails after ``allowed`` calls."""

    def __init__(self, allowed: int) -> None:
        super().__init__()
        self.allowed = allowed

    async def append_many(self, appends: Any) -> Any:
        if self.allowed == 0:
            raise OSError("connection lost")
        self.allowed -= 1
        return await super().append_many(appends)


async def test_an_interrupted_import_goes_on_and_stores_nothing_twice() -> None:
    source = InMemoryEventStore()
    await _fill(source, seed=9)
    storage = InMemoryObjectStorage()
    await export_events(source, storage, "", chunk_events=20)
    target = _FailingAppends(allowed=7)
    with pytest.raises(OSError, match="connection lost"):
        await import_events(storage, "", target, batch_events=6)
    target.allowed = 10**6
    report = await import_events(storage, "", target, batch_events=6)
    # 4 batches a chunk: the first chunk was whole, 3 of the second's 4 batches were stored
    assert report.skipped == 20
    assert report.imported == report.chunks * 20 - 20 - 6  # the last chunk holds 14
    assert _shape(await _all(target)) == _shape(await _all(source))


async def test_a_damaged_chunk_is_refused_before_any_of_its_events_is_appended(
    tmp_path: Path,
) -> None:
    source = InMemoryEventStore()
    await _fill(source, seed=11)
    storage = DirectoryObjectStorage(tmp_path)
    manifest = await export_events(source, storage, "", chunk_events=30)
    second = manifest.chunks[1].key
    lines = gzip.decompress(await storage.get(second)).decode().splitlines()
    record = json.loads(lines[0])
    record["data"]["n"] += 1  # one changed amount
    lines[0] = json.dumps(record)
    await storage.put(second, gzip.compress(("\n".join(lines) + "\n").encode()))
    target = InMemoryEventStore()
    with pytest.raises(ExportCorrupted, match="do not match the manifest"):
        await import_events(storage, "", target)
    assert len(await _all(target)) == manifest.chunks[0].events  # the first chunk only


async def test_an_import_that_meets_other_events_of_its_streams_is_refused() -> None:
    source = InMemoryEventStore()
    await _fill(source, seed=13)
    storage = InMemoryObjectStorage()
    await export_events(source, storage, "")
    first = (await _all(source))[0]
    target = InMemoryEventStore()
    await target.append(first.stream_id, [NewEvent("Other", {})])
    with pytest.raises(InvalidInputError, match="import into an empty store"):
        await import_events(storage, "", target)


async def test_an_incomplete_unreadable_or_missing_export_is_not_imported() -> None:
    storage = _FailingPuts(allowed=3)  # a chunk, its manifest, a chunk, then a crash
    source = InMemoryEventStore()
    await _fill(source, seed=2)
    with pytest.raises(OSError, match="disk gone"):
        await export_events(source, storage, "half", chunk_events=5)
    with pytest.raises(InvalidInputError, match="not complete"):
        await import_events(storage, "half", InMemoryEventStore())
    other = InMemoryObjectStorage()
    await other.put("odd/manifest.json", b"{}")  # not a manifest
    with pytest.raises(ExportCorrupted, match="not a forze events export"):
        await import_events(other, "odd", InMemoryEventStore())
    with pytest.raises(InvalidInputError, match="no export at"):
        await import_events(other, "nothing", InMemoryEventStore())
