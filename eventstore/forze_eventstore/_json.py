"""Fast JSON for the event stores, through msgspec's public API, giving exactly what the
standard library gives.

The standard library's ``json`` decides what is accepted, what is refused and what text is
stored; msgspec is only a faster way to the same result where that is proven (see
``tests/test_json_codec.py``), and everything else takes the standard library:

- :func:`plain_json` writes a mapping that holds only exact ``dict``, ``list``, ``tuple``,
  ``str``, ``int``, ``bool``, ``None`` and finite ``float``, byte for byte as the standard
  library's compact, ASCII-escaped text: msgspec writes it, and what msgspec writes raw
  (non-ASCII, DEL) is escaped as the standard library does; a float ``repr`` writes in
  exponent form, or mostly non-ASCII text, is written by the standard library itself.
  Anything else (subclasses, other mappings, UUIDs, enums, NaN, a key that is not a
  ``str``, an int past the digit limit) answers ``None``: the caller's standard-library
  path then accepts or refuses it as it always has.
- :func:`raw_decode` is ``json.JSONDecoder().raw_decode`` for a JSON object text with no
  surrounding whitespace; msgspec also keeps ints beyond 64 bits exact (orjson turns them
  into floats), and any text it refuses goes to the standard library, which accepts more
  (``NaN``, escaped lone surrogates) and words the errors.
- :func:`uuids_of` turns a page's 16-byte event ids into ``UUID`` objects in one call.
"""

from __future__ import annotations

import json
import sys
from typing import Any
from uuid import UUID

import msgspec

__all__ = ["plain_json", "raw_decode", "uuids_of"]

_SCALARS = frozenset({str, int, bool, type(None)})
"""Exact types msgspec writes as the standard library does (``int`` of any size: past the
digit limit both raise ``ValueError``)."""

_SMALLEST_FIXED = 1e-4
_LARGEST_FIXED = 1e16
"""``repr`` writes a float in exponent form outside ``[1e-4, 1e16)``, msgspec differently
(``1e-05`` against ``0.00001``, ``1e+16`` against ``1e16``): those take the stdlib."""
_LARGEST_FLOAT = sys.float_info.max

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_stdlib_raw_decode = json.JSONDecoder().raw_decode
_escape_string = json.JSONEncoder().encode
"""The standard library's text of one string (``ensure_ascii``: non-ASCII escaped)."""
_ASCII = bytes(range(128))
_DENSE = 8
"""msgspec's text is escaped one distinct character at a time (each escape the standard
library's own) unless more than 1/8 of its bytes are non-ASCII: then the standard library
writes it."""
_stdlib_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
"""The standard library's text of a value ``_plain`` accepted (so no hook or NaN needed)."""


def plain_json(value: dict[Any, Any]) -> str | None:
    """The standard library's compact, ASCII-escaped JSON of ``value``, or ``None`` when
    msgspec cannot be shown to write the same (the caller then uses the standard library).

    Raises ``RecursionError`` for a value that contains itself or nests too deep."""
    exponent: list[float] = []
    if not _plain(value, exponent):
        return None
    if exponent:  # floats repr writes as 1e-05 or 1e+16, msgspec as 0.00001 or 1e16
        return _stdlib_encode(value)
    try:
        raw = _encode(value)
    except (msgspec.EncodeError, ValueError, TypeError, OverflowError, RecursionError):
        return None
    text = raw.decode()
    if text.isascii() and "\x7f" not in text:
        return text
    wide = raw.translate(None, _ASCII)  # the UTF-8 of its non-ASCII characters
    if len(wide) * _DENSE > len(raw):
        return _stdlib_encode(value)  # mostly non-ASCII: one pass in C beats a replace each
    # Such characters only occur inside strings, where their escape means the same.
    for character in set(wide.decode()):
        text = text.replace(character, _escape_string(character)[1:-1])
    return text.replace("\x7f", "\\u007f")


def _plain(mapping: dict[Any, Any], exponent: list[float]) -> bool:
    """Whether ``mapping`` holds only exact JSON types, ``str`` keys and finite floats; the
    floats ``repr`` writes in exponent form are collected in ``exponent``."""
    for key, item in mapping.items():
        if type(key) is not str:
            return False
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is dict:
            if not _plain(item, exponent):
                return False
        elif kind is list or kind is tuple:
            if not _plain_items(item, exponent):
                return False
        elif kind is not float or not _finite(item, exponent):
            return False
    return True


def _plain_items(items: list[Any] | tuple[Any, ...], exponent: list[float]) -> bool:
    for item in items:
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is dict:
            if not _plain(item, exponent):
                return False
        elif kind is list or kind is tuple:
            if not _plain_items(item, exponent):
                return False
        elif kind is not float or not _finite(item, exponent):
            return False
    return True


def _finite(number: float, exponent: list[float]) -> bool:
    if number == 0.0 or _SMALLEST_FIXED <= abs(number) < _LARGEST_FIXED:
        return True
    if abs(number) <= _LARGEST_FLOAT:  # NaN and infinities are not
        exponent.append(number)
        return True
    return False


def raw_decode(text: str) -> tuple[Any, int]:
    """``json.JSONDecoder().raw_decode(text)``: the JSON value at the start of ``text`` and
    where it ends; faster when ``text`` is exactly one JSON object."""
    if type(text) is str and text[:1] == "{" and text[-1:] == "}":
        try:
            return _decode(text), len(text)
        except (ValueError, RecursionError):  # msgspec.DecodeError is a ValueError
            pass  # the standard library accepts more, or words the error
    return _stdlib_raw_decode(text)


_UUID_LIST: Any = list[UUID]


def uuids_of(raw: list[bytes]) -> list[UUID]:
    """``[UUID(bytes=b) for b in raw]`` in one call (a tenth of the time per id); an item
    that is not 16 bytes raises ``ValueError``."""
    result: list[UUID] = msgspec.convert(raw, _UUID_LIST)
    return result
