"""The port a projector writes through: read models by version, checkpoints, units of work."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from forze.contracts import CheckpointStore, ReadModelSpec, ReadModelStores
from forze_projections.errors import ProjectionFailure
from forze_projections.leases import ProjectionLeases

__all__ = ["ProjectionBackend"]


class ProjectionBackend(Protocol):
    """Storage for projections: versioned read models, checkpoints and atomic units of work.

    Guarantees every backend keeps (``forze_projections.testing.ProjectorContract``):

    - ``unit()`` is atomic: read-model writes and checkpoint saves made inside it by the
      calling task all persist or, when the block raises, none do (SQL transactions; an undo
      log in memory). ``savepoint()`` nested in a unit undoes only its own block.
    - Read models are stored per projection version: ``writer(name, version)`` writes version
      ``version``'s documents, which ``serving()`` exposes only once that version is live, so a
      rebuild never disturbs readers of the live version.
    - ``set_live`` inside a unit commits with that unit (the cut-over is atomic).
    - ``leases`` keep one runner per projection across every process sharing the backend
      (``forze_projections.testing.LeaseContract``).
    """

    @property
    def checkpoints(self) -> CheckpointStore:
        """Checkpoints of every projection version (named ``name@vN``)."""
        ...

    @property
    def leases(self) -> ProjectionLeases:
        """The projections' leases: one runner per projection across processes."""
        ...

    def unit(self) -> AbstractAsyncContextManager[None]:
        """An atomic unit of work for the calling task."""
        ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """Inside a unit: a block whose writes alone are undone if it raises."""
        ...

    def writer(self, name: str, version: int) -> ReadModelStores:
        """The stores version ``version`` of projection ``name`` writes."""
        ...

    def serving(self) -> ReadModelStores:
        """The stores readers use: each read model's live version."""
        ...

    def claim(self, name: str, read_models: Sequence[ReadModelSpec[Any]]) -> None:
        """Declare that projection ``name`` owns ``read_models`` (one owner per read model)."""
        ...

    async def live_version(self, name: str) -> int | None:
        """The version of projection ``name`` readers see, or ``None`` before the first."""
        ...

    async def set_live(self, name: str, version: int) -> None:
        """Make ``version`` the one readers see (the cut-over of a rebuild)."""
        ...

    async def drop(self, name: str, version: int) -> None:
        """Delete the documents of one version of a projection (reset or cleanup)."""
        ...

    async def caught_up(self, name: str, version: int) -> None:
        """Inside the unit in which a projector's run first reaches the head with version
        ``version`` of ``name``: finish what the backend deferred while that version was
        being built (PostgreSQL creates a rebuilt read model's secondary indexes)."""
        ...

    async def record_failure(self, failure: ProjectionFailure) -> None:
        """Keep a failure (a skipped event) for operators to inspect."""
        ...

    async def failures(self, name: str) -> list[ProjectionFailure]:
        """The recorded failures of projection ``name`` (any version), oldest first."""
        ...
