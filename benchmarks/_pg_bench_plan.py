"""The events of ``benchmarks/postgres.py``, shared by its three implementations.

A plan says which bank accounts exist and what happens to each (opened, then deposits), for
every scenario; each implementation turns it into its own objects (forze ``NewEvent``s,
eventsourcing ``StoredEvent``s, and raw rows made from the forze envelopes) before any clock
starts. :func:`rounds` fixes the order of the appends, the same for everyone.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from forze.contracts import ExpectedVersion, ExpectedVersionArg, NewEvent

__all__ = [
    "BATCH",
    "BATCHES_PER_STREAM",
    "EVENTS_PER_AGGREGATE",
    "FEED_PAGE",
    "SINGLE_WRITER_PARTS",
    "WRITERS",
    "Append",
    "History",
    "Plan",
    "Record",
    "check_count",
    "make_plan",
    "part_of",
    "rounds",
    "skip",
]

EVENTS_PER_AGGREGATE = 10
"""Events per account in the one-event appends, the command path and the replay."""
BATCH = 100
"""Events per append in ``append-batch``."""
BATCHES_PER_STREAM = 5
"""``append-batch`` appends this many batches to each account (expected versions 0, 100...)."""
WRITERS = 8
"""Concurrent writers of ``append-8w``, each with its own accounts."""
FEED_PAGE = 1_000
"""Page size of the feed reads and of the projection rebuilds."""

Record = Callable[[str, str, int, float], None]
"""Takes (scenario, implementation, events, seconds); a no-op during the warm-up."""


def skip(scenario: str, implementation: str, count: int, seconds: float) -> None:
    """The ``Record`` of the warm-up: measure nothing."""


def check_count(what: str, got: int, wanted: int) -> None:
    """Fail the run when a scenario did not touch exactly the events it should have."""
    if got != wanted:
        raise RuntimeError(f"{what}: expected {wanted} events, got {got}")


SINGLE_WRITER_PARTS = 5
"""``append-1w`` runs in this many slices, the implementations taking turns slice by slice, so
that a drift of the machine (the checkpointer, autovacuum, other load) is shared by all."""

_T = TypeVar("_T")


def part_of(items: Sequence[_T], part: int, parts: int) -> Sequence[_T]:
    """Slice ``part`` (from 0) of ``items`` cut into ``parts`` consecutive slices."""
    return items[len(items) * part // parts : len(items) * (part + 1) // parts]


@dataclass(frozen=True, slots=True)
class History:
    """One account: opened by ``owner`` with ``overdraft_limit``, then ``deposits``."""

    owner: str
    overdraft_limit: int
    deposits: tuple[int, ...]

    @property
    def length(self) -> int:
        """Events in the stream."""
        return 1 + len(self.deposits)

    @property
    def balance(self) -> int:
        """The balance after every event."""
        return sum(self.deposits)


@dataclass(frozen=True, slots=True)
class Plan:
    """The accounts of every write scenario (the replay loads ``single``'s accounts)."""

    single: list[History]
    writers: list[list[History]]
    batched: list[History]
    commands: list[History]

    @property
    def histories(self) -> list[History]:
        """Every account of every write scenario."""
        found = [*self.single, *self.batched, *self.commands]
        return found + [h for writer in self.writers for h in writer]

    @property
    def stored_events(self) -> int:
        """Events in the store once every write scenario ran."""
        return sum(h.length for h in self.histories)


def _histories(total: int, per_account: int, rng: random.Random, tag: str) -> list[History]:
    """Accounts of ``per_account`` events (the last may be shorter), ``total`` events in all."""
    found: list[History] = []
    left = total
    while left > 0:
        length = min(per_account, left)
        deposits = tuple(rng.randrange(100, 10_000) for _ in range(length - 1))
        found.append(History(f"{tag} owner {len(found)}", rng.randrange(0, 50_000), deposits))
        left -= length
    return found


def make_plan(events: int, seed: int = 7) -> Plan:
    """``events`` events for each write scenario."""
    rng = random.Random(seed)
    spread = _histories(events, EVENTS_PER_AGGREGATE, rng, "8w")
    return Plan(
        single=_histories(events, EVENTS_PER_AGGREGATE, rng, "1w"),
        writers=[spread[w::WRITERS] for w in range(WRITERS) if spread[w::WRITERS]],
        batched=_histories(events, BATCH * BATCHES_PER_STREAM, rng, "batch"),
        commands=_histories(events, EVENTS_PER_AGGREGATE, rng, "command"),
    )


def rounds(lengths: Sequence[int], chunk: int) -> Iterator[tuple[int, int, int]]:
    """``(account, start, stop)`` slices of the histories, ``chunk`` events at a time, accounts
    interleaved round by round: the order every implementation appends in."""
    longest = max(lengths, default=0)
    for start in range(0, longest, chunk):
        for account, length in enumerate(lengths):
            if start < length:
                yield account, start, min(start + chunk, length)


class Append(NamedTuple):
    """One forze append (also the rows raw asyncpg inserts for it)."""

    stream_id: str
    events: Sequence[NewEvent]
    expected: ExpectedVersionArg
    first_version: int
    """The stream version of ``events[0]`` (the expected version plus one)."""

    @classmethod
    def at(cls, stream_id: str, events: Sequence[NewEvent], start: int) -> Append:
        """``events`` appended after the stream's first ``start`` events."""
        expected: ExpectedVersionArg = start or ExpectedVersion.NO_STREAM
        return cls(stream_id, events, expected, start + 1)
