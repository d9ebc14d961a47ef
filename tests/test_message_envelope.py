"""The CloudEvents envelope: one encoding for every broker, and what it refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forze import MalformedMessage, Message, RecordedEvent
from forze.messaging import SPEC_VERSION, from_headers, message_data, message_of, to_headers

_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@st.composite
def events(draw: st.DrawFn) -> RecordedEvent:
    metadata: dict[str, Any] = {
        key: draw(_TEXT.filter(bool))
        for key in draw(
            st.lists(
                st.sampled_from(["correlation_id", "causation_id", "tenant", "actor"]),
                unique=True,
            )
        )
    }
    if draw(st.booleans()):
        metadata["schema_version"] = draw(st.integers(1, 50))
    return RecordedEvent(
        event_id=draw(st.uuids()),
        event_type=draw(_TEXT.filter(bool)),
        data=draw(st.dictionaries(_TEXT, _JSON, max_size=4)),
        metadata=metadata,
        stream_id=draw(_TEXT.filter(bool)),
        version=draw(st.integers(1, 2**31 - 1)),
        position=draw(st.integers(1, 2**63 - 1)),
        recorded_at=draw(_MOMENTS),
    )


@given(event=events(), prefix=st.sampled_from(["ce_", "cloudEvents:", "ce-"]))
def test_an_event_survives_the_trip_through_any_brokers_headers(
    event: RecordedEvent, prefix: str
) -> None:
    sent = message_of(event, source="forze://bank", destination="account.opened")
    headers = to_headers(sent, prefix)
    got = from_headers(headers, sent.data, prefix, destination="queue-1")
    assert got == Message(**{**_fields(sent), "destination": "queue-1"})
    assert message_data(got) == json.loads(json.dumps(dict(event.data)))
    assert UUID(got.id) == event.event_id
    assert (got.subject, got.ordering_key) == (event.stream_id, event.stream_id)
    assert got.extensions["streamversion"] == str(event.version)
    assert got.extensions["position"] == str(event.position)
    for attribute, key in [("correlationid", "correlation_id"), ("tenant", "tenant")]:
        assert got.extensions.get(attribute) == event.metadata.get(key)


@given(headers=st.dictionaries(st.sampled_from(["ce_id", "ce_type", "ce_time", "x"]), _TEXT))
def test_headers_that_are_not_a_whole_envelope_raise_malformed_message(
    headers: dict[str, str],
) -> None:
    with pytest.raises(MalformedMessage):
        from_headers(headers, b"{}", "ce_")


def _fields(message: Message) -> dict[str, Any]:
    return {name: getattr(message, name) for name in Message.__dataclass_fields__}


def _event(**metadata: Any) -> RecordedEvent:
    return RecordedEvent(
        event_id=UUID(int=7),
        event_type="AccountOpened",
        data={"owner": "ann"},
        metadata=metadata,
        stream_id="account-7",
        version=3,
        position=41,
        recorded_at=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
    )


def test_the_headers_are_the_cloudevents_attributes_in_binary_mode() -> None:
    occurred = datetime(2026, 12, 4, 11, 59, 30, tzinfo=UTC)
    event = _event(correlation_id="c-1", occurred_at=occurred.isoformat(), note="kept out")
    headers = to_headers(message_of(event, source="forze://bank"), "ce_")
    assert headers == {
        "ce_specversion": SPEC_VERSION,
        "ce_id": str(UUID(int=7)),
        "ce_type": "AccountOpened",
        "ce_source": "forze://bank",
        "ce_subject": "account-7",
        "ce_time": "2026-12-04T11:59:30Z",
        "ce_datacontenttype": "application/json",
        "ce_streamversion": "3",
        "ce_position": "41",
        "ce_correlationid": "c-1",
    }


def test_time_is_when_the_event_occurred_or_else_when_it_was_recorded() -> None:
    assert message_of(_event(), source="s").time == datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=5)
    assert message_of(_event(occurred_at=moment.isoformat()), source="s").time == moment


@pytest.mark.parametrize(
    ("headers", "body", "complaint"),
    [
        ({"ce_specversion": "0.3"}, b"{}", "specversion"),
        ({"ce_specversion": "1.0", "ce_id": "1", "ce_type": "T"}, b"{}", "source"),
        (
            {
                "ce_specversion": "1.0",
                "ce_id": "1",
                "ce_type": "T",
                "ce_source": "s",
                "ce_subject": "a",
                "ce_time": "yesterday",
            },
            b"{}",
            "RFC 3339",
        ),
        (
            {
                "ce_specversion": "1.0",
                "ce_id": "1",
                "ce_type": "T",
                "ce_source": "s",
                "ce_subject": "a",
                "ce_Bad-Name": "x",
            },
            b"{}",
            "extension",
        ),
        ({"ce_specversion": "1.0", "ce_id": b"\xff", "ce_type": "T"}, b"{}", "UTF-8"),
    ],
)
def test_a_malformed_envelope_is_refused_naming_what_is_wrong(
    headers: dict[str, Any], body: bytes, complaint: str
) -> None:
    with pytest.raises(MalformedMessage, match=complaint):
        from_headers(headers, body, "ce_")


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_malformed(body: bytes) -> None:
    headers = to_headers(message_of(_event(), source="s"), "ce_")
    with pytest.raises(MalformedMessage, match="data"):
        message_data(from_headers(headers, body, "ce_"))
