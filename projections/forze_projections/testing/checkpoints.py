"""The checkpoint-store contract."""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta

import pytest

from forze.contracts import (
    CheckpointStore,
)
from forze.domain.errors import InvalidInputError

__all__ = ["CheckpointStoreContract"]

_CLOCKS = timedelta(seconds=1)
"""How far the store's clock (a database server's) may be from this process's."""


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

    async def test_all_lists_every_stored_checkpoint_and_forgets_a_reset_one(
        self, checkpoints: CheckpointStore
    ) -> None:
        assert await checkpoints.all() == {}
        await checkpoints.save("orders@v1", 5)
        await checkpoints.save("relay:bus", 9)
        await checkpoints.save("audit@v2", 1)
        await checkpoints.reset("audit@v2")
        assert await checkpoints.all() == {"orders@v1": 5, "relay:bus": 9}

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

    @pytest.mark.parametrize(
        "bad", ["\x00", "\ud800", "\ud83d\ude00"], ids=["nul", "surrogate", "paired-surrogates"]
    )
    async def test_a_consumer_name_with_nul_or_a_surrogate_is_refused(
        self, checkpoints: CheckpointStore, bad: str
    ) -> None:
        await checkpoints.save("relay-😀", 4)
        assert await checkpoints.load("relay-😀") == 4
        with pytest.raises(InvalidInputError, match="checkpoint name"):
            await checkpoints.save(f"relay{bad}", 5)
        with pytest.raises(InvalidInputError, match="checkpoint name"):
            await checkpoints.load(f"relay{bad}")
        with pytest.raises(InvalidInputError, match="checkpoint name"):
            await checkpoints.reset(f"relay{bad}")

    async def test_a_position_beyond_what_any_store_holds_is_refused(
        self, checkpoints: CheckpointStore
    ) -> None:
        await checkpoints.save("relay", 2**63 - 1)
        assert await checkpoints.load("relay") == 2**63 - 1
        for position in (2**63, 2**64, -1, True, 1.5):
            with pytest.raises(InvalidInputError, match="checkpoint position"):
                await checkpoints.save("other", position)  # type: ignore[arg-type]
        assert await checkpoints.load("other") == 0

    async def test_moved_at_tells_when_the_checkpoint_last_moved_forward(
        self, checkpoints: CheckpointStore
    ) -> None:
        assert await checkpoints.moved_at("relay") is None
        before = datetime.now(UTC) - _CLOCKS
        await checkpoints.save("relay", 5)
        first = await checkpoints.moved_at("relay")
        assert first is not None
        assert before <= first <= datetime.now(UTC) + _CLOCKS
        await asyncio.sleep(0.02)
        await checkpoints.save("relay", 5)
        await checkpoints.save("relay", 3)
        assert await checkpoints.moved_at("relay") == first  # saves that did not move it
        await checkpoints.save("relay", 6)
        moved = await checkpoints.moved_at("relay")
        assert moved is not None
        assert moved > first
        await checkpoints.reset("relay")
        assert await checkpoints.moved_at("relay") is None
