"""The ledger: how ``MongoEventStore`` keeps its feed gap-safe and its appends atomic.

MongoDB has no sequence that commits in order, and a multi-document transaction needs a
replica set and aborts on every write conflict. So an append does not lean on either. The
store keeps one *head* document beside its events::

    {_id: "head", next: 42, open: {"t5f0c...": {floor: 40, until: <epoch s>}}, void: {...}}

* ``next`` is the first position no append has reserved.
* ``open`` holds the reservations whose events are not all visible yet, by a random token,
  each with a *floor* at or below its first position.
* ``void`` holds reservations given up (their events deleted), for an hour, so that a write
  that was still on its way when its reservation was given up is never shown.

An append

1. **reserves** its positions: one update adds ``n`` to ``next`` and opens ``open.<token>``
   with the ``next`` it read just before as the floor (``next`` never goes back, so the
   floor is at or below what it gets), returning the new ``next``;
2. **inserts** its events (``_id`` = position, ``commit`` = the token); the unique indexes
   on ``(stream_id, version)`` and ``event_id`` refuse a concurrent writer's versions or a
   reused id;
3. **finalizes**: one update removes ``open.<token>``, unless a reaper has claimed it.

A reader reads the head first: every position below ``next`` was reserved before, in the
same update that opened its reservation, and a reservation missing from ``open`` either
finished (its events were inserted before it left) or was given up (its events deleted
before it left, stragglers hidden by ``void``). So the feed up to the *watermark* (just
below the lowest floor of the open reservations, else ``next - 1``) is complete and final:
a reader never skips an event, and an append is seen whole or not at all. Stream reads
hide events at or beyond ``next`` and events of open and void reservations the same way.

Each step is one single-document operation, atomic on MongoDB and on every compatible
server, and none of them is a compare-and-set that can fail: concurrent writers never
conflict (they only queue on the head document's updates). What it costs: an append takes
four round trips (the head and the stream's tail together, the reservation, the insert, the
finalize), and the feed's readers wait while the oldest reservation is open. A writer that
dies between steps 1 and 3 holds them up until its lease (``until``) runs out; then any
reader or writer *claims* the reservation (so a late finalize fails), deletes its events
and moves it to ``void``. Positions of a reservation given up are never used: positions
increase but are not consecutive, as on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from forze.domain.errors import EventStoreUnavailable
from forze_mongo.database import Document

__all__ = ["FORMAT", "HEAD", "Head", "Ledger"]

HEAD = "head"
"""The ``_id`` of the head document."""

FORMAT = 2
"""The version of the event store's layout this forze writes (the head's ``format`` field;
a head without one is version 1). A head of a later version was written by a newer forze.
Version 2: streams may have archived segments (``forze_mongo._archive``), which a forze of
version 1 would read as streams with holes; ``migrate`` raises an older head to it."""

VOID_KEEP = 3600.0
"""Seconds a given-up reservation stays in ``void``: far longer than any write can still
be on its way (every write of an append runs under the client's operation timeout)."""


@dataclass(frozen=True, slots=True)
class Head:
    """The head document as a reader saw it at one instant."""

    next: int
    """The first position no append had reserved."""
    open: dict[str, tuple[int, float]]
    """Open reservations: token -> (a position at or below its first, lease end in epoch s)."""
    void: dict[str, float]
    """Reservations given up whose stragglers must stay hidden: token -> when."""

    @property
    def watermark(self) -> int:
        """Every event at or below this position is visible and final."""
        return min(floor for floor, _ in self.open.values()) - 1 if self.open else self.next - 1

    def shows(self, commit: str, position: int) -> bool:
        """Whether the event at ``position`` of the reservation ``commit`` is visible."""
        return position < self.next and commit not in self.open and commit not in self.void


def _head_of(document: Document | None) -> Head:
    if document is None:
        return Head(1, {}, {})
    opened = {
        key: (int(entry["floor"]), float(entry["until"]))
        for key, entry in (document.get("open") or {}).items()
    }
    void = {key: float(entry["at"]) for key, entry in (document.get("void") or {}).items()}
    return Head(int(document["next"]), opened, void)


class Ledger:
    """The head document's operations (see the module docstring)."""

    def __init__(
        self,
        heads: AsyncCollection[Document],
        events: AsyncCollection[Document],
        *,
        lease: float,
    ) -> None:
        self._heads = heads
        self._events = events
        self.lease = lease
        self.floor = 1
        """The highest ``next`` this process has seen: a floor for its next reservation."""

    async def create(self) -> None:
        """Create the head document unless it exists."""
        await self._heads.update_one(
            {"_id": HEAD},
            {"$setOnInsert": {"next": 1, "open": {}, "void": {}, "format": FORMAT}},
            upsert=True,
        )

    async def raise_format(self) -> None:
        """Mark the store as written in this forze's format (never lowering it)."""
        await self._heads.update_one({"_id": HEAD}, {"$max": {"format": FORMAT}})

    async def check(self, where: str) -> None:
        """Refuse, without writing anything, a database whose head document is missing (no
        forze event store there) or was written by a newer forze (``where`` names the
        database in the message)."""
        document = await self._heads.find_one({"_id": HEAD}, {"format": 1})
        if document is None:
            raise EventStoreUnavailable(
                f"{where} holds no forze event store (no head document): check the database"
                " and prefix, or start the application once to create it",
                transient=False,
            )
        found = int(document.get("format", 1))
        if found > FORMAT:
            raise EventStoreUnavailable(
                f"{where} was written by a newer forze: its event store's format is"
                f" {found}, this forze knows {FORMAT}; upgrade forze to use it",
                transient=False,
            )

    async def read(self) -> Head:
        """The head as it is now."""
        head = _head_of(await self._heads.find_one({"_id": HEAD}))
        self.floor = max(self.floor, head.next)
        return head

    async def current(self) -> Head:
        """The head, after giving up every reservation whose lease ran out (and forgetting
        void entries older than :data:`VOID_KEEP`)."""
        head = await self.read()
        now = time.time()
        expired = [token for token, (_, until) in head.open.items() if until < now]
        old = [token for token, at in head.void.items() if at < now - VOID_KEEP]
        if not expired and not old:
            return head
        for token in expired:
            await self.reap(token)
        for token in old:
            await self._events.delete_many({"commit": token})
            await self._heads.update_one({"_id": HEAD}, {"$unset": {f"void.{token}": ""}})
        return await self.read()

    async def reserve(self, count: int) -> tuple[str, int]:
        """Reserve ``count`` positions; returns the reservation's token and first position.

        One atomic update moves ``next`` on and opens the reservation with :attr:`floor`
        (the highest ``next`` seen) as its floor: ``next`` never goes back, so the floor is
        at or below the first reserved position, and a reader that sees the new ``next``
        sees the reservation too.
        """
        token = f"t{secrets.token_hex(8)}"
        until = time.time() + self.lease
        after = await self._heads.find_one_and_update(
            {"_id": HEAD},
            {
                "$inc": {"next": count},
                "$set": {f"open.{token}": {"floor": self.floor, "until": until}},
            },
            {"next": 1},
            return_document=ReturnDocument.AFTER,
        )
        if after is None:
            raise EventStoreUnavailable(
                "the event store's head document is missing: run MongoEventStore.migrate()"
            )
        reached = int(after["next"])
        self.floor = max(self.floor, reached)
        return token, reached - count

    async def finalize(self, token: str) -> bool:
        """Make the reservation's events visible; ``False`` when it was claimed by a reaper
        (its lease ran out) or is gone."""
        key = f"open.{token}"
        done = await self._heads.update_one(
            {"_id": HEAD, key: {"$exists": True}, f"{key}.claimed": {"$exists": False}},
            {"$unset": {key: ""}},
        )
        return done.matched_count == 1

    async def give_up(self, token: str, *, stragglers: bool) -> None:
        """Delete the reservation's events and close it (the owner's undo). With
        ``stragglers`` (a write whose outcome is unknown may still land) it is kept in
        ``void`` so that such a write stays hidden."""
        await self._events.delete_many({"commit": token})
        change: Document = {"$unset": {f"open.{token}": ""}}
        if stragglers:
            change["$set"] = {f"void.{token}": {"at": time.time()}}
        await self._heads.update_one({"_id": HEAD, f"open.{token}": {"$exists": True}}, change)

    async def reap(self, token: str) -> None:
        """Give up another writer's reservation whose lease ran out: claim it (so its
        finalize fails), delete its events, move it to ``void``. Safe to run twice."""
        key = f"open.{token}"
        now = time.time()
        await self._heads.update_one(
            {"_id": HEAD, f"{key}.until": {"$lt": now}}, {"$set": {f"{key}.claimed": now}}
        )
        await self._events.delete_many({"commit": token})
        await self._heads.update_one(
            {"_id": HEAD, f"{key}.claimed": {"$exists": True}},
            {"$unset": {key: ""}, "$set": {f"void.{token}": {"at": now}}},
        )

    async def settle(self, token: str) -> Head:
        """Wait until the reservation ``token`` is finished or given up (giving it up when
        its lease runs out); the head then."""
        delay = 0.002
        while True:
            head = await self.read()
            entry = head.open.get(token)
            if entry is None:
                return head
            if entry[1] < time.time():
                await self.reap(token)
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
