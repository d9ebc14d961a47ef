"""What every checkpoint store accepts: one answer for the same input on every backend.

A consumer name is text PostgreSQL can keep (no NUL character, no surrogate code point) and a
position is an int from 0 to ``2**63 - 1`` (a PostgreSQL ``bigint``, the event stores' highest
position). Anything else raises ``InvalidInputError`` naming what is wrong, before anything is
written, instead of a driver error on one store and silent acceptance on another.
"""

from __future__ import annotations

from forze.domain.errors import InvalidInputError
from forze_eventstore.rules import MAX_POSITION, check_at_most, check_text

__all__ = ["check_checkpoint_name", "check_checkpoint_position"]


def check_checkpoint_name(name: object) -> str:
    """``name`` if it is a string every checkpoint store can keep; ``InvalidInputError``
    otherwise."""
    if not isinstance(name, str):
        raise InvalidInputError(f"checkpoint name must be a string, got {name!r}")
    check_text(name, "checkpoint name")
    return name


def check_checkpoint_position(position: object) -> int:
    """``position`` if it is an int from 0 to ``2**63 - 1``; ``InvalidInputError`` otherwise."""
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise InvalidInputError(f"checkpoint position must be an int >= 0, got {position!r}")
    check_at_most(position, MAX_POSITION, "checkpoint position")
    return position
