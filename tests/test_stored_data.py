"""Stored event data keeps the JSON it was stored as, so the relay publishes it as is."""

from __future__ import annotations

import copy
import json
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forze.contracts import NewEvent, RecordedEvent, StoredData
from forze.messaging import message_data, message_of
from forze_eventstore import SQLiteDatabase, SQLiteEventStore
from forze_eventstore.rules import dump_json
from tests.test_message_envelope import _JSON, _TEXT, events

_DATA = st.dictionaries(_TEXT, _JSON, max_size=4)


def _stored(data: dict[str, Any]) -> StoredData:
    return StoredData.of(data, dump_json(data, what="data"))


def test_stored_data_reads_and_encodes_as_the_plain_dict() -> None:
    data = _stored({"sku": "a-1", "lines": [1, 2]})
    assert data == {"sku": "a-1", "lines": [1, 2]}
    assert json.loads(json.dumps(data)) == {"sku": "a-1", "lines": [1, 2]}
    assert json.loads(data.json) == data


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.__setitem__("x", 1),
        lambda d: d.__delitem__("sku"),
        lambda d: d.update(x=1),
        lambda d: d.pop("sku"),
        lambda d: d.popitem(),
        lambda d: d.setdefault("x", 1),
        lambda d: d.clear(),
        lambda d: d.__ior__({"x": 1}),
    ],
)
def test_stored_data_cannot_be_changed_in_place_so_its_json_never_lies(change: Any) -> None:
    data = _stored({"sku": "a-1"})
    with pytest.raises(TypeError, match="read-only"):
        change(data)
    assert data == json.loads(data.json) == {"sku": "a-1"}


def test_copies_of_stored_data_are_plain_changeable_dicts() -> None:
    data = _stored({"sku": "a-1", "lines": [1]})
    for made in (
        data.copy(),
        copy.copy(data),
        copy.deepcopy(data),
        pickle.loads(pickle.dumps(data)),
    ):
        assert type(made) is dict
        assert made == data
        made["x"] = 1
    assert data | {"x": 1} == {"sku": "a-1", "lines": [1], "x": 1}


@given(event=events(), data=_DATA)
def test_a_message_of_stored_data_carries_the_same_body_as_of_the_plain_data(
    event: RecordedEvent, data: dict[str, Any]
) -> None:
    plain = message_of(event._replace(data=data), source="forze://shop")
    stored = message_of(event._replace(data=_stored(data)), source="forze://shop")
    assert stored.data == _stored(data).json.encode()
    assert message_data(stored) == message_data(plain) == json.loads(json.dumps(data))
    assert stored == replace(plain, data=stored.data)


async def test_the_sqlite_store_hands_out_data_with_the_json_it_stored(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "events.sqlite")
    store = SQLiteEventStore(db)
    try:
        await store.append("cart-1", [NewEvent("ItemAdded", {"sku": "a-1", "qty": 2, "n": "é"})])
        (event,) = await store.read_all()
        assert type(event.data) is StoredData
        assert json.loads(event.data.json) == event.data == {"sku": "a-1", "qty": 2, "n": "é"}
        body = message_of(event, source="forze://shop").data
        assert body == event.data.json.encode()
    finally:
        db.close()
