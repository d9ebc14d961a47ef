"""Archive contract: cold streams move to object storage and still read whole."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from forze.contracts import CutPage, ObjectStorage, RecordedEvent
from forze.domain.errors import ConcurrencyError, InvalidInputError, StreamArchived
from forze_eventstore._archive_kit import ArchivedSegment, StreamArchives
from forze_eventstore.archiving import (
    ArchiveCorrupted,
    ArchivedReads,
    ArchivePolicy,
    archive_cold_streams,
)
from forze_eventstore.local_storage import DirectoryObjectStorage
from forze_eventstore.testing.base import StoreFactory
from forze_eventstore.testing.helpers import new_event, new_events

__all__ = ["ArchiveContract"]

CLOSED = ArchivePolicy(closed_by=frozenset({"Closed"}))


async def _closed_stream(store: StreamArchives, stream_id: str, events: int) -> None:
    """``events`` events, the last one closing the stream."""
    await store.append(stream_id, [*new_events(events - 1), new_event("Closed")])


def _same(events: object) -> list[tuple[object, ...]]:
    return [
        (e.event_id, e.event_type, e.data, e.metadata, e.stream_id, e.version, e.position)
        for e in cast(list[RecordedEvent], events)
    ]


class ArchiveContract(StoreFactory):
    """Subclass with ``open_store`` giving a fresh store that implements
    ``forze_eventstore.adapter_kit.StreamArchives``; ``open_storage`` may be overridden (a
    local folder by default)."""

    @pytest.fixture
    async def storage(self) -> AsyncIterator[ObjectStorage]:
        """The object storage the archive goes to."""
        with tempfile.TemporaryDirectory() as root:
            yield DirectoryObjectStorage(Path(root))

    @pytest.fixture
    def archives(self, store: object) -> StreamArchives:
        """The store, as the archiving port."""
        return cast(StreamArchives, store)

    async def test_a_closed_stream_keeps_only_its_last_event_and_reads_whole_through_the_archive(
        self, archives: StreamArchives, storage: ObjectStorage
    ) -> None:
        await _closed_stream(archives, "account-1", 5)
        await archives.append("account-2", new_events(3))  # open: stays
        before = await archives.read_stream("account-1")
        report = await archive_cold_streams(archives, storage, CLOSED)
        assert (report.streams, report.events, report.segments) == (1, 4, 1)
        assert _same(await archives.read_stream("account-1", from_version=5)) == _same(before[4:])
        with pytest.raises(StreamArchived) as refused:
            await archives.read_stream("account-1")
        assert (refused.value.stream_id, refused.value.version) == ("account-1", 1)
        reads = ArchivedReads(archives, storage)
        assert _same(await reads.read_stream("account-1")) == _same(before)
        assert [e.recorded_at for e in await reads.read_stream("account-1")] == [
            e.recorded_at for e in before
        ]
        assert await archives.stream_version("account-1") == 5
        assert len(await archives.read_stream("account-2")) == 3

    async def test_every_window_of_an_archived_stream_reads_as_it_did_before(
        self, archives: StreamArchives, storage: ObjectStorage
    ) -> None:
        await _closed_stream(archives, "account-1", 7)
        windows = [
            {"from_version": f, "limit": n, "backwards": b}
            for f in (None, 1, 3, 6, 7, 9)
            for n in (None, 1, 2, 5)
            for b in (False, True)
        ]
        before = [await archives.read_stream("account-1", **w) for w in windows]  # type: ignore[arg-type]
        await archive_cold_streams(archives, storage, CLOSED)
        reads = ArchivedReads(archives, storage)
        after = [await reads.read_stream("account-1", **w) for w in windows]  # type: ignore[arg-type]
        for window, old, new in zip(windows, before, after, strict=True):
            assert _same(new) == _same(old), window

    async def test_the_store_read_directly_refuses_every_read_that_reaches_archived_versions(
        self, archives: StreamArchives, storage: ObjectStorage
    ) -> None:
        await _closed_stream(archives, "account-1", 6)
        await archive_cold_streams(archives, storage, CLOSED)
        for window in (
            {"from_version": 3},
            {"backwards": True},
            {"backwards": True, "from_version": 4},
            {"backwards": True, "limit": 2},
        ):
            with pytest.raises(StreamArchived):
                await archives.read_stream("account-1", **window)
        latest = await archives.read_stream("account-1", backwards=True, limit=1)
        assert [e.version for e in latest] == [6]

    async def test_a_byte_budget_cuts_an_archived_read_after_the_event_that_reaches_it(
        self, archives: StreamArchives, storage: ObjectStorage
    ) -> None:
        """Archived events are measured as compact JSON (a store may count its own text
        form, a few characters apart): the page is the stream's first events, up to the
        one that brings it to the budget."""
        await _closed_stream(archives, "account-1", 6)
        whole = await archives.read_stream("account-1")
        await archive_cold_streams(archives, storage, CLOSED)
        reads = ArchivedReads(archives, storage)
        for budget in (1, 30, 60, 10_000):
            page = await reads.read_stream("account-1", max_bytes=budget)
            assert page, "a page always holds one event"
            assert _same(page) == _same(whole[: len(page)])
            sizes = [len(json.dumps(e.data, separators=(",", ":"))) + 2 for e in page]
            assert sum(sizes[:-1]) < budget, "it stops at the event that reaches the budget"
            if len(page) < len(whole):
                assert isinstance(page, CutPage)
                assert sum(sizes) >= budget
        backwards = await reads.read_stream("account-1", backwards=True, max_bytes=30)
        assert _same(backwards) == _same(whole[::-1][: len(backwards)])

    async def test_appends_after_archiving_go_on_from_the_streams_version(
        self, archives: StreamArchives, storage: ObjectStorage
    ) -> None:
        await _closed_stream(archives, "account-1", 4)
        await archive_cold_streams(archives, storage, CLOSED)
        with pytest.raises(ConcurrencyError):
            await archives.append("account-1", new_events(1), 2)
        result = await archives.append("account-1", new_events(2), 4)
        assert result.version == 6
        whole = await ArchivedReads(archives, storage).read_stream("account-1")
        assert [e.version for e in whole] == [1, 2, 3, 4, 5, 6]

    async def test_archiving_again_moves_only_what_came_since_as_a_second_segment(
        self, archives: StreamArchives, storage: ObjectStorage
    ) -> None:
        await _closed_stream(archives, "account-1", 4)
        await archive_cold_streams(archives, storage, CLOSED)
        await archives.append("account-1", [*new_events(2), new_event("Closed")])
        before_second = await ArchivedReads(archives, storage).read_stream("account-1")
        again = await archive_cold_streams(archives, storage, CLOSED)
        assert (again.streams, again.events) == (1, 3)
        segments = await archives.archived_segments("account-1")
        assert [(s.first_version, s.last_version) for s in segments] == [(1, 3), (4, 6)]
        assert _same(await ArchivedReads(archives, storage).read_stream("account-1")) == _same(
            before_second
        )
        nothing = await archive_cold_streams(archives, storage, CLOSED)
        assert (nothing.streams, nothing.events) == (0, 0)

    async def test_the_feed_holds_what_remains_in_the_store_in_order(
        self, archives: StreamArchives, storage: ObjectStorage
    ) -> None:
        await _closed_stream(archives, "account-1", 3)
        await archives.append("account-2", new_events(2))
        before = await archives.read_all()
        await archive_cold_streams(archives, storage, CLOSED)
        remaining = [e for e in before if not (e.stream_id == "account-1" and e.version < 3)]
        assert _same(await archives.read_all()) == _same(remaining)
        assert await archives.count_events() == len(remaining)
        assert await archives.head_position() == before[-1].position

    async def test_a_stream_that_is_not_cold_or_has_one_event_stays_whole(
        self, archives: StreamArchives, storage: ObjectStorage
    ) -> None:
        await archives.append("account-1", new_events(3))
        await archives.append("account-2", [new_event("Closed")])
        report = await archive_cold_streams(archives, storage, CLOSED)
        assert report.streams == 0
        assert len(await archives.read_stream("account-1")) == 3
        assert await archives.archived_segments("account-1") == []

    async def test_a_policy_by_age_archives_only_streams_quiet_for_long_enough(
        self, archives: StreamArchives, storage: ObjectStorage
    ) -> None:
        await archives.append("account-1", new_events(3))
        quiet = ArchivePolicy(older_than=timedelta(days=30))
        soon = await archive_cold_streams(archives, storage, quiet)
        assert soon.streams == 0
        later = datetime.now(UTC) + timedelta(days=31)
        report = await archive_cold_streams(archives, storage, quiet, now=later)
        assert (report.streams, report.events) == (1, 2)
        both = ArchivePolicy(closed_by=frozenset({"Closed"}), older_than=timedelta(days=30))
        await _closed_stream(archives, "account-2", 3)
        assert (await archive_cold_streams(archives, storage, both)).streams == 0

    async def test_a_dry_run_tells_what_it_would_move_and_moves_nothing(
        self, archives: StreamArchives, storage: ObjectStorage
    ) -> None:
        await _closed_stream(archives, "account-1", 5)
        report = await archive_cold_streams(archives, storage, CLOSED, dry_run=True)
        assert (report.streams, report.events, report.segments) == (1, 4, 0)
        assert len(await archives.read_stream("account-1")) == 5
        assert await storage.list() == []

    async def test_two_archivers_at_once_neither_lose_nor_repeat_an_event(
        self, archives: StreamArchives, storage: ObjectStorage
    ) -> None:
        for n in range(8):
            await _closed_stream(archives, f"account-{n}", 4)
        before = {f"account-{n}": await archives.read_stream(f"account-{n}") for n in range(8)}
        first, second = await asyncio.gather(
            archive_cold_streams(archives, storage, CLOSED),
            archive_cold_streams(archives, storage, CLOSED),
        )
        assert first.events + second.events == 8 * 3
        reads = ArchivedReads(archives, storage)
        for stream_id, events in before.items():
            assert _same(await reads.read_stream(stream_id)) == _same(events)
            segments = await archives.archived_segments(stream_id)
            assert [(s.first_version, s.last_version) for s in segments] == [(1, 3)]

    async def test_a_segment_that_does_not_follow_the_last_one_is_refused_and_changes_nothing(
        self, archives: StreamArchives, storage: ObjectStorage
    ) -> None:
        await _closed_stream(archives, "account-1", 6)
        events = await archives.read_stream("account-1")
        with pytest.raises(ConcurrencyError):
            await archives.archive_segment(_segment(events[2:4]))  # versions 3-4: 1-2 stay
        with pytest.raises(ConcurrencyError):
            await archives.archive_segment(_segment(events[0:3], stream_id="account-9"))
        with pytest.raises(InvalidInputError):
            await archives.archive_segment(_segment(events))  # the last event stays
        with pytest.raises(InvalidInputError):
            await archives.archive_segment(_segment(events[0:2], sha256="not a checksum"))
        assert _same(await archives.read_stream("account-1")) == _same(events)
        assert await archives.archived_segments("account-1") == []
        await archives.archive_segment(_segment(events[0:2]))
        with pytest.raises(ConcurrencyError):
            await archives.archive_segment(_segment(events[0:2]))  # already archived
        assert [s.last_version for s in await archives.archived_segments("account-1")] == [2]

    async def test_a_missing_or_damaged_segment_object_is_an_error_not_a_shorter_stream(
        self, archives: StreamArchives, storage: ObjectStorage
    ) -> None:
        await _closed_stream(archives, "account-1", 4)
        await archive_cold_streams(archives, storage, CLOSED)
        (segment,) = await archives.archived_segments("account-1")
        await storage.put(segment.key, b"not the archived events")
        with pytest.raises(ArchiveCorrupted, match="SHA-256"):
            await ArchivedReads(archives, storage).read_stream("account-1")
        await storage.delete(segment.key)
        with pytest.raises(ArchiveCorrupted, match="missing"):
            await ArchivedReads(archives, storage).read_stream("account-1")


def _segment(
    events: list[RecordedEvent] | object, *, stream_id: str | None = None, sha256: str = ""
) -> ArchivedSegment:
    """A segment record for ``events`` (its object is not written: the store never reads
    it)."""
    page = cast(list[RecordedEvent], events)
    return ArchivedSegment(
        stream_id or page[0].stream_id,
        page[0].version,
        page[-1].version,
        page[0].position,
        page[-1].position,
        f"test/{page[0].version}",
        sha256 or hashlib.sha256(b"x").hexdigest(),
        1,
        datetime.now(UTC),
    )
