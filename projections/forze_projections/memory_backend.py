"""``InMemoryProjectionBackend``: versioned in-memory read models with atomic units of work."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from pydantic import BaseModel

from forze.contracts import ReadModelSpec, ReadModelStore
from forze.domain.errors import WiringError
from forze_projections.errors import ProjectionFailure
from forze_projections.leases import InMemoryLeases
from forze_projections.memory import (
    InMemoryCheckpointStore,
    InMemoryReadModelStore,
    InMemoryReadModelStores,
)
from forze_projections.not_yet_live import NotYetLiveStore
from forze_projections.undo import UndoLog

__all__ = ["InMemoryProjectionBackend", "ReadModelOwners"]

M = TypeVar("M", bound=BaseModel)


class ReadModelOwners:
    """Which projection writes which read model (one owner each), shared by the backends."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    def claim(self, name: str, read_models: Sequence[ReadModelSpec[Any]]) -> None:
        """Record that projection ``name`` owns ``read_models``; a second owner is refused."""
        for spec in read_models:
            owner = self._owners.setdefault(spec.name, name)
            if owner != name:
                raise WiringError(
                    f"read model {spec.name!r} is written by projection {owner!r} already; "
                    f"{name!r} cannot write it too"
                )

    def check(self, name: str, spec: ReadModelSpec[Any]) -> None:
        """Raise ``WiringError`` unless projection ``name`` declared ``spec``."""
        if self._owners.get(spec.name) != name:
            raise WiringError(
                f"projection {name!r} writes read model {spec.name!r} without declaring it "
                "in Projection.read_models"
            )

    def owner(self, spec: ReadModelSpec[Any]) -> str:
        """The projection that writes ``spec``; ``WiringError`` when none declared it."""
        try:
            return self._owners[spec.name]
        except KeyError:
            raise WiringError(
                f"no projection declares read model {spec.name!r}: register its projection "
                "with the projector (or backend.claim) before reading it"
            ) from None


class InMemoryProjectionBackend:
    """A ``ProjectionBackend`` in memory: for tests, prototypes and the demo.

    Units of work are made atomic by an undo log, so it passes the same projector contract as
    the transactional backends.
    """

    def __init__(self) -> None:
        self._undo = UndoLog()
        self._checkpoints = InMemoryCheckpointStore(undo=self._undo)
        self._versions: dict[tuple[str, int], InMemoryReadModelStores] = {}
        self.live: dict[str, int] = {}
        """Live version per projection name."""
        self._failures: list[ProjectionFailure] = []
        self.owners = ReadModelOwners()
        self._leases = InMemoryLeases(self._undo)

    @property
    def checkpoints(self) -> InMemoryCheckpointStore:
        """See ``ProjectionBackend.checkpoints``."""
        return self._checkpoints

    @property
    def leases(self) -> InMemoryLeases:
        """See ``ProjectionBackend.leases``: shared by the projectors of this backend."""
        return self._leases

    def unit(self) -> AbstractAsyncContextManager[None]:
        """See ``ProjectionBackend.unit``."""
        return self._undo.unit()

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """See ``ProjectionBackend.savepoint``."""
        return self._undo.savepoint()

    def claim(self, name: str, read_models: Sequence[ReadModelSpec[Any]]) -> None:
        """See ``ProjectionBackend.claim``."""
        self.owners.claim(name, read_models)

    def writer(self, name: str, version: int) -> _VersionStores:
        """See ``ProjectionBackend.writer``."""
        return _VersionStores(self, name, version)

    def serving(self) -> _ServingStores:
        """See ``ProjectionBackend.serving``."""
        return _ServingStores(self)

    async def live_version(self, name: str) -> int | None:
        """See ``ProjectionBackend.live_version``."""
        return self.live.get(name)

    async def set_live(self, name: str, version: int) -> None:
        """See ``ProjectionBackend.set_live``."""
        previous = self.live.get(name)

        def put_back() -> None:
            if previous is None:
                self.live.pop(name, None)
            else:
                self.live[name] = previous

        self._undo.record(put_back)
        self.live[name] = version

    async def drop(self, name: str, version: int) -> None:
        """See ``ProjectionBackend.drop``."""
        dropped = self._versions.pop((name, version), None)
        if dropped is not None:

            def put_back() -> None:
                self._versions[(name, version)] = dropped

            self._undo.record(put_back)

    async def caught_up(self, name: str, version: int) -> None:
        """See ``ProjectionBackend.caught_up``: nothing is deferred here."""

    async def record_failure(self, failure: ProjectionFailure) -> None:
        """See ``ProjectionBackend.record_failure``."""
        self._failures.append(failure)

    async def failures(self, name: str) -> list[ProjectionFailure]:
        """See ``ProjectionBackend.failures``."""
        return [f for f in self._failures if f.projection == name]

    def stores_of(self, name: str, version: int) -> InMemoryReadModelStores:
        """The read-model stores of one projection version (created on first use)."""
        stores = self._versions.get((name, version))
        if stores is None:
            stores = self._versions[(name, version)] = InMemoryReadModelStores(undo=self._undo)
        return stores


class _VersionStores:
    """The ``ReadModelStores`` one projection version writes."""

    def __init__(self, backend: InMemoryProjectionBackend, name: str, version: int) -> None:
        self._backend, self._name, self._version = backend, name, version

    def __call__(self, spec: ReadModelSpec[M]) -> InMemoryReadModelStore[M]:
        self._backend.owners.check(self._name, spec)
        return self._backend.stores_of(self._name, self._version)(spec)


class _ServingStores:
    """The ``ReadModelStores`` readers use: each read model's live version."""

    def __init__(self, backend: InMemoryProjectionBackend) -> None:
        self._backend = backend

    def __call__(self, spec: ReadModelSpec[M]) -> ReadModelStore[M]:
        """The live version's store, or a :class:`NotYetLiveStore` before the first (also
        when no projection in this process declared ``spec`` yet)."""
        try:
            owner = self._backend.owners.owner(spec)
        except WiringError:
            return NotYetLiveStore(spec)
        live = self._backend.live.get(owner)
        if live is None:
            return NotYetLiveStore(spec)
        return self._backend.stores_of(owner, live)(spec)
