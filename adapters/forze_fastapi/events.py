"""``events_router``: a runtime's streams and global feed over HTTP, and the live feed as
Server-Sent Events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from forze.contracts import EventStore
from forze.domain.errors import EventStoreUnavailable, StreamNotFound
from forze.execution import EVENT_STORE, OperationKind, Runtime
from forze_eventstore.adapter_kit import check_read_all
from forze_fastapi._current import correlation_id
from forze_fastapi._hub import FeedHub, Overflowed, Rendered
from forze_fastapi._json import event_body
from forze_fastapi.errors import FieldError

__all__ = ["events_router"]

MAX_POSITION = 2**63 - 1
MAX_VERSION = 2**31 - 1

Types = Annotated[list[str] | None, Query(alias="type", description="Only these event types")]
Categories = Annotated[
    list[str] | None, Query(alias="category", description="Only these categories")
]


def events_router(
    runtime: Runtime,
    *,
    route: str | None = None,
    heartbeat: float = 15.0,
    buffer: int = 256,
    prefix: str = "",
) -> APIRouter:
    """Routes reading ``runtime``'s event store (``route``: which one, by name):

    - ``GET /streams/{stream_id}``: a stream's events (``from_version``, ``limit``,
      ``backwards``); its version is the ``ETag``, and ``If-None-Match`` with it answers 304.
    - ``GET /feed``: the global feed after a position, by type and category.
    - ``GET /feed/live``: the feed as Server-Sent Events, history first, then live. Each
      event's ``id`` is its position, so a reconnecting ``EventSource`` resumes from
      ``Last-Event-ID`` with nothing lost or repeated. A comment every ``heartbeat`` seconds
      keeps idle connections open. The clients of a process share one subscription (see
      ``forze_fastapi._hub``); a client more than ``buffer`` events behind is cut off and
      its ``EventSource`` reconnects and catches up from the store, so a slow client never
      grows the server's memory.
    """
    router = APIRouter(prefix=prefix, tags=["events"])
    hubs: dict[str, FeedHub] = {}

    def hub() -> FeedHub:
        found = hubs.get("hub")
        if found is None:
            found = hubs["hub"] = FeedHub(runtime.port(EVENT_STORE, route), buffer=buffer)
        return found

    def store() -> EventStore:
        context = runtime.context(OperationKind.QUERY, correlation_id=correlation_id())
        return context.port(EVENT_STORE, route)

    @router.get("/streams/{stream_id}", summary="Read a stream")
    async def read_stream(
        stream_id: str,
        response: Response,
        from_version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        backwards: bool = False,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Any:
        events = store()
        version = await events.stream_version(stream_id)
        if version == 0:
            raise StreamNotFound(stream_id)
        etag = f'"{version}"'
        if if_none_match is not None and etag in (t.strip() for t in if_none_match.split(",")):
            return Response(status_code=304, headers={"ETag": etag})
        page = await events.read_stream(
            stream_id, from_version=from_version, limit=limit, backwards=backwards
        )
        response.headers["ETag"] = etag
        return {
            "stream_id": stream_id,
            "version": version,
            "events": [event_body(event) for event in page],
        }

    @router.get("/feed", summary="Read the global feed")
    async def read_feed(
        after: Annotated[int, Query(ge=0, le=MAX_POSITION)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        types: Types = None,
        categories: Categories = None,
    ) -> Any:
        page = await store().read_all(
            after=after, limit=limit, event_types=types, categories=categories
        )
        return {
            "events": [event_body(event) for event in page],
            "next_after": page[-1].position if page else after,
        }

    @router.get(
        "/feed/live",
        summary="Follow the feed (Server-Sent Events)",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def follow_feed(
        request: Request,
        after: Annotated[int, Query(ge=0, le=MAX_POSITION)] = 0,
        types: Types = None,
        categories: Categories = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse:
        start = after if last_event_id is None else _resumed_from(last_event_id)
        check_read_all(start, None, types, categories)
        following = hub().follow(start, types, categories)
        body = _sse(request, following, heartbeat=heartbeat, buffer=buffer)
        return StreamingResponse(
            body,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


def _resumed_from(last_event_id: str) -> int:
    if not last_event_id.isdigit() or int(last_event_id) > MAX_POSITION:
        raise FieldError("Last-Event-ID", "Last-Event-ID must be a position this feed sent")
    return int(last_event_id)


async def _sse(
    request: Request,
    following: AsyncGenerator[Rendered, None],
    *,
    heartbeat: float,
    buffer: int,
) -> AsyncIterator[str]:
    """The event stream: rendered events from a bounded queue that a pump task fills from
    the hub (so a heartbeat never interrupts a read), as many as are ready in one write;
    comments while idle."""
    queue: asyncio.Queue[Rendered | BaseException] = asyncio.Queue(maxsize=buffer)

    async def pump() -> None:
        try:
            async for rendered in following:
                await queue.put(rendered)  # waits while the client is behind: back-pressure
        except Exception as error:
            await queue.put(error)

    task = asyncio.create_task(pump(), name="forze sse pump")
    try:
        yield "retry: 1000\n\n"
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), heartbeat)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
                continue
            lines: list[str] = []
            while isinstance(item, Rendered):
                lines.append(item.line)
                if queue.empty():
                    break
                item = queue.get_nowait()
            if lines:
                yield "".join(lines)
            if isinstance(item, Overflowed):
                return  # the client reconnects with Last-Event-ID and catches up
            if isinstance(item, BaseException):
                unavailable = isinstance(item, EventStoreUnavailable)
                detail = "the store is unavailable" if unavailable else "internal error"
                yield f"event: error\ndata: {json.dumps({'detail': detail})}\n\n"
                return
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        with contextlib.suppress(Exception):
            await following.aclose()
