"""The states of a feed consumer's runner, and the moves between them.

Every change of a projection's (or relay's) state goes through :meth:`States.move`, which
refuses a move the table below does not allow, so a status can never claim, say, ``LIVE`` for
a runner that never caught up since it stood by or failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from forze_projections.status import ProjectionState

__all__ = ["MOVES", "States"]

_IDLE = ProjectionState.IDLE
_STANDBY = ProjectionState.STANDBY
_CATCHING_UP = ProjectionState.CATCHING_UP
_LIVE = ProjectionState.LIVE
_FAILED = ProjectionState.FAILED
_STOPPED = ProjectionState.STOPPED

MOVES: Mapping[ProjectionState, frozenset[ProjectionState]] = {
    # Not run yet: it stands by, starts, or cannot take its lease.
    _IDLE: frozenset({_STANDBY, _CATCHING_UP, _FAILED, _STOPPED}),
    # Another runner holds the lease: this one takes over (catching up first) or stops.
    _STANDBY: frozenset({_STANDBY, _CATCHING_UP, _FAILED, _STOPPED}),
    # Reading from the checkpoint: it reaches the head, loses the lease, fails or stops; a
    # rebuild request starts it over (catching up again).
    _CATCHING_UP: frozenset({_CATCHING_UP, _LIVE, _STANDBY, _FAILED, _STOPPED}),
    # At the head, following the feed: every arrival is handled from the live state again.
    _LIVE: frozenset({_LIVE, _CATCHING_UP, _STANDBY, _FAILED, _STOPPED}),
    # Stopped on a failure, or stopped: only a new run (catching up, or standing by) moves on.
    _FAILED: frozenset({_CATCHING_UP, _STANDBY, _FAILED, _STOPPED}),
    _STOPPED: frozenset({_CATCHING_UP, _STANDBY, _FAILED, _STOPPED}),
}
"""From each state, the states a runner may move to. No state goes back to ``IDLE``, and only a
runner catching up (or already live) becomes ``LIVE``."""


class States:
    """The state of each named runner, changed only by allowed moves."""

    def __init__(self, names: Iterable[str]) -> None:
        self._now = dict.fromkeys(names, _IDLE)

    def __getitem__(self, name: str) -> ProjectionState:
        return self._now[name]

    def move(self, name: str, to: ProjectionState) -> None:
        """Move ``name`` to state ``to``; ``RuntimeError`` if the table does not allow it (a
        bug in the engine, never the user's input)."""
        now = self._now[name]
        if to not in MOVES[now]:
            raise RuntimeError(f"{name}: no move from {now.value!r} to {to.value!r}")
        self._now[name] = to
