"""``RepositoryBase``: what every aggregate repository derives from ``load`` and ``save``."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

from forze.contracts import AppendResult
from forze.domain.aggregate import Aggregate
from forze.domain.errors import ConcurrencyError, StreamNotFound
from forze.domain.spec import AggregateSpec
from forze.execution.backoff import Backoff

__all__ = ["RepositoryBase"]

A = TypeVar("A", bound=Aggregate[Any])
R = TypeVar("R")

CONFLICTS = Backoff(0.002, 0.2, jitter=1.0)
"""Waits between the retries of ``execute`` after a ``ConcurrencyError`` (jittered, so that
the writers that collided do not collide again)."""


class RepositoryBase(ABC, Generic[A]):
    """``edit``, ``create`` and ``execute`` of ``AggregateRepository``, written once over a
    repository's own :meth:`load` and :meth:`save` (so a save is always the repository's)."""

    @property
    @abstractmethod
    def spec(self) -> AggregateSpec[A]:
        """The spec this repository serves."""

    @abstractmethod
    async def load(self, aggregate_id: str, *, at_version: int | None = None) -> A:
        """See ``AggregateRepository.load``."""

    @abstractmethod
    async def save(self, aggregate: A) -> AppendResult | None:
        """See ``AggregateRepository.save``."""

    def _retries(self, retries: int) -> int:
        """How many times ``execute`` tries again after a conflict (``retries`` unless a
        subclass knows better)."""
        return retries

    @asynccontextmanager
    async def edit(self, aggregate_id: str) -> AsyncIterator[A]:
        """See ``AggregateRepository.edit``."""
        aggregate = await self.load(aggregate_id)
        yield aggregate
        await self.save(aggregate)

    @asynccontextmanager
    async def create(self, aggregate_id: str) -> AsyncIterator[A]:
        """See ``AggregateRepository.create``."""
        aggregate = self.spec.new(aggregate_id)
        self.spec.stream_id(aggregate_id)
        yield aggregate
        await self.save(aggregate)

    async def execute(self, aggregate_id: str, action: Callable[[A], R], *, retries: int = 3) -> R:
        """See ``AggregateRepository.execute``; a missing stream starts from an empty aggregate."""
        retries = self._retries(retries)
        for attempt in range(retries + 1):
            try:
                aggregate = await self.load(aggregate_id)
            except StreamNotFound:
                aggregate = self.spec.new(aggregate_id)
            result = action(aggregate)
            try:
                await self.save(aggregate)
            except ConcurrencyError:
                if attempt == retries:
                    raise
                await asyncio.sleep(CONFLICTS.delay(attempt + 1))
                continue
            return result
        raise AssertionError("unreachable")
