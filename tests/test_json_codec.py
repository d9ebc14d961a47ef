"""The event stores' JSON: msgspec where it is proven to give the standard library's result.

``dump_json`` must write, accept and refuse exactly what the standard library does, and the
read path (``decode_page``, the in-memory store) must give back every value exactly, with its
type: an int stays an int however large, a float stays a float.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections import OrderedDict, UserDict, namedtuple
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forze import InvalidInputError, NewEvent
from forze.contracts import Message, RecordedEvent, StoredData
from forze.domain.errors import SerializationError
from forze.messaging.envelope import message_of
from forze_eventstore import InMemoryEventStore, SQLiteEventStore
from forze_eventstore._json import plain_json, raw_decode
from forze_eventstore._sqlite_rows import decode_page
from forze_eventstore.rules import dump_json

_stdlib_text = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
"""What ``dump_json`` always wrote: compact, ASCII-escaped, NaN refused."""

_stdlib_raw_decode = json.JSONDecoder().raw_decode

_text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
_json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_text, inner, max_size=4)
    ),
    max_leaves=20,
)
_json_objects = st.dictionaries(_text, _json_values, min_size=1, max_size=5)


def _as_read(value: Any) -> Any:
    """``value`` as JSON gives it back (tuples become lists)."""
    if isinstance(value, dict):
        return {key: _as_read(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_as_read(item) for item in value]
    return value


def _same_typed(first: Any, second: Any) -> bool:
    """Equal values of equal types all the way down (``1 == 1.0`` is not enough; NaN-free)."""
    if type(first) is not type(second):
        return False
    if isinstance(first, dict):
        return first.keys() == second.keys() and all(
            _same_typed(item, second[key]) for key, item in first.items()
        )
    if isinstance(first, list):
        return len(first) == len(second) and all(
            _same_typed(a, b) for a, b in zip(first, second, strict=True)
        )
    if isinstance(first, float):
        return first == second and math.copysign(1, first) == math.copysign(1, second)
    return bool(first == second)


def _row(data: str, metadata: str = "{}", position: int = 7) -> tuple[Any, ...]:
    return (uuid4().bytes, "thing.happened", data, metadata, "thing-1", 3, position, 1_000_000)


# --- what is written -------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(_json_objects)
def test_dump_json_writes_byte_for_byte_the_standard_librarys_text(value: dict[str, Any]) -> None:
    assert dump_json(value, what="data") == _stdlib_text(value)


@settings(max_examples=400, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_is_written_as_repr_writes_it(number: float) -> None:
    assert dump_json({"x": number}, what="data") == f'{{"x":{number!r}}}'


def test_typical_event_data_and_metadata_take_the_fast_path() -> None:
    typical = {
        "order_id": "order-1",
        "lines": [{"sku": "A-1", "quantity": 2, "unit_price": 12.5}, ("x", None, True)],
        "total": 25.0,
        "big": 2**63,
        "note": None,
    }
    metadata = {"occurred_at": datetime.now(UTC).isoformat(), "schema_version": 1}
    assert plain_json(typical) == _stdlib_text(typical)
    assert plain_json(metadata) == _stdlib_text(metadata)


@pytest.mark.parametrize(
    "value",
    [
        {"name": "Zoë", "emoji": "😀"},  # the stdlib escapes non-ASCII: \u00eb, \ud83d\ude00
        {"name": "山田太郎", "address": "東京都千代田区丸の内"},  # many distinct characters
        {"del": "\x7f"},  # and DEL: \u007f
        {"tiny": 1e-05, "huge": 1e16},  # repr's exponent forms
        {"big": 2**64},  # past 64 bits
    ],
)
def test_what_msgspec_would_write_differently_is_written_by_the_standard_library(
    value: dict[str, Any],
) -> None:
    assert dump_json(value, what="data") == _stdlib_text(value)


class _Str(str):
    pass


class _Int(int):
    pass


class _Float(float):
    pass


class _Dict(dict[str, Any]):
    pass


class _Level(enum.IntEnum):
    HIGH = 3


class _Colour(enum.StrEnum):
    RED = "red"


_Point = namedtuple("_Point", "x y")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"s": _Str("x")}, '{"s":"x"}'),
        ({"i": _Int(5), "f": _Float(1.5)}, '{"i":5,"f":1.5}'),
        ({"d": _Dict(a=1)}, '{"d":{"a":1}}'),
        (_Dict(a=1), '{"a":1}'),
        (OrderedDict(a={"b": OrderedDict(c=1)}), '{"a":{"b":{"c":1}}}'),
        ({"level": _Level.HIGH, "colour": _Colour.RED}, '{"level":3,"colour":"red"}'),
        ({"point": _Point(1, 2)}, '{"point":[1,2]}'),
    ],
)
def test_subclasses_of_json_types_are_accepted_as_before(value: dict[str, Any], text: str) -> None:
    assert dump_json(value, what="data") == text


# --- what is refused -------------------------------------------------------------------------


class _Plain(enum.Enum):
    ONE = 1


def _containing_itself() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["me"] = value
    return value


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"x": math.nan}, "Out of range float values are not JSON compliant"),
        ({"x": [math.inf]}, "Out of range float values are not JSON compliant"),
        ({"x": {"y": -math.inf}}, "Out of range float values are not JSON compliant"),
        ({"x": {1, 2}}, "set {1, 2} is not a JSON value"),
        ({"x": b"raw"}, "bytes b'raw' is not a JSON value"),
        ({"x": UUID(int=1)}, "UUID UUID('00000000-0000-0000-0000-000000000001')"),
        ({"x": datetime(2026, 1, 1, tzinfo=UTC)}, "datetime datetime.datetime(2026"),
        ({"x": _Plain.ONE}, "_Plain <_Plain.ONE: 1> is not a JSON value"),
        ({"x": Decimal("1.5")}, "Decimal Decimal('1.5') is not a JSON value"),
        ({"x": {1: "one"}}, "key 1 is not a string"),
        ({"x": [{None: 1}]}, "key None is not a string"),
        ({("a", "b"): 1}, "key ('a', 'b') is not a string"),
        ({_Str("k"): 1}, "key 'k' is not a string"),  # exact str keys only, as before
        ({"x": MappingProxyType({"a": 1})}, "mappingproxy mappingproxy({'a': 1})"),
        (MappingProxyType({"a": 1}), "mappingproxy mappingproxy({'a': 1})"),
        (UserDict({"a": 1}), "UserDict {'a': 1} is not a JSON value"),
        ({"x": 10**5000}, "Exceeds the limit (4300 digits)"),
        (_containing_itself(), "it contains itself or nests too deep"),
        (_nested(5000), "it contains itself or nests too deep"),
    ],
)
def test_what_is_not_json_is_refused_naming_what_and_why(value: Any, reason: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        dump_json(value, what="data of 'thing.happened'")
    assert str(refused.value).startswith("data of 'thing.happened' is not JSON-serialisable: ")
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"x": "a\ud800"}, "a surrogate code point (\\ud800) in the string at ['x']"),
        ({"x": ["\udfff"]}, "a surrogate code point (\\udfff) in the string at ['x'][0]"),
        ({"k\ud83d": 1}, "a surrogate code point (\\ud83d) in the key 'k\\ud83d' at the top"),
        ({"x": "a\x00b"}, "a NUL character (\\x00) in the string at ['x']"),
        ({"x\x00": "ok"}, "a NUL character (\\x00) in the key 'x\\x00' at the top"),
    ],
)
def test_text_no_store_can_keep_is_refused_naming_where(value: Any, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(reason)):
        dump_json(value, what="data")


async def test_nesting_deeper_than_the_limit_is_refused_at_append() -> None:
    store = InMemoryEventStore()
    with pytest.raises(InvalidInputError, match="nests more than max_depth=100 deep"):
        await store.append("s-1", [NewEvent("t", _nested(101))])


# --- what is read back -----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(_json_objects, _json_objects)
def test_whatever_is_written_is_read_back_exactly_with_its_types(
    data: dict[str, Any], metadata: dict[str, Any]
) -> None:
    data_text, metadata_text = dump_json(data, what="data"), dump_json(metadata, what="m")
    (event,) = decode_page([_row(data_text, metadata_text)])
    assert _same_typed(dict(event.data), _as_read(data))
    assert _same_typed(event.metadata, _as_read(metadata))
    assert event.data.json == data_text  # type: ignore[attr-defined]
    assert _same_typed(json.loads(data_text), _as_read(data))


@pytest.mark.parametrize(
    "number", [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**40, -(10**40)]
)
def test_ints_past_64_bits_are_read_back_as_the_same_ints(number: int) -> None:
    (event,) = decode_page([_row(dump_json({"n": number, "in": [number]}, what="data"))])
    assert _same_typed(dict(event.data), {"n": number, "in": [number]})


_spacings = st.sampled_from(
    [{}, {"separators": (", ", ": ")}, {"indent": 1}, {"ensure_ascii": False}]
)


@settings(max_examples=300, deadline=None)
@given(_json_objects, _spacings)
def test_raw_decode_reads_any_json_object_as_the_standard_library_does(
    value: dict[str, Any], spacing: dict[str, Any]
) -> None:
    text = json.dumps(value, **spacing)  # JSONB prints ", " and ": " and raw UTF-8
    decoded, end = raw_decode(text)
    expected, expected_end = _stdlib_raw_decode(text)
    assert end == expected_end
    assert _same_typed(decoded, expected)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_written_out_in_full_are_read_as_the_same_floats(number: float) -> None:
    text = f'{{"x":{Decimal(number):f}.0}}' if number.is_integer() else f'{{"x":{number!r}}}'
    assert _same_typed(raw_decode(text), _stdlib_raw_decode(text))


@settings(max_examples=500, deadline=None)
@given(_json_objects, st.data())
def test_a_damaged_text_is_refused_or_read_exactly_as_the_standard_library_would(
    value: dict[str, Any], draw: st.DataObject
) -> None:
    text = json.dumps(value, separators=(",", ":"))
    at = draw.draw(st.integers(0, len(text)))
    cut = draw.draw(st.integers(0, 2))
    inserted = draw.draw(st.sampled_from(["", " ", "}", "{", '"', ",", "0", "\\", "NaN", "\x01"]))
    damaged = text[:at] + inserted + text[at + cut :]
    try:
        expected: Any = _stdlib_raw_decode(damaged)
    except (ValueError, RecursionError) as error:
        expected = type(error)
    try:
        found: Any = raw_decode(damaged)
    except (ValueError, RecursionError) as error:
        found = type(error)
    assert found == expected


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ("not json", "Expecting value"),
        ('{"a":1} ', "not as append stores it"),
        (' {"a":1}', "Expecting value"),
        ('{"a":1}{"b":2}', "not as append stores it"),
        ("[1,2]", "not as append stores it"),
        ('{"a":}', "Expecting value"),
        (b'{"a":1}', "first argument must be a string, not bytes"),
        (5, "first argument must be a string, not int"),
    ],
)
def test_a_damaged_stored_row_raises_serialization_error_naming_where(data: Any, why: str) -> None:
    with pytest.raises(SerializationError) as refused:
        decode_page([_row('{"ok":1}', position=6), _row(data, position=9)])
    message = str(refused.value)
    assert "position 9 (stream 'thing-1', version 3) cannot be decoded" in message
    assert why in message


def test_texts_msgspec_refuses_but_the_standard_library_reads_are_still_read() -> None:
    (event,) = decode_page([_row('{"n":NaN,"s":"\\ud800"}')])
    assert math.isnan(event.data["n"])
    assert event.data["s"] == "\ud800"


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
async def test_stores_give_back_big_ints_small_floats_and_any_text_exactly(
    store_kind: str, tmp_path: Path
) -> None:
    data = {"n": 2**70, "m": -(2**64), "f": 1e-05, "g": 1e16, "h": 0.1, "s": "Zoë 😀\x7f"}
    metadata = {"schema_version": 1, "big": [2**65]}
    event = NewEvent("thing.happened", data, metadata)
    if store_kind == "memory":
        store: Any = InMemoryEventStore()
        (read,) = [e async for e in _read(store, event)]
    else:
        async with SQLiteEventStore(tmp_path / "events.sqlite") as store:
            (read,) = [e async for e in _read(store, event)]
    assert _same_typed(dict(read.data), data)
    assert _same_typed(dict(read.metadata), metadata)


async def _read(store: Any, event: NewEvent) -> Any:
    await store.append("thing-1", [event])
    for recorded in await store.read_stream("thing-1"):
        yield recorded


# --- messages ------------------------------------------------------------------------------


def test_message_of_puts_every_attribute_in_its_own_field() -> None:
    event = RecordedEvent(
        UUID(int=5),
        "order.placed",
        StoredData.of({"a": 1}, '{"a":1}'),
        {"occurred_at": "2026-01-02T03:04:05+00:00"},
        "order-1",
        2,
        9,
        datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC),
    )
    assert message_of(
        event, source="forze://shop", destination="orders", ordering_key="key"
    ) == Message(
        id=str(UUID(int=5)),
        type="order.placed",
        source="forze://shop",
        subject="order-1",
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        data=b'{"a":1}',
        datacontenttype="application/json",
        extensions={"streamversion": "2", "position": "9"},
        destination="orders",
        ordering_key="key",
    )
    plain = message_of(event._replace(data={"a": "é"}), source="s")
    assert (plain.data, plain.destination, plain.ordering_key) == (
        '{"a":"é"}'.encode(),
        "",
        "order-1",
    )


# --- no private interpreter internals --------------------------------------------------------

_ROOT = Path(__file__).resolve().parent.parent
_PRIVATE = re.compile(r"c_make_encoder|tuple\.__new__|_new_object|__new__\(UUID")


def test_no_source_reaches_into_private_interpreter_internals() -> None:
    found = [
        f"{path.relative_to(_ROOT)}:{number}: {line.strip()}"
        for folder in ("forze", "eventstore", "projections", "adapters", "examples")
        for path in sorted((_ROOT / folder).rglob("*.py"))
        if "testing" not in path.relative_to(_ROOT).parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _PRIVATE.search(line)
    ]
    assert found == []
