"""Event stores seen through a view: every call passes to the store underneath, after a hook.

Subclass :class:`EventStoreView` to decorate any store without repeating the port: refuse
writes (:class:`ReadOnlyEventStore`), add latency, count calls, simulate an outage.
:class:`ReadModelView` is what usecases see of a read model: its reads.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection, Mapping, Sequence
from typing import Any, Generic, NoReturn, TypeVar

from pydantic import BaseModel

from forze.contracts import (
    AppendResult,
    EventStore,
    ExpectedVersion,
    ExpectedVersionArg,
    Filter,
    NewEvent,
    Page,
    Query,
    ReadModelStore,
    RecordedEvent,
)
from forze.domain.errors import ReadOnlyOperationError

__all__ = ["APPENDS", "EventStoreView", "ReadModelView", "ReadOnlyEventStore"]

APPENDS = frozenset({"append", "append_many"})
"""The operations of an ``EventStore`` that write (the others read)."""


class EventStoreView:
    """An ``EventStore`` that awaits :meth:`before` with the operation's name (``"append"``,
    ``"read_all"``, ...), then passes the call to ``store`` (kept out of reach of the view's
    users: a read-only view must not hand out the writable store).

    ``subscribe`` passes straight through: a subscription reads the store underneath.
    """

    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def before(self, operation: str) -> None:
        """Runs before each call except ``subscribe``; raise to refuse it. Does nothing here."""

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersionArg = ExpectedVersion.ANY,
    ) -> AppendResult:
        """See ``EventStore.append``."""
        await self.before("append")
        return await self._store.append(stream_id, events, expected_version)

    async def append_many(
        self, appends: Sequence[tuple[str, Sequence[NewEvent], ExpectedVersionArg]]
    ) -> list[AppendResult]:
        """See ``EventStore.append_many``."""
        await self.before("append_many")
        return await self._store.append_many(appends)

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
        max_bytes: int | None = None,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_stream``."""
        await self.before("read_stream")
        return await self._store.read_stream(
            stream_id,
            from_version=from_version,
            limit=limit,
            backwards=backwards,
            max_bytes=max_bytes,
        )

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
        max_bytes: int | None = None,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_all``."""
        await self.before("read_all")
        return await self._store.read_all(
            after=after,
            limit=limit,
            event_types=event_types,
            categories=categories,
            max_bytes=max_bytes,
        )

    def subscribe(
        self,
        *,
        after: int = 0,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
    ) -> AsyncGenerator[RecordedEvent, None]:
        """See ``EventStore.subscribe``."""
        return self._store.subscribe(after=after, event_types=event_types, categories=categories)

    async def stream_version(self, stream_id: str) -> int:
        """See ``EventStore.stream_version``."""
        await self.before("stream_version")
        return await self._store.stream_version(stream_id)

    async def count_events(self, *, after: int = 0) -> int:
        """See ``EventStore.count_events``."""
        await self.before("count_events")
        return await self._store.count_events(after=after)

    async def head_position(self) -> int:
        """See ``EventStore.head_position``."""
        await self.before("head_position")
        return await self._store.head_position()


class ReadOnlyEventStore(EventStoreView):
    """An ``EventStore`` view whose appends raise ``ReadOnlyOperationError``."""

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersionArg = ExpectedVersion.ANY,
    ) -> AppendResult:
        """Refuse: a query operation cannot write."""
        raise ReadOnlyOperationError(f"a query operation cannot append to {stream_id!r}")

    async def append_many(
        self, appends: Sequence[tuple[str, Sequence[NewEvent], ExpectedVersionArg]]
    ) -> list[AppendResult]:
        """Refuse: a query operation cannot write."""
        raise ReadOnlyOperationError("a query operation cannot append")


M = TypeVar("M", bound=BaseModel)


class ReadModelView(Generic[M]):
    """The :class:`~forze.contracts.ReadModelReader` usecases get from ``ctx.read_models``:
    the store's reads, and writes refused with ``ReadOnlyOperationError`` (a projection's next
    batch would overwrite them: read models are written by their projections only)."""

    def __init__(self, store: ReadModelStore[M]) -> None:
        self._store = store

    async def get(self, key: str) -> M | None:
        """See ``ReadModelStore.get``."""
        return await self._store.get(key)

    async def get_many(self, keys: Collection[str]) -> list[M]:
        """See ``ReadModelStore.get_many``."""
        return await self._store.get_many(keys)

    async def find(self, query: Query) -> Page[M]:
        """See ``ReadModelStore.find``."""
        return await self._store.find(query)

    async def count(self, filters: Sequence[Filter] = ()) -> int:
        """See ``ReadModelStore.count``."""
        return await self._store.count(filters)

    async def search(self, text: str, *, limit: int = 20) -> list[M]:
        """See ``ReadModelStore.search``."""
        return await self._store.search(text, limit=limit)

    def _refuse(self, what: str) -> NoReturn:
        raise ReadOnlyOperationError(
            f"read models are written by their projections only: {what} is not available"
            " through ctx.read_models (write from a Projection handler)"
        )

    async def upsert(self, document: M) -> None:
        """Refused: ``ReadOnlyOperationError`` (not part of ``ReadModelReader``)."""
        self._refuse("upsert")

    async def patch(self, key: str, changes: Mapping[str, Any]) -> M:
        """Refused: ``ReadOnlyOperationError`` (not part of ``ReadModelReader``)."""
        self._refuse("patch")

    async def delete(self, key: str) -> bool:
        """Refused: ``ReadOnlyOperationError`` (not part of ``ReadModelReader``)."""
        self._refuse("delete")
