"""``MongoLeases``: projection leases, one document per projection."""

from __future__ import annotations

import time
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from forze_mongo._units import Journal
from forze_mongo.database import Document, MongoDatabase
from forze_projections.leases import Lease, check_lease_terms, lease_lost

__all__ = ["MongoLeases"]


def _free(now: float) -> list[Document]:
    """The conditions under which nobody holds a lease (a lease document made by a rebuild
    request has no holder fields yet)."""
    return [{"expires_at": {"$lte": now}}, {"expires_at": {"$exists": False}}]


class MongoLeases:
    """``ProjectionLeases`` in the collection ``projection_leases``: ``{_id: projection,
    owner, version, expires_at, rebuilds_requested, rebuilds_done}``.

    Every change is one single-document update; missing fields read as their defaults (no
    owner, free, no rebuilds), so no update needs ``$setOnInsert``. Expiry follows the
    clocks of the runners' machines (``expires_at`` is in epoch seconds), so keep them in
    step (NTP) to well within a lease's duration. A runner that takes a lease first recovers
    the units of work its predecessor left (``forze_mongo._units``): an unfinished batch of
    a runner that died or lost the lease is undone before the new runner reads its
    checkpoint, and that runner can no longer commit it. ``hold`` joins the calling task's
    unit the same way.
    """

    def __init__(self, db: MongoDatabase, journal: Journal) -> None:
        self.db = db
        self._journal = journal
        self._leases = db.collection("projection_leases")

    async def acquire(self, name: str, owner: str, version: int, seconds: float) -> Lease | None:
        """See ``ProjectionLeases.acquire``."""
        check_lease_terms(owner, seconds)
        now = time.time()
        with self.db.operation(f"take the lease of {name[:80]!r}"):
            try:
                document = await self._leases.find_one_and_update(
                    # $and: the emulator applies {_id, $or} to any document (docs/mongo.md)
                    {"$and": [{"_id": name}, {"$or": [{"owner": owner}, *_free(now)]}]},
                    {"$set": {"owner": owner, "version": version, "expires_at": now + seconds}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                return None  # another owner holds it: the upsert's insert was refused
        if document is None:
            return None  # the same, on a server that skips the insert (docs/mongo.md)
        await self._journal.recover(name)
        return _lease(name, document, now)

    async def hold(self, name: str, owner: str, seconds: float) -> Lease:
        """See ``ProjectionLeases.hold``: the unit becomes one of ``name``'s (recovering
        its leftovers), then the lease is renewed if ``owner`` still holds it."""
        check_lease_terms(owner, seconds)
        await self._journal.join_scope(name)
        now = time.time()
        with self.db.operation(f"hold the lease of {name[:80]!r}"):
            document = await self._leases.find_one_and_update(
                {"_id": name, "owner": owner},
                {"$max": {"expires_at": now + seconds}},
                return_document=ReturnDocument.AFTER,
            )
        if document is None:
            raise await self._lost(name, owner)
        return _lease(name, document, now)

    async def release(self, name: str, owner: str) -> None:
        """See ``ProjectionLeases.release``."""
        with self.db.operation(f"release the lease of {name[:80]!r}"):
            await self._leases.update_one(
                {"_id": name, "owner": owner}, {"$set": {"expires_at": time.time() - 1.0}}
            )

    async def read(self, name: str) -> Lease | None:
        """See ``ProjectionLeases.read``."""
        with self.db.operation(f"read the lease of {name[:80]!r}"):
            document = await self._leases.find_one({"_id": name})
        return None if document is None else _lease(name, document, time.time())

    async def names(self) -> list[str]:
        """See ``ProjectionLeases.names``."""
        with self.db.operation("list the projection leases"):
            documents = await self._leases.find({}, {"_id": 1}).sort("_id", 1).to_list()
        return [str(document["_id"]) for document in documents]

    async def request_rebuild(self, name: str) -> int:
        """See ``ProjectionLeases.request_rebuild``."""
        with self.db.operation(f"request a rebuild of {name[:80]!r}"):
            document = await self._leases.find_one_and_update(
                {"_id": name},
                {"$inc": {"rebuilds_requested": 1}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        assert document is not None  # an upsert returns its document
        return int(document["rebuilds_requested"])

    async def finish_rebuild(self, name: str, owner: str, number: int) -> None:
        """See ``ProjectionLeases.finish_rebuild``: recorded when the unit commits."""
        found = await self.read(name)
        if found is None or found.owner != owner:
            raise lease_lost(name, owner, None if found is None else found.holder)
        await self._journal.after_commit(
            {"max": self._leases.name, "k": name, "f": "rebuilds_done", "v": number}
        )

    async def _lost(self, name: str, owner: str) -> Exception:
        found = await self.read(name)
        return lease_lost(name, owner, None if found is None else found.holder)


def _lease(name: str, document: Document | Any, now: float) -> Lease:
    return Lease(
        name,
        str(document.get("owner", "")),
        int(document.get("version", 0)),
        float(document.get("expires_at", 0.0)) - now,
        int(document.get("rebuilds_requested", 0)),
        int(document.get("rebuilds_done", 0)),
    )
