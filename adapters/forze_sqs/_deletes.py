"""Acks as DeleteMessageBatch calls: deletes asked for while one call is in flight share the next.

A consumer acks each message as its handler returns, many handlers at once. Each ack waits
here for its own entry's outcome, so ``ack()`` still returns only once SQS deleted the message,
but the acks that arrive together (in one event-loop turn, or while the previous call is in
flight) go out as one DeleteMessageBatch of up to 10 entries. An idle subscriber pays one round
trip per ack, as before; a busy one a tenth of the calls (the batching the AWS SDKs' buffered
clients do, without their fixed delay).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from forze.domain.errors import BrokerUnavailable

__all__ = ["DeleteBatcher"]

BATCH_LIMIT = 10
"""SQS's most entries in one DeleteMessageBatch."""

DeleteBatch = Callable[[list[dict[str, str]]], Awaitable[dict[str, Any]]]
"""Sends one DeleteMessageBatch with these entries and returns SQS's answer."""


class DeleteBatcher:
    """Coalesces deletes of one queue into DeleteMessageBatch calls, one call at a time."""

    def __init__(self, send: DeleteBatch) -> None:
        self._send = send
        self._waiting: list[tuple[str, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def delete(self, receipt: str) -> None:
        """Delete the message received with ``receipt``; returns once SQS deleted it
        (``BrokerUnavailable`` when the call, or this entry of it, failed)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((receipt, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        # A cancelled ack leaves its entry in the batch: deleting it is what it asked for.
        await asyncio.shield(done)

    async def wait_idle(self) -> None:
        """Until every delete asked for so far has been answered (for ``close``)."""
        while self._flushing is not None and not self._flushing.done():
            await asyncio.wait({self._flushing})

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # the acks of this event-loop turn join the first call
        while self._waiting:
            chunk, self._waiting = self._waiting[:BATCH_LIMIT], self._waiting[BATCH_LIMIT:]
            entries = [{"Id": str(i), "ReceiptHandle": r} for i, (r, _) in enumerate(chunk)]
            try:
                answer = await self._send(entries)
            except BaseException as error:
                for _, done in chunk:
                    _settle(done, error)
                if not isinstance(error, Exception):
                    raise
                continue
            failed = {str(f.get("Id")): f for f in answer.get("Failed") or []}
            for i, (_, done) in enumerate(chunk):
                failure = failed.get(str(i))
                if failure is None:
                    _settle(done, None)
                else:
                    code, text = failure.get("Code", "?"), failure.get("Message", "")
                    _settle(done, BrokerUnavailable(f"SQS did not delete a message: {code} {text}"))


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    """Answer one waiting delete (whose caller may have been cancelled meanwhile)."""
    if done.done():
        return
    if error is None:
        done.set_result(None)
    elif isinstance(error, Exception):
        done.set_exception(error)
        done.add_done_callback(_seen)
    else:
        done.cancel()


def _seen(done: asyncio.Future[None]) -> None:
    """Mark the error seen: a cancelled ack's caller never awaits it (no "never retrieved")."""
    done.exception()
