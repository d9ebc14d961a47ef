"""In-memory idempotency store and an in-process saga runner.

Apart from running saga handlers, no method awaits while it reads and writes its state, so each
operation is atomic with respect to other asyncio tasks of the same event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from forze.contracts import RecordedEvent
from forze.domain.errors import InvalidInputError, WiringError
from forze_mock.memory_storage import Clock, _expiry_of

__all__ = [
    "InMemoryIdempotencyStore",
    "InProcessSagaRunner",
    "SagaHandler",
]

SagaHandler = Callable[[str, RecordedEvent], Awaitable[None]]
"""Handles one event for the saga instance named by the first argument (its key)."""


@dataclass(slots=True)
class _Claim:
    expires_at: float | None
    result_json: str | None = None


class InMemoryIdempotencyStore:
    """A :class:`forze.contracts.IdempotencyStore` held in a dict; expiry follows ``clock``.

    Results are kept as JSON text, so a result that is not JSON-able is rejected with
    ``InvalidInputError`` and every ``result`` call returns a fresh copy.
    """

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._claims: dict[str, _Claim] = {}

    def _live(self, key: str) -> _Claim | None:
        claim = self._claims.get(key)
        if claim is None:
            return None
        if claim.expires_at is not None and self._clock() >= claim.expires_at:
            del self._claims[key]
            return None
        return claim

    async def reserve(self, key: str, *, ttl_seconds: float | None = None) -> bool:
        """Claim ``key`` until ``ttl_seconds`` pass (forever without it); ``False`` if taken."""
        if self._live(key) is not None:
            return False
        self._claims[key] = _Claim(_expiry_of(self._clock, ttl_seconds))
        return True

    async def complete(self, key: str, result: Mapping[str, Any]) -> None:
        """Store ``result`` for ``key``; it expires with the key's reservation (if it had one)."""
        try:
            result_json = json.dumps(dict(result), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise InvalidInputError(f"the result of {key!r} is not JSON-able: {error}") from error
        claim = self._live(key)
        if claim is None:
            self._claims[key] = _Claim(None, result_json)
        else:
            claim.result_json = result_json

    async def result(self, key: str) -> Mapping[str, Any] | None:
        """A copy of the stored result of a completed key, or ``None``."""
        claim = self._live(key)
        if claim is None or claim.result_json is None:
            return None
        loaded: dict[str, Any] = json.loads(claim.result_json)
        return loaded

    async def release(self, key: str) -> None:
        """Drop the claim (and any result) so that the key can be reserved again."""
        self._claims.pop(key, None)


@dataclass(slots=True)
class _Instance:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    handled: set[UUID] = field(default_factory=set)


class InProcessSagaRunner:
    """A :class:`forze.contracts.SagaRunner` that runs registered saga handlers in-process.

    An instance ``(saga, key)`` starts with the first delivery to it. Events of one instance are
    handled one at a time, in delivery order; instances never wait for each other. An event id
    an instance handled successfully is remembered for the life of the runner, so delivering
    it again does nothing. When a handler raises, the error propagates to the caller of
    ``deliver`` and the event is not marked handled, so a redelivery runs it again.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, SagaHandler] = {}
        self._instances: dict[str, dict[str, _Instance]] = {}

    def register(self, saga: str, handler: SagaHandler) -> None:
        """Run ``handler`` for the events delivered to ``saga``; ``WiringError`` if taken."""
        if saga in self._handlers:
            raise WiringError(f"saga {saga!r} is already registered")
        self._handlers[saga] = handler
        self._instances[saga] = {}

    async def deliver(self, saga: str, key: str, event: RecordedEvent) -> None:
        """Run the saga's handler for instance ``key`` unless it already handled ``event``."""
        handler = self._handler(saga)
        instance = self._instances[saga].setdefault(key, _Instance())
        async with instance.lock:
            if event.event_id in instance.handled:
                return
            await handler(key, event)
            instance.handled.add(event.event_id)

    def instances(self, saga: str) -> list[str]:
        """The keys of the started instances of ``saga``, in the order they started."""
        self._handler(saga)
        return list(self._instances[saga])

    def _handler(self, saga: str) -> SagaHandler:
        handler = self._handlers.get(saga)
        if handler is None:
            known = ", ".join(sorted(self._handlers)) or "none"
            raise WiringError(f"no saga {saga!r} is registered (registered: {known})")
        return handler
