"""Rooms per read-model document: a document's new state pushed once its projection wrote it.

A client follows ``document:<read model>:<key>`` and receives the document as it is now,
then each newer state. The pusher learns from the event feed which documents an event
changes (``DocumentRoom.key_of``), waits until the projection's checkpoint (shared by every
process) has passed that event, and reads the document from the read-model store: so it
works whichever process runs the projection, and a burst of events on one document costs
one read. States, not changes, are pushed: a client may skip intermediate states, never the
latest one, and never sees an older state after a newer one (every send of one read model
goes through one task, which reads and emits in order; ``position`` says how far the state
is, and only grows).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import socketio

from forze.contracts import CheckpointStore, ReadModelSpec, ReadModelStores, RecordedEvent
from forze.domain.errors import EventStoreUnavailable, InvalidInputError
from forze_projections import Projection

__all__ = ["DocumentRoom"]

log = logging.getLogger("forze.socketio")

_MAX_WAIT = 0.1
"""The longest pause between two looks at a checkpoint that is behind."""

SETTLE_SECONDS = 10.0
"""How long a send waits for a projection that is behind (stopped, say) before it sends the
documents as they are, their ``position`` saying how far that is."""


@dataclass(frozen=True, slots=True)
class DocumentRoom:
    """The rooms ``document:<spec name>:<key>`` of the documents of ``spec``, written by
    ``projection``: ``key_of(event)`` names the document an event of one of the projection's
    types changes (``None``: none)."""

    spec: ReadModelSpec[Any]
    projection: Projection
    key_of: Callable[[RecordedEvent], str | None]

    def __post_init__(self) -> None:
        if self.spec not in self.projection.read_models:
            raise InvalidInputError(
                f"projection {self.projection.name!r} does not write {self.spec.name!r}"
            )


@dataclass(eq=False)
class _Work:
    """What the task of one read model has to send: documents changed by events up to a
    position, and first states that followers wait for."""

    changed: dict[str, int] = field(default_factory=dict)
    first: list[tuple[str, str, asyncio.Future[None]]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class DocumentPusher:
    """Sends documents to their rooms (``SocketFeed`` runs it; see the module)."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        rooms: tuple[DocumentRoom, ...],
        read_models: ReadModelStores,
        checkpoints: CheckpointStore,
        *,
        event: str = "document",
    ) -> None:
        self.sio = sio
        self._rooms = {room.spec.name: room for room in rooms}
        self._read_models = read_models
        self._checkpoints = checkpoints
        self._event = event
        self._work = {name: _Work() for name in self._rooms}
        self._followers: dict[str, set[str]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start one sending task per read model."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._run(name), name=f"forze socketio documents {name}")
                for name in self._rooms
            ]

    async def close(self) -> None:
        """Stop the sending tasks."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def parse(self, room: str) -> tuple[str, str]:
        """The read model and key of ``document:<read model>:<key>``, checked."""
        _, _, rest = room.partition(":")
        name, _, key = rest.partition(":")
        if name not in self._rooms:
            known = ", ".join(sorted(self._rooms)) or "none"
            raise InvalidInputError(f"no document rooms for read model {name!r} (known: {known})")
        if not key:
            raise InvalidInputError(f"room {room[:80]!r} names no document key")
        return name, key

    async def follow(self, sid: str, room: str) -> None:
        """Put ``sid`` in ``room`` and send it the document as it is now."""
        name, key = self.parse(room)
        await self.sio.enter_room(sid, room)
        self._followers.setdefault(room, set()).add(sid)
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        work = self._work[name]
        work.first.append((sid, key, sent))
        work.ready.set()
        await sent

    def gone(self, sid: str) -> None:
        """``sid`` disconnected."""
        for room in list(self._followers):
            self.forget(sid, room)

    def forget(self, sid: str, room: str) -> None:
        """``sid`` left ``room``."""
        followers = self._followers.get(room)
        if followers is not None:
            followers.discard(sid)
            if not followers:
                del self._followers[room]

    def offer(self, event: RecordedEvent) -> None:
        """Note the document ``event`` changes, if anyone follows it."""
        for name, room in self._rooms.items():
            if event.event_type not in room.projection.handlers:
                continue
            key = room.key_of(event)
            if key is None or f"document:{name}:{key}" not in self._followers:
                continue
            work = self._work[name]
            work.changed[key] = event.position
            work.ready.set()

    async def _run(self, name: str) -> None:
        room, work = self._rooms[name], self._work[name]
        while True:
            await work.ready.wait()
            work.ready.clear()
            changed, work.changed = work.changed, {}
            first, work.first = work.first, []
            try:
                await self._send(room, changed, first)
            except EventStoreUnavailable as error:
                log.warning("documents of %s not sent, trying again: %s", name, error)
                for key, position in changed.items():
                    work.changed[key] = max(position, work.changed.get(key, 0))
                work.first.extend(first)
                work.ready.set()
                await asyncio.sleep(1.0)
            except Exception as error:
                for _, _, sent in first:
                    if not sent.done():
                        sent.set_exception(error)
                log.exception("documents of %s not sent", name)

    async def _send(
        self,
        room: DocumentRoom,
        changed: dict[str, int],
        first: list[tuple[str, str, asyncio.Future[None]]],
    ) -> None:
        checkpoint_name = room.projection.checkpoint_name
        position = await self._checkpoints.load(checkpoint_name)
        target = max(changed.values(), default=0)
        delay, deadline = 0.002, asyncio.get_running_loop().time() + SETTLE_SECONDS
        while position < target:
            if asyncio.get_running_loop().time() > deadline:
                log.warning(
                    "%s is behind position %d: sending documents as they are",
                    checkpoint_name,
                    target,
                )
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_WAIT)
            position = await self._checkpoints.load(checkpoint_name)
        keys = {*changed, *(key for _, key, _ in first)}
        found = await self._read_models(room.spec).get_many(keys)
        documents = {str(getattr(d, room.spec.key)): d.model_dump(mode="json") for d in found}
        name = room.spec.name
        for key in changed:
            payload = _payload(name, key, position, documents.get(key))
            await self.sio.emit(self._event, payload, room=f"document:{name}:{key}")
        for sid, key, sent in first:
            if key not in changed:  # a follower of a changed document got it with the room
                await self.sio.emit(
                    self._event, _payload(name, key, position, documents.get(key)), to=sid
                )
            if not sent.done():
                sent.set_result(None)


def _payload(name: str, key: str, position: int, document: Any) -> dict[str, Any]:
    return {"read_model": name, "key": key, "position": position, "document": document}
