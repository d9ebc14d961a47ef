"""The factory every event-store contract mixin relies on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import pytest

from forze.contracts import EventStore

__all__ = ["StoreFactory"]


class StoreFactory(ABC):
    """Declares how a contract gets a fresh, empty store."""

    @abstractmethod
    def open_store(self) -> AbstractAsyncContextManager[EventStore]:
        """An async context manager giving a new, empty store and closing it afterwards."""

    @pytest.fixture
    async def store(self) -> AsyncIterator[EventStore]:
        """A fresh store for one test."""
        async with self.open_store() as store:
            yield store
