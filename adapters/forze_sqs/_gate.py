"""One delivery per ordering key at a time: later ones wait, received, until it is settled."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, Protocol, TypeVar


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


_D = TypeVar("_D", bound=_Keyed)


class KeyGate(Generic[_D]):
    """Hands out deliveries so that each ordering key has at most one unsettled outside.

    SQS returns several messages of one FIFO group in one receive; handing them all out would
    let a consumer handle them concurrently, out of order. The later ones are held (still
    invisible to other consumers) and handed out once the one before is settled.
    """

    def __init__(self) -> None:
        self._out: set[str] = set()
        self._held: dict[str, deque[_D]] = {}
        self.freed = asyncio.Event()
        """Set when a key's delivery is settled (clear it before waiting on it)."""

    @property
    def holding(self) -> bool:
        """Whether deliveries are held, waiting for their key to be free."""
        return bool(self._held)

    def ready(self, limit: int) -> list[_D]:
        """Held deliveries whose key is free now, at most ``limit``, one per key."""
        given: list[_D] = []
        for key in list(self._held):
            if len(given) >= limit:
                break
            if key not in self._out:
                given.append(self._hand_out(self._held[key].popleft()))
                if not self._held[key]:
                    del self._held[key]
        return given

    def admit(self, received: list[_D], limit: int) -> list[_D]:
        """Of newly ``received`` deliveries, those to hand out now (the rest are held)."""
        given: list[_D] = []
        for delivery in received:
            key = delivery.key
            if key in self._out or key in self._held or len(given) >= limit:
                self._held.setdefault(key, deque()).append(delivery)
            else:
                given.append(self._hand_out(delivery))
        return given

    def settled(self, key: str) -> None:
        """The delivery of ``key`` handed out was settled."""
        self._out.discard(key)
        self.freed.set()

    def release(self, key: str) -> list[_D]:
        """Drop and return the deliveries held for ``key`` (to give them back to SQS)."""
        return list(self._held.pop(key, ()))

    def _hand_out(self, delivery: _D) -> _D:
        self._out.add(delivery.key)
        return delivery
