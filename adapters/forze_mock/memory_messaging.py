"""The in-memory idempotency store.

No method awaits while it reads and writes its state, so each
operation is atomic with respect to other asyncio tasks of the same event loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from forze.domain.errors import InvalidInputError
from forze_mock.memory_storage import Clock, _expiry_of

__all__ = ["InMemoryIdempotencyStore"]


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
