"""A projection as the engine's work: pages of events become read-model documents."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field

from forze.contracts import RecordedEvent
from forze_projections._batches import apply_batch, failure_record, note_empty
from forze_projections._held_lease import HeldLease
from forze_projections.backend import ProjectionBackend
from forze_projections.buffered import DocumentCache
from forze_projections.errors import EventFailed
from forze_projections.projection import Projection
from forze_projections.status import FailurePolicy

__all__ = ["ProjectionWork"]


@dataclass(frozen=True, slots=True)
class ProjectionWork:
    """``FeedWork`` of one projection version on a backend (see ``Projector``)."""

    projection: Projection
    backend: ProjectionBackend
    policy: FailurePolicy
    cache_size: int

    @property
    def name(self) -> str:
        """The projection's name."""
        return self.projection.name

    @property
    def version(self) -> int:
        """The projection's version."""
        return self.projection.version

    @property
    def checkpoint_name(self) -> str:
        """The checkpoint of this version."""
        return self.projection.checkpoint_name

    @property
    def event_types(self) -> Collection[str]:
        """The types the projection handles."""
        return self.projection.event_types

    @property
    def categories(self) -> None:
        """Every category: a projection picks events by type."""
        return None

    async def checkpoint(self) -> int:
        """The checkpoint of this version."""
        return await self.backend.checkpoints.load(self.checkpoint_name)

    async def begin(self, held: HeldLease) -> _ProjectionRun:
        """Start a run: the version becomes live if none is, and empty read models are noted
        (a projection from 0 then reads no document it has not written)."""
        name, version = self.name, self.version
        held.check()
        live = await self.backend.live_version(name)
        if live is None:
            async with self.commit_hook(None), self.backend.unit():
                await held.fence()
                await self.backend.set_live(name, version)
            live = version
        cache = DocumentCache(self.cache_size)
        if await self.checkpoint() == 0:
            await note_empty(self.backend, self.projection, cache)
        return _ProjectionRun(self, held, cache, cut_over=live < version)

    async def start_over(self, held: HeldLease, number: int | None) -> None:
        """Forget the checkpoint and documents of this version in one unit that holds the
        lease, and record rebuild request ``number`` as carried out."""
        backend = self.backend
        live = await backend.live_version(self.name) == self.version
        async with self.commit_hook(None) if live else nullcontext(), backend.unit():
            await held.fence()
            await backend.checkpoints.reset(self.checkpoint_name)
            await backend.drop(self.name, self.version)
            if number is not None:
                await backend.leases.finish_rebuild(self.name, held.owner, number)

    async def record_failure(self, failure: EventFailed) -> None:
        """Keep the failure in the backend's failures."""
        await self.backend.record_failure(failure_record(failure))

    def commit_hook(
        self, events: Sequence[RecordedEvent] | None
    ) -> AbstractAsyncContextManager[None]:
        """The projection's ``CommitHook`` (if any) around a unit that changes what readers
        see: ``events`` applied to the live version, or ``None`` for any document."""
        hook = self.projection.commit_hook
        return nullcontext() if hook is None else hook.around(events)


@dataclass(slots=True)
class _ProjectionRun:
    work: ProjectionWork
    held: HeldLease
    cache: DocumentCache
    cut_over: bool = field(default=False)
    """Whether an older version serves: this one goes live in the unit that reaches the head."""

    async def apply(
        self, page: Sequence[RecordedEvent], after: int, scanned: int, *, reached: bool
    ) -> None:
        """Apply ``page`` and its checkpoint in one unit of work that holds the lease."""
        work = self.work
        go_live = self.cut_over and reached
        seen: AbstractAsyncContextManager[None] = nullcontext()
        if go_live:
            seen = work.commit_hook(None)  # every document readers see changes at once
        elif not self.cut_over:  # else readers see an older version's documents
            seen = work.commit_hook(page)
        async with seen:
            await apply_batch(
                work.backend,
                work.policy,
                work.projection,
                page,
                after,
                scanned,
                self.cache,
                go_live=go_live,
                reached=reached,
                fence=self.held.fence,
            )
        if reached:
            self.cut_over = False
