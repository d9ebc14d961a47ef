"""``SocketFeed``: the event feed pushed to Socket.IO rooms, a client catching up first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import socketio

from forze.contracts import (
    CheckpointStore,
    EventStore,
    ReadModelStores,
    RecordedEvent,
    category_of,
)
from forze.domain.errors import ForzeError, InvalidInputError, WiringError
from forze_eventstore.adapter_kit import check_read_all
from forze_socketio._documents import DocumentPusher, DocumentRoom

__all__ = ["Authorize", "SocketFeed", "event_payload"]

log = logging.getLogger("forze.socketio")

Authorize = Callable[[str, str, Any], Awaitable[bool]]
"""``authorize(sid, room, auth)``: whether the client ``sid`` (which connected with
``auth``) may follow ``room``."""

_PAGE = 500


def event_payload(event: RecordedEvent) -> dict[str, Any]:
    """What a client receives for ``event`` (its ``position`` is what it resumes from)."""
    return {
        "stream_id": event.stream_id,
        "version": event.version,
        "position": event.position,
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "data": event.data,
        "metadata": event.metadata,
        "recorded_at": event.recorded_at.isoformat(),
    }


def _rooms_of(event: RecordedEvent) -> tuple[str, str]:
    """The rooms an event goes to: its stream's and its category's."""
    return f"stream:{event.stream_id}", f"category:{category_of(event.stream_id)}"


@dataclass(eq=False)
class _Joining:
    """A client catching up in a room: live events wait here until it has."""

    sid: str
    room: str
    held: list[RecordedEvent] = field(default_factory=list)


class SocketFeed:
    """Pushes every event of ``store`` to the Socket.IO rooms ``stream:<stream id>`` and
    ``category:<category>`` of ``sio`` (event name ``"event"``), from one subscription; and,
    for the ``documents`` rooms, read-model documents to ``document:<read model>:<key>``
    (event name ``"document"``: ``{"read_model", "key", "position", "document"}``, the
    document ``None`` while there is none), first as they are, then each time their
    projection has written a new state (see ``forze_socketio._documents``), read from
    ``read_models`` once ``checkpoints`` show the projection passed the event.

    A client emits ``follow`` with ``{"room": ..., "after": <position>}`` (``after`` is the
    last position it got, 0 for everything): ``authorize`` decides (every room is open
    without it), and the answer is ``{"ok": true}`` or ``{"error": ...}``. The client then
    receives the room's events after ``after`` and only then the live ones, in order and
    each once: live events for it are held while it catches up. ``unfollow`` with
    ``{"room": ...}`` leaves. A client that reconnects follows again with its last position.
    """

    def __init__(
        self,
        sio: socketio.AsyncServer,
        store: EventStore,
        *,
        authorize: Authorize | None = None,
        event: str = "event",
        documents: tuple[DocumentRoom, ...] = (),
        read_models: ReadModelStores | None = None,
        checkpoints: CheckpointStore | None = None,
    ) -> None:
        self.sio = sio
        self.store = store
        self._documents: DocumentPusher | None = None
        if documents:
            if read_models is None or checkpoints is None:
                raise WiringError("document rooms need the read_models and checkpoints ports")
            self._documents = DocumentPusher(sio, documents, read_models, checkpoints)
        self._authorize = authorize
        self._event = event
        self._joining: list[_Joining] = []
        self._auth: dict[str, Any] = {}
        self._pump: asyncio.Task[None] | None = None
        sio.on("connect", self._connect)
        sio.on("disconnect", self._disconnect)
        sio.on("follow", self._follow)
        sio.on("unfollow", self._unfollow)

    async def start(self) -> None:
        """Follow the store from its head (call once the server runs)."""
        if self._pump is None:
            if self._documents is not None:
                self._documents.start()
            head = await self.store.head_position()
            self._pump = asyncio.create_task(self._run(head), name="forze socketio feed")

    async def close(self) -> None:
        """Stop following the store."""
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        if self._documents is not None:
            await self._documents.close()

    async def _run(self, head: int) -> None:
        async for event in self.store.subscribe(after=head):
            if self._documents is not None:
                self._documents.offer(event)
            payload = event_payload(event)
            for room in _rooms_of(event):
                holding = [j for j in self._joining if j.room == room]
                for joining in holding:
                    joining.held.append(event)
                skip = [j.sid for j in holding] or None
                await self.sio.emit(self._event, payload, room=room, skip_sid=skip)

    async def _connect(self, sid: str, environ: Any, auth: Any = None) -> None:
        self._auth[sid] = auth

    async def _disconnect(self, sid: str, *_: Any) -> None:
        self._auth.pop(sid, None)
        if self._documents is not None:
            self._documents.gone(sid)
        self._joining = [j for j in self._joining if j.sid != sid]

    async def _follow(self, sid: str, data: Any) -> dict[str, Any]:
        try:
            room, after = _request(data)
            if self._authorize is not None and not await self._authorize(
                sid, room, self._auth.get(sid)
            ):
                return {"error": f"not allowed to follow {room!r}"}
            if room.startswith("document:"):
                if self._documents is None:
                    raise InvalidInputError("this server has no document rooms")
                await self._documents.follow(sid, room)
            else:
                await self._catch_up(sid, room, after)
        except ForzeError as error:
            return {"error": str(error) if isinstance(error, InvalidInputError) else "unavailable"}
        return {"ok": True}

    async def _unfollow(self, sid: str, data: Any) -> dict[str, Any]:
        room = data.get("room") if isinstance(data, dict) else None
        if isinstance(room, str):
            await self.sio.leave_room(sid, room)
            if self._documents is not None:
                self._documents.forget(sid, room)
        return {"ok": True}

    async def _catch_up(self, sid: str, room: str, after: int) -> None:
        """Send ``room``'s stored events after ``after``, then the live ones held meanwhile;
        join the room; send what was held while joining; then let the room's events through
        (nothing awaited between the last look at what is held and the end of holding)."""
        joining = _Joining(sid, room)
        self._joining.append(joining)  # from now on the pump holds this room's events
        try:
            kind, _, name = room.partition(":")
            position = after
            while True:
                page = await self.store.read_all(
                    after=position,
                    limit=_PAGE,
                    categories=[name if kind == "category" else category_of(name)],
                )
                for event in page:
                    position = event.position
                    if kind == "category" or event.stream_id == name:
                        await self.sio.emit(self._event, event_payload(event), to=sid)
                if len(page) < _PAGE:
                    break
            position = await self._release(joining, position)
            await self.sio.enter_room(sid, room)
            await self._release(joining, position)
        finally:
            with contextlib.suppress(ValueError):
                self._joining.remove(joining)

    async def _release(self, joining: _Joining, position: int) -> int:
        """Send the events held for ``joining`` beyond ``position``; the last one sent."""
        while joining.held:
            event = joining.held.pop(0)
            if event.position > position:
                position = event.position
                await self.sio.emit(self._event, event_payload(event), to=joining.sid)
        return position


def _request(data: Any) -> tuple[str, int]:
    """``follow``'s ``room`` and ``after``, checked."""
    if not isinstance(data, dict):
        raise InvalidInputError('follow takes {"room": ..., "after": <position>}')
    room, after = data.get("room"), data.get("after", 0)
    if not isinstance(room, str) or not room.startswith(("stream:", "category:", "document:")):
        raise InvalidInputError(
            'a room is "stream:<stream id>", "category:<category>" or "document:<read model>:<key>"'
        )
    if len(room) > 600 or room.endswith(":"):
        raise InvalidInputError(f"room {room[:80]!r} names nothing")
    if isinstance(after, bool) or not isinstance(after, int):
        raise InvalidInputError("after is a position: an int >= 0")
    check_read_all(after, None, None, None)
    return room, after
