"""The names forze's spans, metrics and attributes go by (see ``docs/observability.md``)."""

from __future__ import annotations

from collections.abc import Collection

from forze.contracts import category_of

__all__ = [
    "APPEND_DURATION",
    "CAUSATION_ID",
    "CONSUMER_FAILURES",
    "CORRELATION_ID",
    "ERROR_TYPE",
    "EVENTS_APPENDED",
    "FEED_FAILURES",
    "FEED_LAG",
    "PUBLISH_FAILURES",
    "SCOPE",
    "append_span",
    "ids",
]

SCOPE = "forze"
"""The instrumentation scope (tracer and meter name) of everything forze reports."""

APPEND_DURATION = "forze.append.duration"
EVENTS_APPENDED = "forze.events.appended"
FEED_LAG = "forze.feed.lag"
FEED_FAILURES = "forze.feed.failures"
PUBLISH_FAILURES = "forze.relay.publish.failures"
CONSUMER_FAILURES = "forze.consumer.failures"

CORRELATION_ID = "forze.correlation_id"
CAUSATION_ID = "forze.causation_id"
ERROR_TYPE = "error.type"


def append_span(stream_ids: Collection[str]) -> str:
    """``append <category>``: the categories of the streams appended to, sorted and joined
    by commas (a unit of work may append to several)."""
    return "append " + ",".join(sorted({category_of(stream_id) for stream_id in stream_ids}))


def ids(correlation_id: str, causation_id: str | None) -> dict[str, str]:
    """The correlation and causation attributes (the causation only when there is one)."""
    if causation_id is None:
        return {CORRELATION_ID: correlation_id}
    return {CORRELATION_ID: correlation_id, CAUSATION_ID: causation_id}
