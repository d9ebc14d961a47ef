"""Leases: at most one runner per projection across every process that shares a backend.

A projector takes a projection's lease before it runs it and renews it while it runs; another
projector (another process, or another instance in this one) stands by until the lease is
released or lapses. Every batch *holds* the lease inside its own unit of work, so a runner
that lost its lease (paused past the expiry while another took over) has its batch rolled
back: two runners never both commit work for one projection. The lease row also carries the
rebuild requests that other processes leave for the runner (``forze projections rebuild``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from forze.domain.errors import ForzeError, InvalidInputError
from forze_projections.undo import UndoLog

__all__ = [
    "InMemoryLeases",
    "Lease",
    "LeaseLost",
    "ProjectionLeases",
    "check_lease_terms",
    "lease_lost",
]


class LeaseLost(ForzeError):
    """This runner no longer holds the projection's lease: another runner took it over."""


@dataclass(frozen=True, slots=True)
class Lease:
    """One projection's lease, as stored: who holds it, until when, and rebuild requests.

    ``owner`` is the last runner that took it ("" when none ever did); it holds the lease
    while ``expires_in`` (seconds, measured by the store's clock) is positive. A rebuild is
    pending while ``rebuilds_requested`` exceeds ``rebuilds_done``.
    """

    name: str
    owner: str
    version: int
    expires_in: float
    rebuilds_requested: int = 0
    rebuilds_done: int = 0

    @property
    def holder(self) -> str | None:
        """The runner holding the lease now, or ``None`` when it is free."""
        return self.owner if self.owner and self.expires_in > 0 else None

    @property
    def rebuild_pending(self) -> bool:
        """Whether a rebuild was requested that the runner has not carried out yet."""
        return self.rebuilds_requested > self.rebuilds_done


class ProjectionLeases(Protocol):
    """The leases of a projection backend (``ProjectionBackend.leases``).

    Guarantees every backend keeps (``forze_projections.testing.LeaseContract``): a lease is
    held by one owner at a time; only its holder renews it; a lapsed or released lease goes
    to the next owner that asks; ``hold`` joins the calling task's unit of work and raises
    :class:`LeaseLost` when another owner holds the lease, so that unit commits nothing.
    Expiry follows one clock for every process (the database server's where there is one).
    """

    async def acquire(self, name: str, owner: str, version: int, seconds: float) -> Lease | None:
        """Take or renew ``name``'s lease for ``seconds``; ``None`` while another holds it.

        ``version`` is the projection version the owner runs (shown to operators)."""
        ...

    async def hold(self, name: str, owner: str, seconds: float) -> Lease:
        """Inside a unit: renew the lease ``owner`` holds, or raise :class:`LeaseLost`."""
        ...

    async def release(self, name: str, owner: str) -> None:
        """Give the lease up at once if ``owner`` holds it (a standby takes over now)."""
        ...

    async def read(self, name: str) -> Lease | None:
        """The stored lease of ``name``, or ``None`` when no runner or request made one."""
        ...

    async def names(self) -> list[str]:
        """Every name that has a lease, held or not (a lease stays once taken or asked for),
        sorted (operators' status tools list them)."""
        ...

    async def request_rebuild(self, name: str) -> int:
        """Ask the runner of ``name`` to rebuild it; returns the request's number."""
        ...

    async def finish_rebuild(self, name: str, owner: str, number: int) -> None:
        """Inside a unit: record that ``owner`` carried out the requests up to ``number``."""
        ...


def check_lease_terms(owner: str, seconds: float) -> None:
    """Refuse an empty owner name or a lease duration that is not a positive number."""
    if not owner or len(owner) > 200:
        raise InvalidInputError("a lease owner is a name of 1 to 200 characters")
    if not seconds > 0 or seconds > 3600:
        raise InvalidInputError(f"a lease lasts more than 0 and at most 3600 s, not {seconds}")


@dataclass(slots=True)
class _Row:
    owner: str
    version: int
    expires_at: float
    requested: int = 0
    done: int = 0


class InMemoryLeases:
    """``ProjectionLeases`` in memory: the runners of one process share a backend object.

    Changes wait for the unit of work in flight (``undo``'s), as a database's row lock
    would: a runner's lease cannot be taken over in the middle of its batch."""

    def __init__(self, undo: UndoLog, clock: Callable[[], float] = time.monotonic) -> None:
        self._undo = undo
        self._clock = clock
        self._rows: dict[str, _Row] = {}

    async def acquire(self, name: str, owner: str, version: int, seconds: float) -> Lease | None:
        """See ``ProjectionLeases.acquire``."""
        check_lease_terms(owner, seconds)
        async with self._undo.unit():  # after a batch in flight, as a database would
            now = self._clock()
            row = self._rows.get(name)
            if row is None:
                row = self._rows[name] = _Row(owner, version, now + seconds)
            elif row.owner == owner or row.expires_at <= now:
                row.owner, row.version, row.expires_at = owner, version, now + seconds
            else:
                return None
            return self._lease(name, row, now)

    async def hold(self, name: str, owner: str, seconds: float) -> Lease:
        """See ``ProjectionLeases.hold``."""
        check_lease_terms(owner, seconds)
        async with self._undo.unit():
            row = self._rows.get(name)
            if row is None or row.owner != owner:
                raise lease_lost(name, owner, row.owner if row else None)
            now = self._clock()
            row.expires_at = max(row.expires_at, now + seconds)
            return self._lease(name, row, now)

    async def release(self, name: str, owner: str) -> None:
        """See ``ProjectionLeases.release``."""
        async with self._undo.unit():
            row = self._rows.get(name)
            if row is not None and row.owner == owner:
                row.expires_at = self._clock() - 1.0

    async def read(self, name: str) -> Lease | None:
        """See ``ProjectionLeases.read``."""
        row = self._rows.get(name)
        return None if row is None else self._lease(name, row, self._clock())

    async def names(self) -> list[str]:
        """See ``ProjectionLeases.names``."""
        return sorted(self._rows)

    async def request_rebuild(self, name: str) -> int:
        """See ``ProjectionLeases.request_rebuild``."""
        async with self._undo.unit():
            row = self._rows.setdefault(name, _Row("", 0, self._clock() - 1.0))
            row.requested += 1
            return row.requested

    async def finish_rebuild(self, name: str, owner: str, number: int) -> None:
        """See ``ProjectionLeases.finish_rebuild``."""
        row = self._rows.get(name)
        if row is None or row.owner != owner:
            raise lease_lost(name, owner, row.owner if row else None)
        before = row.done
        self._undo.record(lambda: setattr(row, "done", before))
        row.done = max(row.done, number)

    @staticmethod
    def _lease(name: str, row: _Row, now: float) -> Lease:
        return Lease(name, row.owner, row.version, row.expires_at - now, row.requested, row.done)


def lease_lost(name: str, owner: str, holder: str | None) -> LeaseLost:
    """The ``LeaseLost`` error for ``owner``, naming who holds the lease now."""
    taken = f"{holder!r} holds it" if holder else "nobody holds it"
    return LeaseLost(f"runner {owner!r} lost the lease of projection {name!r}: {taken}")
