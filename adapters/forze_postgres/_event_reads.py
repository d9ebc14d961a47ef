"""The page reads of the PostgreSQL event store (``read_stream`` and ``read_all``), which
stop a page at a byte budget when asked (see ``forze_eventstore.limits``)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine, Sequence
from typing import Any

from forze.contracts import RecordedEvent
from forze_eventstore.adapter_kit import (
    KnownVersions,
    check_read_all,
    check_read_stream,
    refuse_archived_gap,
)
from forze_eventstore.limits import check_max_bytes
from forze_postgres._event_rows import decode_page
from forze_postgres._event_sql import Statements
from forze_postgres.database import PostgresDatabase
from forze_postgres.errors import translated

__all__ = ["EventReads"]


class EventReads:
    """``read_stream`` and ``read_all`` of ``PostgresEventStore`` (which sets the attributes)."""

    db: PostgresDatabase
    _sql: Statements
    _tenant: tuple[str, ...]
    _lock_halves: tuple[int, int]
    _known: KnownVersions
    stream_version: Callable[[str], Coroutine[Any, Any, int]]

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int | None = None,
        limit: int | None = None,
        backwards: bool = False,
        max_bytes: int | None = None,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_stream``; ``max_bytes`` stops the page at that many
        characters of JSON text (see ``forze.contracts.CutPage``). A read that reaches
        archived versions raises ``StreamArchived`` (read through
        ``forze_eventstore.ArchivedReads``)."""
        check_read_stream(stream_id, from_version, limit)
        check_max_bytes(max_bytes)
        if backwards:
            sql, start = self._sql.read_backwards, from_version or 2**31 - 1
        else:
            sql, start = self._sql.read_forwards, from_version or 1
        arguments: tuple[Any, ...] = (stream_id, start, limit)
        if max_bytes is not None:
            sql, arguments = (
                self._sql.read_stream_page,
                (stream_id, start, backwards, limit, max_bytes),
            )

        async def read() -> list[Any]:
            async with self.db.connection() as connection:
                with translated(f"read {stream_id!r}"):
                    found: list[Any] = await connection.fetch(sql, *arguments, *self._tenant)
                    return found

        rows = await self.db.retrying(read)
        # committed versions only, and only a read that reached the stream's end (a version
        # below it would only cost the next append a refused guess)
        to_end = from_version is None if backwards else limit is None or len(rows) < limit
        if rows and to_end and not self.db.in_transaction():
            self._known.saw(stream_id, rows[0 if backwards else -1][5])
        page = decode_page(rows, limit, max_bytes)
        await refuse_archived_gap(
            self, stream_id, page, from_version=from_version, limit=limit, backwards=backwards
        )
        return page

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        event_types: Collection[str] | None = None,
        categories: Collection[str] | None = None,
        max_bytes: int | None = None,
    ) -> Sequence[RecordedEvent]:
        """See ``EventStore.read_all``: only positions no running transaction can precede;
        ``max_bytes`` stops the page at that many characters of JSON text (see
        ``forze.contracts.CutPage``)."""
        check_read_all(after, limit, event_types, categories)
        check_max_bytes(max_bytes)
        types = None if event_types is None else list(event_types)
        cats = None if categories is None else list(categories)
        sql, budget = (
            (self._sql.read_all, ()) if max_bytes is None else (self._sql.read_page, (max_bytes,))
        )

        async def read() -> list[Any]:
            async with self.db.connection() as connection:
                with translated("read the feed"):
                    found: list[Any] = await connection.fetch(
                        sql, after, *self._lock_halves, types, cats, limit, *budget,
                        *self._tenant,
                    )  # fmt: skip
                    return found

        return decode_page(await self.db.retrying(read), limit, max_bytes)
