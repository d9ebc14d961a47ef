"""``RedisStreamSubscriber``: one consumer of a Redis stream's consumer group.

What Redis guarantees and what this adds:

- The group hands each new entry to one consumer, in stream order. An entry stays in the
  group's pending list until XACK; its delivery count is the ``attempt``.
- Entries pending longer than ``claim_after_seconds`` (their consumer crashed or is stuck)
  are taken over with XAUTOCLAIM by whichever consumer receives next.
- Per ordering key (the ``subject``), a subscriber hands out one entry at a time: later
  entries of a key whose earlier one is unsettled (or waiting for its retry) are held in the
  subscriber, pending in Redis, until it is acked or dead-lettered. So one consumer keeps each
  key's order, retries included. With several consumers in one group, order per key is *not*
  guaranteed: the group spreads entries over consumers.
- ``retry(delay)`` keeps the entry pending under this consumer and claims it again (XCLAIM,
  which counts a delivery) once the delay passed. Entries the subscriber holds (waiting for a
  retry or behind their key) are kept fresh with XCLAIM JUSTID, so other consumers do not
  take them over while this one is alive.
- ``close()`` marks what it holds as idle for long (XCLAIM IDLE), so the next consumer
  takes it over at once; an entry waiting for its retry keeps the rest of its delay.
- An entry that does not carry a valid envelope is dead-lettered by the subscriber itself,
  with the ``MalformedMessage`` text as the reason, and never handed out; so is an entry
  delivered more than ``max_deliveries`` times.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from redis.typing import EncodableT, FieldT, StreamIdT

from forze.contracts import Message
from forze.domain.errors import BrokerUnavailable, InvalidInputError, MalformedMessage
from forze_redis._connection import DEFAULT_TIMEOUT, call, guarded
from forze_redis._entries import ATTEMPTS_FIELD, REASON_FIELD, RawFields, decode_entry, text

__all__ = ["RedisStreamSubscriber"]

_POLL = 1.0
"""Longest single XREADGROUP block, so retries and held entries are looked after."""
_HELD_POLL = 0.005
"""Longest XREADGROUP block while entries wait behind a busy key: a block on the server
cannot be woken when that key's delivery is settled, so it is kept short enough for the
next entry of the key to go out within milliseconds."""
_MAX_BEHIND = 1000
"""Entries held behind their key after which no new entries are read (a stuck key)."""
_RELEASED_IDLE_MS = 10**9
"""The idle time ``close`` gives what it held: older than any ``claim_after_seconds``."""


@dataclass(slots=True)
class _Held:
    entry_id: str
    fields: RawFields
    message: Message
    attempt: int
    due: float = 0.0


class RedisStreamSubscriber:
    """A :class:`forze.contracts.Subscriber` of ``group`` on ``stream`` (see the module doc).

    The group is created on first use (MKSTREAM) from ``start``: ``"0"`` (the whole stream)
    or ``"$"`` (only entries added later). ``consumer`` defaults to a unique name per
    instance. Dead letters go to ``dead_letter_stream`` (``<stream>:dead``), each with the
    entry's fields plus ``reason`` and ``attempts``. ``close`` closes ``client``.
    """

    def __init__(
        self,
        client: Redis,
        stream: str,
        group: str,
        *,
        consumer: str | None = None,
        start: str = "0",
        claim_after_seconds: float = 30.0,
        max_deliveries: int | None = None,
        dead_letter_stream: str | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not stream or not group:
            raise InvalidInputError("a stream subscriber needs a stream and a group")
        if claim_after_seconds <= 0:
            raise InvalidInputError("claim_after_seconds must be positive")
        self._client, self._stream, self._group = client, stream, group
        self.consumer = consumer or f"{os.getpid()}-{uuid4().hex[:12]}"
        self._start = start
        self._claim_after_ms = int(claim_after_seconds * 1000)
        self._max_deliveries = max_deliveries
        self.dead_letter_stream = dead_letter_stream or f"{stream}:dead"
        self._timeout = timeout_seconds
        self._group_ready = False
        self._closed = False
        self._busy: dict[str, str] = {}
        self._in_flight: dict[str, _Held] = {}
        self._waiting: dict[str, _Held] = {}
        self._behind: list[_Held] = []
        self._kept_at = float("-inf")

    async def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 1.0
    ) -> Sequence[_RedisDelivery]:
        """See ``Subscriber.receive``: due retries, held entries, taken-over entries, then new
        ones (XREADGROUP BLOCK), at most one per ordering key."""
        if max_messages < 1:
            raise InvalidInputError("max_messages must be >= 1")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(wait_seconds, 0.0)
        while not self._closed:
            ready: list[_Held] = []
            block = self._block_seconds(deadline - loop.time())
            async with guarded(f"receive from {self._stream}", self._timeout + block):
                await self._ensure_group()
                await self._keep_held()
                ready += await self._due_retries(max_messages)
                ready += self._admit_behind(max_messages - len(ready))
                if len(ready) < max_messages:
                    ready += await self._fetch(max_messages - len(ready), block if not ready else 0)
            if ready:
                return [_RedisDelivery(self, held) for held in ready]
            if loop.time() >= deadline:
                return []
        return []

    def _block_seconds(self, left: float) -> float:
        if left <= 0:
            return 0.0
        now = time.monotonic()
        dues = [held.due - now for held in self._waiting.values()]
        longest = _HELD_POLL if self._behind else _POLL
        return max(0.001, min([left, longest, *dues]))

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await call(
                self._client.xgroup_create(self._stream, self._group, id=self._start, mkstream=True)
            )
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    async def _keep_held(self) -> None:
        """Reset the idle time of the entries held here (so no other consumer takes them over),
        at most every ``_POLL`` seconds and well within ``claim_after_seconds``."""
        now = time.monotonic()
        if now - self._kept_at < min(_POLL, self._claim_after_ms / 4000):
            return
        self._kept_at = now
        ids: list[StreamIdT] = [held.entry_id for held in (*self._waiting.values(), *self._behind)]
        if ids:
            await call(
                self._client.xclaim(self._stream, self._group, self.consumer, 0, ids, justid=True)
            )

    async def _due_retries(self, limit: int) -> list[_Held]:
        now = time.monotonic()
        due = [held for held in self._waiting.values() if held.due <= now][:limit]
        if not due:
            return []
        ids: list[StreamIdT] = [held.entry_id for held in due]
        claimed: list[Any] = await call(
            self._client.xclaim(self._stream, self._group, self.consumer, 0, ids)
        )
        present = {text(entry_id) for entry_id, fields in claimed if fields is not None}
        ready = []
        for held in due:
            del self._waiting[held.entry_id]
            if held.entry_id in present:
                held.attempt += 1
                self._in_flight[held.entry_id] = held
                ready.append(held)
            else:
                self._free(held)
        return ready

    def _admit_behind(self, limit: int) -> list[_Held]:
        ready: list[_Held] = []
        for held in list(self._behind):
            if len(ready) >= limit:
                break
            if self._admit(held):
                self._behind.remove(held)
                ready.append(held)
        return ready

    def _admit(self, held: _Held) -> bool:
        key = held.message.ordering_key
        if key and self._busy.get(key, held.entry_id) != held.entry_id:
            return False
        if key:
            self._busy[key] = held.entry_id
        self._in_flight[held.entry_id] = held
        return True

    def _free(self, held: _Held) -> None:
        key = held.message.ordering_key
        if self._busy.get(key) == held.entry_id:
            del self._busy[key]

    async def _fetch(self, limit: int, block: float) -> list[_Held]:
        entries = await self._taken_over(limit)
        if not entries and len(self._behind) < _MAX_BEHIND:
            streams: list[Any] = await call(
                self._client.xreadgroup(
                    self._group,
                    self.consumer,
                    {self._stream: ">"},
                    count=limit,
                    block=int(block * 1000) if block > 0 else None,
                )
            )
            entries = [(text(i), f, 1) for _, found in streams or [] for i, f in found]
        ready: list[_Held] = []
        for entry_id, fields, attempt in entries:
            held = await self._decoded(entry_id, fields, attempt)
            if held is None:
                continue
            if len(ready) < limit and self._admit(held):
                ready.append(held)
            else:
                self._behind.append(held)
        return ready

    async def _taken_over(self, limit: int) -> list[tuple[str, RawFields, int]]:
        answer: list[Any] = await call(
            self._client.xautoclaim(
                self._stream, self._group, self.consumer, self._claim_after_ms, "0-0", count=limit
            )
        )
        entries = [(text(i), f) for i, f in answer[1] if f is not None]
        if not entries:
            return []
        async with self._client.pipeline(transaction=False) as pipe:
            for entry_id, _ in entries:
                pipe.xpending_range(self._stream, self._group, entry_id, entry_id, 1)
            pending: list[list[dict[str, Any]]] = await pipe.execute()
        return [
            (entry_id, fields, int(info[0]["times_delivered"]) if info else 1)
            for (entry_id, fields), info in zip(entries, pending, strict=True)
        ]

    async def _decoded(self, entry_id: str, fields: RawFields, attempt: int) -> _Held | None:
        try:
            message = decode_entry(fields, self._stream)
        except MalformedMessage as error:
            await self._bury(entry_id, fields, str(error), attempt)
            return None
        if self._max_deliveries is not None and attempt > self._max_deliveries:
            reason = f"delivered more than {self._max_deliveries} times without an ack"
            await self._bury(entry_id, fields, reason, attempt)
            return None
        return _Held(entry_id, fields, message, attempt)

    async def _bury(self, entry_id: str, fields: RawFields, reason: str, attempt: int) -> None:
        dead: dict[FieldT, EncodableT] = {bytes(k): bytes(v) for k, v in fields.items()}
        dead[REASON_FIELD] = reason
        dead[ATTEMPTS_FIELD] = str(attempt)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead_letter_stream, dead)
            pipe.xack(self._stream, self._group, entry_id)
            await pipe.execute()

    async def _ack(self, held: _Held) -> None:
        async with guarded(f"XACK on {self._stream}", self._timeout):
            await call(self._client.xack(self._stream, self._group, held.entry_id))
        self._settled(held)

    async def _retry(self, held: _Held, delay_seconds: float) -> None:
        if self._in_flight.pop(held.entry_id, None) is not None:
            held.due = time.monotonic() + max(delay_seconds, 0.0)
            self._waiting[held.entry_id] = held

    async def _dead_letter(self, held: _Held, reason: str) -> None:
        async with guarded(f"dead-lettering on {self._stream}", self._timeout):
            await self._bury(held.entry_id, held.fields, reason, held.attempt)
        self._settled(held)

    def _settled(self, held: _Held) -> None:
        self._in_flight.pop(held.entry_id, None)
        self._free(held)

    async def close(self) -> None:
        """See ``Subscriber.close``: what this consumer holds is handed to the next one at
        once (an entry waiting for a retry: when its delay ends); then the client closes."""
        if self._closed:
            return
        self._closed = True
        now = time.monotonic()
        releases: list[tuple[_Held, int, int | None]] = [
            (h, _RELEASED_IDLE_MS, None) for h in self._in_flight.values()
        ]
        releases += [(h, _RELEASED_IDLE_MS, h.attempt - 1) for h in self._behind]
        releases += [
            (h, max(0, self._claim_after_ms - int((h.due - now) * 1000)), None)
            for h in self._waiting.values()
        ]
        try:
            if releases:
                async with (
                    guarded(f"releasing entries of {self._stream}", self._timeout),
                    self._client.pipeline(transaction=False) as pipe,
                ):
                    for held, idle, count in releases:
                        pipe.xclaim(
                            self._stream,
                            self._group,
                            self.consumer,
                            0,
                            [held.entry_id],
                            idle=idle,
                            retrycount=count,
                            justid=True,
                        )
                    await pipe.execute()
        except BrokerUnavailable:
            pass  # they come back after claim_after_seconds instead
        finally:
            self._in_flight.clear()
            self._waiting.clear()
            self._behind.clear()
            await self._client.aclose()


class _RedisDelivery:
    """A :class:`forze.contracts.Delivery` of one stream entry; settled at most once."""

    def __init__(self, subscriber: RedisStreamSubscriber, held: _Held) -> None:
        self._subscriber, self._held = subscriber, held
        self._attempt = held.attempt
        self._settled = False

    @property
    def message(self) -> Message:
        """The message (``destination``: the stream)."""
        return self._held.message

    @property
    def attempt(self) -> int:
        """The entry's delivery count in its group (1 for the first)."""
        return self._attempt

    def _settle(self) -> bool:
        first, self._settled = not self._settled, True
        return first

    async def ack(self) -> None:
        """XACK: the group forgets the entry."""
        if self._settle():
            await self._subscriber._ack(self._held)

    async def retry(self, delay_seconds: float) -> None:
        """Keep the entry pending; this subscriber claims it again after ``delay_seconds``."""
        if self._settle():
            await self._subscriber._retry(self._held, delay_seconds)

    async def dead_letter(self, reason: str) -> None:
        """XADD to the dead-letter stream with ``reason`` and the attempt count, then XACK."""
        if self._settle():
            await self._subscriber._dead_letter(self._held, reason)
