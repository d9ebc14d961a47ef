"""The text and integer input every event store accepts: one vocabulary for all backends.

PostgreSQL cannot keep a NUL character (``\\x00``) in ``text`` or ``JSONB``, nor a lone
surrogate (``\\ud800``-``\\udfff``: not a Unicode character, so not encodable as UTF-8), and its
positions are ``bigint`` and versions ``integer``. The in-memory and SQLite stores could hold
more, but a test that passes on them must mean the same on PostgreSQL, so every store refuses
the same input with ``InvalidInputError`` before anything is written:

- text (stream ids, event types, read filters, and every key and string of data and metadata)
  holding NUL or a surrogate code point (paired ones too: Python strings hold code points, and
  two surrogates would come back as the one character they encode);
- a position (``after``) above :data:`MAX_POSITION`, a version (``from_version``, an exact
  ``expected_version``) above :data:`MAX_VERSION`, a ``limit`` or ``max_bytes`` above
  :data:`MAX_LIMIT`: no store can hold such a position or version, so asking for one is a
  mistake, not a conflict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from forze.domain.errors import InvalidInputError

__all__ = [
    "MAX_LIMIT",
    "MAX_POSITION",
    "MAX_VERSION",
    "check_at_most",
    "check_json_text",
    "check_text",
    "refuse_unstorable",
    "unstorable_in",
]

MAX_POSITION = 2**63 - 1
"""The highest global position any store can hold (PostgreSQL ``bigint``)."""

MAX_VERSION = 2**31 - 1
"""The highest stream version any store can hold (PostgreSQL ``integer``)."""

MAX_LIMIT = 2**63 - 1
"""The largest ``limit`` or ``max_bytes`` a read accepts (PostgreSQL reads both as a
``bigint``)."""

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_search = _UNSTORABLE.search


def _named(character: str) -> str:
    if character == "\x00":
        return "a NUL character (\\x00)"
    return f"a surrogate code point (\\u{ord(character):04x})"


def check_text(value: str, what: str) -> None:
    """Raise ``InvalidInputError`` naming ``what`` when ``value`` holds NUL or a surrogate."""
    if value.isascii() and "\x00" not in value:  # the common case, cheaper than the search
        return
    found = _search(value)
    if found is None:
        return
    raise InvalidInputError(
        f"{what} {value!r} holds {_named(found.group())} at index {found.start()}:"
        " no event store can keep it"
    )


def check_json_text(encoded: str, value: Mapping[str, Any], what: str) -> None:
    """Refuse ``value`` (encoded as ``encoded`` by ``dump_json``) if a key or string in it
    holds NUL or a surrogate, naming ``what`` and where.

    ``dump_json`` writes every non-ASCII character as a ``\\u`` escape of four hex digits,
    so ``value`` can hold such a character only when its text holds ``\\u0000`` or ``\\ud``:
    one scan of the text in C, and ``value`` is walked only then (a character outside the
    Basic Multilingual Plane, such as an emoji, is written as two ``\\ud...`` escapes and
    takes that path too).
    """
    if "\\u0000" in encoded or "\\ud" in encoded:
        refuse_unstorable(value, what)


def refuse_unstorable(value: object, what: str) -> None:
    """Walk ``value`` and raise ``InvalidInputError`` naming ``what`` and where at the first
    NUL or surrogate in a key or string (callers scan cheaper texts first)."""
    try:
        found = unstorable_in(value, "")
    except RecursionError:  # deeper than the walk can go: the size limits refuse it anyway
        found = None
    if found is not None:
        where, character = found
        raise InvalidInputError(
            f"{what} holds {_named(character)} {where}: no event store can keep it"
        )


def unstorable_in(value: object, path: str) -> tuple[str, str] | None:
    """``(where, character)`` of the first NUL or surrogate in a key or string of
    ``value``, or ``None`` (``path`` is where ``value`` itself is)."""
    if isinstance(value, str):
        found = _search(value)
        return None if found is None else (f"in the string at {path or 'the top'}", found.group())
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                in_key = _search(key)
                if in_key is not None:
                    return f"in the key {key!r} at {path or 'the top'}", in_key.group()
            found_in_item = unstorable_in(item, f"{path}[{key!r}]")
            if found_in_item is not None:
                return found_in_item
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found_in_item = unstorable_in(item, f"{path}[{index}]")
            if found_in_item is not None:
                return found_in_item
    return None


def check_at_most(value: int, highest: int, what: str) -> None:
    """Raise ``InvalidInputError`` when the int ``value`` is above ``highest``."""
    if value > highest:
        raise InvalidInputError(
            f"{what} must be at most {highest} (what every event store can hold), got {value}"
        )
