"""Units of work on MongoDB without multi-document transactions: an undo journal.

MongoDB's transactions need a replica set, abort on every write conflict, and (on the test
server, see docs/mongo.md) are not isolated at all. A projector's unit (its batch's
documents, its checkpoint, the lease it holds, a cut-over) is made atomic here the way a
database's own log would, with one *unit document* per unit in ``units`` and its entries
in ``unit_entries``::

    {_id: <token>, state: "open", scope: <projection>, entries: <count>}
    {unit: <token>, seq: 0, c: <collection>, before: [{k: <_id>, d: <document or null>}]}
    {unit: <token>, seq: 1, after: {drop: <collection>}}

* Before a unit writes, it checks that it is still ``open`` (one update of its unit
  document that matches only then), stores the *before-images* of the documents it is about
  to change as an entry, then writes. Every write of a unit goes this way.
* The **commit point** is one update of the unit document from ``open`` to ``committed``.
  What must wait for the commit (dropping a rebuilt version's collections, recording a
  rebuild as done) runs after it, then the unit's documents are deleted.
* A unit that fails restores the before-images, newest first, and deletes its documents.
* Whoever takes a projection's lease next (or the holder's next unit) **recovers** the
  projection's leftover units: an ``open`` one is first switched to ``aborted`` (so its
  owner can no longer commit: exactly one of the commit and the abort wins), then undone;
  a ``committed`` one gets its after-commit work done again. A unit's outcome is therefore
  all or nothing, even when its process is killed in the middle of a batch.

What it costs, compared with a transaction: a read of the documents before each flush of
writes and one update of the unit document; and readers of the collections (not the
projector, whose reads happen inside its unit) can see a unit's writes before it commits,
and see them vanish if it fails. A runner that lost its lease is stopped at its next flush
or at its commit; a write it had already sent when the new holder undid its unit is the one
case the journal cannot catch, which the lease's duration makes remote.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING, DESCENDING, DeleteOne, ReplaceOne

from forze.domain.errors import InvalidInputError
from forze_mongo.database import Document, MongoDatabase
from forze_projections.leases import LeaseLost

__all__ = ["Journal", "Unit"]

log = logging.getLogger("forze.mongo")

_OPEN, _COMMITTED, _ABORTED = "open", "committed", "aborted"

Images = list[tuple[Any, Document | None]]
"""Before-images of one write: (key, the document then, or None where there was none)."""


@dataclass(slots=True)
class Unit:
    """The unit of work of one task (see the module docstring)."""

    token: str
    scope: str | None = None
    """The projection whose lease the unit holds, once it holds one."""
    started: bool = False
    """Whether its unit document exists."""
    seq: int = 0
    """The number of its next entry."""
    undo: list[tuple[int, str, Images]] = field(default_factory=list)
    """Its before-images, oldest first: (entry number, collection, images)."""
    after: list[tuple[int, Document]] = field(default_factory=list)
    """Work to do once it commits (see :meth:`Journal.after_commit`), by entry number."""


_CURRENT: contextvars.ContextVar[Unit | None] = contextvars.ContextVar(
    "forze_mongo_unit", default=None
)


class Journal:
    """The units of work of one database's projections."""

    def __init__(self, db: MongoDatabase) -> None:
        self.db = db
        self._units = db.collection("units")
        self._entries = db.collection("unit_entries")
        self._indexed = False

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        """A unit of work of the calling task (see the module docstring); a unit inside a
        unit joins it."""
        outer = _CURRENT.get()
        if outer is not None:
            yield outer
            return
        unit = Unit(f"u{secrets.token_hex(10)}")
        reset = _CURRENT.set(unit)
        try:
            try:
                yield unit
            except BaseException:
                try:
                    await self._abort_own(unit)
                except Exception:  # the next unit of its projection recovers it
                    log.warning("a failed unit of work could not be undone yet", exc_info=True)
                raise
            await self._commit(unit)
        finally:
            _CURRENT.reset(reset)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Inside a unit: a block whose writes alone are undone when it raises."""
        unit = _CURRENT.get()
        if unit is None:
            raise InvalidInputError("a savepoint needs an open unit of work")
        mark = unit.seq
        try:
            yield
        except BaseException:
            await self._undo_since(unit, mark)
            raise

    async def before_write(self, collection: str, keys: Sequence[Any]) -> None:
        """Record the current documents of ``keys`` in ``collection`` (of the database,
        prefix included) before the calling task's unit changes them; nothing outside a
        unit. Raises ``LeaseLost`` when the unit was aborted by a new lease holder."""
        unit = _CURRENT.get()
        if unit is None or not keys:
            return
        with self.db.operation("record a unit's undo images"):
            found = {
                doc["_id"]: doc
                for doc in await self.db.database[collection]
                .find({"_id": {"$in": list(keys)}})
                .to_list()
            }
            images = [(key, found.get(key)) for key in keys]
            before = [{"k": key, "d": document} for key, document in images]
            seq = await self._entry(unit, {"c": collection, "before": before})
        unit.undo.append((seq, collection, images))

    async def after_commit(self, work: Document) -> None:
        """Do ``work`` once the calling task's unit commits (at once outside a unit):
        ``{"drop": <collection>}`` drops a collection, ``{"max": <collection>, "k": <_id>,
        "f": <field>, "v": <value>}`` raises a field to at least a value. Both are safe to do
        twice, as recovery may."""
        unit = _CURRENT.get()
        if unit is None:
            with self.db.operation("finish a write"):
                await self._do(work)
            return
        with self.db.operation("record a unit's after-commit work"):
            seq = await self._entry(unit, {"after": work})
        unit.after.append((seq, work))

    async def join_scope(self, scope: str) -> None:
        """Make the calling task's unit one of projection ``scope``'s: recover that
        projection's leftover units (see :meth:`recover`), then record the unit as the
        projection's. Call it *before* checking that the runner holds the lease: a new
        holder's recovery then aborts this unit if the lease changed hands in between."""
        unit = _CURRENT.get()
        if unit is None or unit.scope == scope:
            return
        await self.recover(scope, keep=unit.token)
        unit.scope = scope
        with self.db.operation("record a unit's projection"):
            await self._check_open(unit, {"scope": scope})

    async def recover(self, scope: str, *, keep: str | None = None) -> None:
        """Finish projection ``scope``'s leftover units (but ``keep``): abort and undo the
        open ones, redo the after-commit work of the committed ones."""
        with self.db.operation(f"recover the units of {scope[:80]!r}"):
            leftovers = await self._units.find({"scope": scope}).to_list()
            for document in leftovers:
                token = document["_id"]
                if token == keep:
                    continue
                state = document["state"]
                if state == _OPEN:
                    aborted = await self._units.update_one(
                        {"_id": token, "state": _OPEN}, {"$set": {"state": _ABORTED}}
                    )
                    if aborted.matched_count == 0:  # it ended meanwhile: read it again
                        found = await self._units.find_one({"_id": token})
                        state = _ABORTED if found is None else found["state"]
                        if found is None:
                            continue
                    else:
                        state = _ABORTED
                entries = self._entries.find({"unit": token})
                if state == _COMMITTED:
                    for entry in await entries.sort("seq", ASCENDING).to_list():
                        if "after" in entry:
                            await self._do(entry["after"])
                else:
                    for entry in await entries.sort("seq", DESCENDING).to_list():
                        if "before" in entry:
                            images = [(i["k"], i.get("d")) for i in entry["before"]]
                            await self._restore(entry["c"], images)
                await self._forget(token)

    async def _entry(self, unit: Unit, entry: Document) -> int:
        """Store one entry of ``unit``, after checking it is still open; its number."""
        await self._check_open(unit, {})
        seq = unit.seq
        unit.seq += 1
        await self._entries.insert_one({"unit": unit.token, "seq": seq, **entry})
        return seq

    async def _check_open(self, unit: Unit, fields: Document) -> None:
        if not unit.started:
            if not self._indexed:
                await self._entries.create_index([("unit", ASCENDING), ("seq", ASCENDING)])
                self._indexed = True
            await self._units.insert_one(
                {"_id": unit.token, "state": _OPEN, "scope": unit.scope, "at": time.time()}
            )
            unit.started = True
        done = await self._units.update_one(
            {"_id": unit.token, "state": _OPEN}, {"$set": fields, "$inc": {"entries": 1}}
        )
        if done.matched_count == 0:
            raise LeaseLost(
                f"the unit of work of {unit.scope!r} was aborted by the projection's new runner"
            )

    async def _commit(self, unit: Unit) -> None:
        if not unit.started:
            return
        with self.db.operation("commit a unit of work"):
            done = await self._units.update_one(
                {"_id": unit.token, "state": _OPEN}, {"$set": {"state": _COMMITTED}}
            )
            if done.matched_count == 0:
                raise LeaseLost(
                    f"the unit of work of {unit.scope!r} was aborted by the projection's new"
                    " runner: nothing it wrote was kept"
                )
            for _, work in unit.after:
                await self._do(work)
            await self._forget(unit.token)

    async def _abort_own(self, unit: Unit) -> None:
        """Undo a failed unit, unless a new runner aborted (and undid) it already."""
        if not unit.started:
            return
        with self.db.operation("undo a unit of work"):
            aborted = await self._units.update_one(
                {"_id": unit.token, "state": _OPEN}, {"$set": {"state": _ABORTED}}
            )
            if aborted.matched_count == 1:
                for _, collection, images in reversed(unit.undo):
                    await self._restore(collection, images)
                await self._forget(unit.token)

    async def _undo_since(self, unit: Unit, mark: int) -> None:
        """Undo the unit's entries from number ``mark`` on (a savepoint's)."""
        undone = [entry for entry in unit.undo if entry[0] >= mark]
        with self.db.operation("undo a savepoint"):
            for _, collection, images in reversed(undone):
                await self._restore(collection, images)
            if unit.started:
                await self._entries.delete_many({"unit": unit.token, "seq": {"$gte": mark}})
        unit.undo = [entry for entry in unit.undo if entry[0] < mark]
        unit.after = [entry for entry in unit.after if entry[0] < mark]

    async def _forget(self, token: str) -> None:
        await self._entries.delete_many({"unit": token})
        await self._units.delete_one({"_id": token})

    async def _do(self, work: Document) -> None:
        if "drop" in work:
            await self.db.database.drop_collection(work["drop"])
        else:
            target = self.db.database[work["max"]]
            await target.update_one({"_id": work["k"]}, {"$max": {work["f"]: work["v"]}})

    async def _restore(self, collection: str, images: Images) -> None:
        requests: list[Any] = [
            DeleteOne({"_id": key})
            if document is None
            else ReplaceOne({"_id": key}, document, upsert=True)
            for key, document in reversed(images)
        ]
        if requests:
            await self.db.database[collection].bulk_write(requests, ordered=True)
