"""The checkpoint-store contract."""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod

import pytest

from forze.contracts import (
    CheckpointStore,
)

__all__ = ["CheckpointStoreContract"]


class CheckpointStoreContract(ABC):
    """Behaviour every :class:`forze.contracts.CheckpointStore` adapter has."""

    @abstractmethod
    def make_checkpoints(self) -> CheckpointStore:
        """A new checkpoint store in which no consumer has a checkpoint."""

    @pytest.fixture
    def checkpoints(self) -> CheckpointStore:
        """The checkpoint store under test."""
        return self.make_checkpoints()

    async def test_a_consumer_that_never_ran_starts_at_zero(
        self, checkpoints: CheckpointStore
    ) -> None:
        assert await checkpoints.load("orders_projection") == 0

    async def test_a_saved_checkpoint_is_loaded_back(self, checkpoints: CheckpointStore) -> None:
        await checkpoints.save("orders_projection", 42)
        assert await checkpoints.load("orders_projection") == 42

    async def test_a_saved_checkpoint_never_moves_backwards(
        self, checkpoints: CheckpointStore
    ) -> None:
        await checkpoints.save("relay", 10)
        await checkpoints.save("relay", 7)
        assert await checkpoints.load("relay") == 10

    async def test_concurrent_saves_keep_the_highest_position(
        self, checkpoints: CheckpointStore
    ) -> None:
        positions = random.Random(7).sample(range(1, 101), 100)
        await asyncio.gather(*(checkpoints.save("relay", p) for p in positions))
        assert await checkpoints.load("relay") == 100

    async def test_reset_makes_a_consumer_start_from_the_beginning(
        self, checkpoints: CheckpointStore
    ) -> None:
        await checkpoints.save("relay", 10)
        await checkpoints.reset("relay")
        assert await checkpoints.load("relay") == 0
        await checkpoints.save("relay", 3)
        assert await checkpoints.load("relay") == 3

    async def test_consumers_are_independent(self, checkpoints: CheckpointStore) -> None:
        await checkpoints.save("a", 5)
        await checkpoints.save("b", 9)
        await checkpoints.reset("b")
        assert await checkpoints.load("a") == 5
