"""The versions an event store has seen its streams reach, so that most appends need not
look the stream up first.

Every version remembered here was committed: an append that returned outside a transaction,
a transaction's append once it committed, or a read outside any transaction. Events are never
deleted and a stream's versions have no gaps, so if version ``v`` of a stream is committed,
the stream is at ``v`` exactly when ``v + 1`` is not stored. An append that knows ``v`` can
therefore insert ``v + 1`` straight away: the unique key on ``(stream_id, version)`` refuses
it when the stream has moved on (in another process, say), and the store then falls back
to the statement that reads the stream. A remembered version is never wrong, only possibly
old; the one thing that makes it wrong is deleting events behind the store's back.
"""

from __future__ import annotations

from forze.contracts import ExpectedVersion, ExpectedVersionArg

__all__ = ["KnownVersions"]


class KnownVersions:
    """Up to ``capacity`` streams' latest committed versions (the oldest entry goes first)."""

    __slots__ = ("_versions", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._versions: dict[str, int] = {}

    def next_version(self, stream_id: str, expected: ExpectedVersionArg) -> int | None:
        """The version one more event of ``stream_id`` would take, if the append can be
        tried without reading the stream; None when it must read it first."""
        if expected is ExpectedVersion.NO_STREAM or expected == 0:
            return 1  # the unique key refuses version 1 of a stream that exists
        known = self._versions.get(stream_id)
        if known is None:
            return None
        if expected is ExpectedVersion.ANY or expected is ExpectedVersion.STREAM_EXISTS:
            return known + 1
        # an int: only ``known == expected`` says version ``expected`` exists and may be
        # the last; with ``known > expected`` the append fails, which the reading path tells
        return known + 1 if known == expected else None

    def saw(self, stream_id: str, version: int) -> None:
        """Remember that ``version`` of ``stream_id`` is committed."""
        if version <= 0 or not self.capacity:
            return
        versions = self._versions
        known = versions.pop(stream_id, 0)
        versions[stream_id] = max(known, version)
        if len(versions) > self.capacity:
            del versions[next(iter(versions))]

    def forget(self) -> None:
        """Remember nothing (after events were deleted outside the store)."""
        self._versions.clear()
