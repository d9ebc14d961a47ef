"""Object keys are input: checked before anything is sent, and always quoted when shown.

A key is a non-empty string of at most 1024 UTF-8 bytes together with the storage's prefix
(S3's limit), with no control character (NUL, newline, DEL, ...) and not starting with '/'.
Keys travel to S3 only as request parameters, which botocore percent-encodes; in messages a
key is shown with ``repr`` (so a quote or newline cannot forge a message), cut to 80
characters.
"""

from __future__ import annotations

import unicodedata

from forze.domain.errors import InvalidInputError

__all__ = ["MAX_KEY_BYTES", "check_key_text", "full_key", "list_prefix", "shown"]

MAX_KEY_BYTES = 1024
"""S3's longest key, in UTF-8 bytes (the storage's prefix included)."""

_SHOWN = 80


def shown(key: str) -> str:
    """``key`` quoted for a message (``repr``), cut to 80 characters."""
    if len(key) <= _SHOWN:
        return repr(key)
    return repr(key[:_SHOWN]) + "..."


def check_key_text(text: object, what: str = "object key") -> str:
    """``text`` if it is a string S3 can carry as (part of) a key; ``InvalidInputError``
    naming ``what`` otherwise: not a string, a control character, not encodable as UTF-8
    (a lone surrogate), or a leading '/'."""
    if not isinstance(text, str):
        raise InvalidInputError(f"{what} must be a string, got {type(text).__name__}")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise InvalidInputError(f"{what} {shown(text)}: control characters are refused")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(f"{what} {shown(text)}: not valid UTF-8") from None
    if text.startswith("/"):
        raise InvalidInputError(f"{what} {shown(text)}: must not start with '/'")
    return text


def full_key(prefix: str, key: object) -> str:
    """The S3 key of the storage's ``key`` (``prefix + key``), checked (see the module)."""
    if key == "":
        raise InvalidInputError("object key must not be empty")
    text = check_key_text(key)
    return _within_limit(prefix + text, text)


def list_prefix(prefix: str, wanted: object) -> str:
    """The S3 prefix listing the storage's keys that start with ``wanted`` (may be empty)."""
    return _within_limit(prefix + check_key_text(wanted, "key prefix"), str(wanted))


def _within_limit(full: str, given: str) -> str:
    size = len(full.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        raise InvalidInputError(
            f"object key {shown(given)}: {size} UTF-8 bytes with the storage's prefix,"
            f" more than S3's {MAX_KEY_BYTES}"
        )
    return full
