"""``SqsDelivery``: one received SQS message, settled once, kept invisible while unsettled."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from forze.contracts import Message
from forze.domain.errors import BrokerUnavailable

if TYPE_CHECKING:
    from .subscriber import SqsSubscriber

__all__ = ["SqsDelivery"]

_LONGEST_VISIBILITY = 43_200
"""SQS's longest visibility timeout (12 hours)."""


class SqsDelivery:
    """A message received from SQS; ``ack``, ``retry`` or ``dead_letter`` it exactly once."""

    def __init__(
        self,
        subscriber: SqsSubscriber,
        message: Message,
        attempt: int,
        receipt: str,
        raw: Mapping[str, Any],
    ) -> None:
        self._subscriber = subscriber
        self._message = message
        self._attempt = attempt
        self._raw = raw
        self._heartbeat: asyncio.Task[None] | None = None
        self._settled = False
        self.receipt = receipt
        """The receipt handle of this receive."""

    @property
    def message(self) -> Message:
        """The message as received (``destination``: the queue name)."""
        return self._message

    @property
    def key(self) -> str:
        """The ordering key (one delivery of a key is unsettled at a time)."""
        return self._message.ordering_key

    @property
    def attempt(self) -> int:
        """SQS's ApproximateReceiveCount: 1 for the first delivery."""
        return self._attempt

    async def ack(self) -> None:
        """Delete the message."""
        self.settling()
        await self._subscriber.delete(self.receipt)

    async def retry(self, delay_seconds: float) -> None:
        """Make the message visible again after about ``delay_seconds`` (whole seconds)."""
        later = self._subscriber.take_held(self.key)  # the key's later ones go back after it
        self.settling()
        seconds = min(max(round(delay_seconds), 0), _LONGEST_VISIBILITY)
        try:
            await self._subscriber.change_visibility(self.receipt, seconds)
        finally:
            await self._subscriber.give_back(later)

    async def dead_letter(self, reason: str) -> None:
        """Copy the message with ``reason`` to the dead-letter queue, then delete it."""
        self.settling()
        await self._subscriber.dead_letter(self._raw, reason)
        await self._subscriber.delete(self.receipt)

    def settling(self) -> None:
        """Mark settled: stop the heartbeat; a second settlement is an error."""
        if self._settled:
            raise RuntimeError(f"message {self._message.id!r} was already settled")
        self._settled = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        self._subscriber.forget(self)

    def keep_visible(self, visibility_timeout: int) -> None:
        """Start a heartbeat extending the visibility timeout until the message is settled."""
        self._heartbeat = asyncio.create_task(self._beat(visibility_timeout))

    async def _beat(self, visibility_timeout: int) -> None:
        interval = max(visibility_timeout / 2, 0.5)
        with contextlib.suppress(BrokerUnavailable):
            while not self._settled:
                await asyncio.sleep(interval)
                await self._subscriber.change_visibility(self.receipt, visibility_timeout)
