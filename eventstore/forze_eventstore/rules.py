"""The append and read rules every event-store adapter shares.

Adapters call these so that validation, the four expected-version forms and idempotent
re-appends behave identically everywhere (memory, SQLite, Postgres, ...).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any, NamedTuple
from uuid import UUID

from forze.contracts import AppendResult, ExpectedVersion, ExpectedVersionArg, NewEvent
from forze.domain.errors import ConcurrencyError, DuplicateEventIdError, InvalidInputError
from forze_eventstore._input import (
    MAX_LIMIT,
    MAX_POSITION,
    MAX_VERSION,
    check_at_most,
    check_json_text,
    check_text,
    refuse_unstorable,
)
from forze_eventstore._json import plain_json, raw_decode
from forze_eventstore._resent import difference
from forze_eventstore.limits import DEFAULT_LIMITS, EventLimits, check_names

__all__ = [
    "MAX_LIMIT",
    "MAX_POSITION",
    "MAX_VERSION",
    "StoredId",
    "check_at_most",
    "check_expected_version",
    "check_read_all",
    "check_read_stream",
    "check_text",
    "dump_json",
    "idempotent_result",
    "raw_decode",
    "refuse_unstorable",
    "validate_append",
    "validate_batch",
]

BatchPart = tuple[str, Sequence[NewEvent], ExpectedVersionArg]
"""One stream's part of ``append_many``, validated."""


class StoredId(NamedTuple):
    """Where an already stored event id lives, and the event stored with it (as read back)."""

    stream_id: str
    version: int
    position: int
    event_type: str
    data: Mapping[str, Any]
    metadata: Mapping[str, Any]


def dump_json(value: Mapping[str, Any], *, what: str) -> str:
    """Serialise a mapping to compact JSON, or raise ``InvalidInputError`` naming ``what``.

    The text is the standard library's (``separators=(",", ":")``, non-ASCII as ``\\u``
    escapes, key order kept), written by msgspec when ``forze_eventstore._json.plain_json``
    proves it writes the same, so stored texts, their sizes and what is refused do not depend
    on which wrote them."""
    if type(value) is not dict and not isinstance(value, Mapping):
        raise InvalidInputError(f"{what} must be a mapping, not {type(value).__name__}")
    if not value:
        return "{}"
    try:
        text = plain_json(value) if type(value) is dict else None
        if text is None:  # the standard library decides, as it always has
            _check_keys(value)
            text = _encode(value)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"{what} is not JSON-serialisable: {error}") from None
    except RecursionError:
        raise InvalidInputError(
            f"{what} is not JSON-serialisable: it contains itself or nests too deep"
        ) from None
    if "\\u0000" in text or "\\ud" in text:  # NUL or a surrogate may hide there
        check_json_text(text, value, what)
    return text


_SCALARS = frozenset({str, int, float, bool, type(None)})
"""Types whose values hold no keys to check (exact types: subclasses take the slow path)."""


def _check_keys(value: Mapping[Any, Any]) -> None:
    """JSON would silently turn non-string keys into strings; refuse them instead."""
    for key, item in value.items():
        if type(key) is not str:
            raise TypeError(f"key {key!r} is not a string")
        if type(item) in _SCALARS:
            continue
        if isinstance(item, Mapping):
            _check_keys(item)
        elif isinstance(item, list | tuple):
            _check_items(item)


def _check_items(items: list[Any] | tuple[Any, ...]) -> None:
    for item in items:
        if type(item) in _SCALARS:
            continue
        if isinstance(item, Mapping):
            _check_keys(item)
        elif isinstance(item, list | tuple):
            _check_items(item)


def _refuse(value: object) -> object:
    raise TypeError(f"{type(value).__name__} {value!r} is not a JSON value")


_encode = json.JSONEncoder(
    separators=(",", ":"), allow_nan=False, check_circular=False, default=_refuse
).encode
"""One encoder for every call (``json.dumps`` with options builds a new one each time).

Compact, non-ASCII escaped (``\\uXXXX``), key order kept; without circular-reference
markers, so a value that contains itself ends in ``RecursionError`` (refused above)."""


def validate_append(
    stream_id: object,
    events: object,
    expected_version: object,
    *,
    limits: EventLimits = DEFAULT_LIMITS,
) -> tuple[str, Sequence[NewEvent], ExpectedVersionArg]:
    """Check an append's arguments before anything is written; raise ``InvalidInputError``.

    The stream id's and event types' lengths are checked against ``limits`` here; each store
    checks the events' size and depth with ``forze_eventstore.limits.check_encoded`` once it
    has encoded them.
    """
    if not isinstance(stream_id, str) or not stream_id.strip():
        raise InvalidInputError(f"stream id must be a non-empty string, got {stream_id!r}")
    if not stream_id.isascii() or "\x00" in stream_id:  # else it holds neither NUL nor surrogates
        check_text(stream_id, "stream id")
    if isinstance(expected_version, bool) or not isinstance(
        expected_version, ExpectedVersion | int
    ):
        raise InvalidInputError(
            f"expected_version must be ExpectedVersion.ANY, NO_STREAM, STREAM_EXISTS or an int, "
            f"got {expected_version!r}"
        )
    if isinstance(expected_version, int):
        if expected_version < 0:
            raise InvalidInputError(f"expected_version must be >= 0, got {expected_version}")
        if expected_version > MAX_VERSION:
            check_at_most(expected_version, MAX_VERSION, "expected_version")
    if type(events) is not list and (
        not isinstance(events, Sequence) or isinstance(events, str | bytes)
    ):
        raise InvalidInputError("events must be a sequence of NewEvent")
    if not events:
        raise InvalidInputError(f"append to {stream_id!r} needs at least one event")
    for event in events:
        if not isinstance(event, NewEvent):
            raise InvalidInputError(
                f"events must be NewEvent instances, got {type(event).__name__}"
            )
        if not isinstance(event.event_type, str) or not event.event_type:
            raise InvalidInputError("event_type must be a non-empty string")
        if not event.event_type.isascii() or "\x00" in event.event_type:
            check_text(event.event_type, "event type")
        if not isinstance(event.event_id, UUID):
            raise InvalidInputError(f"event_id must be a UUID, got {event.event_id!r}")
    if len(events) > 1:
        seen: set[UUID] = set()
        for event in events:
            if event.event_id in seen:
                raise InvalidInputError(f"event id {event.event_id} appears twice in one append")
            seen.add(event.event_id)
    check_names(stream_id, events, limits)
    return stream_id, events, expected_version


def validate_batch(appends: object, *, limits: EventLimits = DEFAULT_LIMITS) -> list[BatchPart]:
    """Check every part of an ``append_many`` batch before anything is written."""
    if not isinstance(appends, Sequence) or isinstance(appends, str | bytes):
        raise InvalidInputError("a batch must be a sequence of (stream_id, events, expected)")
    batch: list[BatchPart] = []
    for part in appends:
        if not isinstance(part, tuple) or len(part) != 3:
            raise InvalidInputError(
                f"each part of a batch must be (stream_id, events, expected), got {part!r}"
            )
        batch.append(validate_append(*part, limits=limits))
    return batch


def check_expected_version(stream_id: str, expected: ExpectedVersionArg, actual: int) -> None:
    """Raise ``ConcurrencyError`` unless a stream at version ``actual`` satisfies ``expected``."""
    if expected is ExpectedVersion.ANY:
        return
    if expected is ExpectedVersion.NO_STREAM or expected == 0:
        ok = actual == 0
    elif expected is ExpectedVersion.STREAM_EXISTS:
        ok = actual > 0
    else:
        ok = actual == expected
    if not ok:
        raise ConcurrencyError(stream_id, _shown(expected), actual)


def idempotent_result(
    stream_id: str,
    events: Sequence[NewEvent],
    expected: ExpectedVersionArg,
    stored: Sequence[StoredId | None],
    actual_version: int,
) -> AppendResult | None:
    """Decide what an append whose event ids may already be stored must do.

    ``stored[i]`` is where ``events[i]``'s id is stored, or ``None``. Returns ``None`` when no
    id is stored (append normally), the original result when the whole batch is already stored
    at consecutive versions of this stream with the same types, data and metadata (an
    idempotent re-append; see ``forze_eventstore._resent`` for the metadata a re-send may
    change), and raises otherwise: ``DuplicateEventIdError`` for an id stored elsewhere or
    with other content, ``ConcurrencyError`` for a re-append off its expected version.
    """
    if all(place is None for place in stored):
        return None
    first = stored[0]
    consistent = first is not None and all(
        place is not None
        and place.stream_id == stream_id
        and place.version == first.version + offset
        for offset, place in enumerate(stored)
    )
    if not consistent or first is None:
        event, place = next((e, p) for e, p in zip(events, stored, strict=True) if p is not None)
        raise DuplicateEventIdError(event.event_id, place.stream_id, place.version)
    for resent, kept in zip(events, stored, strict=True):
        assert kept is not None  # every place is set: checked by `consistent`
        differs = difference(
            resent.event_type,
            resent.data,
            resent.metadata,
            kept.event_type,
            kept.data,
            kept.metadata,
        )
        if differs is not None:
            raise DuplicateEventIdError(
                resent.event_id, kept.stream_id, kept.version, differs=differs
            )
    wanted_first = _first_version_for(expected)
    if wanted_first is not None and first.version != wanted_first:
        raise ConcurrencyError(stream_id, _shown(expected), actual_version)
    last = stored[-1]
    assert last is not None  # every place is set: checked by `consistent`
    return AppendResult(stream_id, last.version, last.position)


def _shown(expected: ExpectedVersionArg) -> object:
    return expected.name if isinstance(expected, ExpectedVersion) else expected


def _first_version_for(expected: ExpectedVersionArg) -> int | None:
    if expected is ExpectedVersion.NO_STREAM:
        return 1
    if isinstance(expected, int):
        return expected + 1
    return None


def check_read_stream(stream_id: object, from_version: object, limit: object) -> None:
    """Validate ``read_stream`` arguments; raise ``InvalidInputError``."""
    if not isinstance(stream_id, str) or not stream_id.strip():
        raise InvalidInputError(f"stream id must be a non-empty string, got {stream_id!r}")
    if from_version is not None and (
        isinstance(from_version, bool) or not isinstance(from_version, int) or from_version < 1
    ):
        raise InvalidInputError(f"from_version must be an int >= 1, got {from_version!r}")
    check_text(stream_id, "stream id")
    if from_version is not None:
        check_at_most(from_version, MAX_VERSION, "from_version")
    _check_limit(limit)


def check_read_all(
    after: object,
    limit: object,
    event_types: Collection[str] | None,
    categories: Collection[str] | None,
) -> None:
    """Validate ``read_all``/``subscribe`` arguments; raise ``InvalidInputError``."""
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise InvalidInputError(f"after must be an int >= 0, got {after!r}")
    check_at_most(after, MAX_POSITION, "after")
    _check_limit(limit)
    for name, values in (("event_types", event_types), ("categories", categories)):
        if values is not None and (
            isinstance(values, str) or not all(isinstance(v, str) for v in values)
        ):
            raise InvalidInputError(f"{name} must be a collection of strings, got {values!r}")
        for value in values or ():
            check_text(value, f"a value of {name}")


def _check_limit(limit: object) -> None:
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidInputError(f"limit must be None or an int >= 0, got {limit!r}")
    check_at_most(limit, MAX_LIMIT, "limit")
