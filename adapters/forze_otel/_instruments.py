"""The metric instruments of forze, made once per meter."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Meter, Observation

from forze_otel._names import (
    APPEND_DURATION,
    CONSUMER_FAILURES,
    EVENTS_APPENDED,
    FEED_FAILURES,
    FEED_LAG,
    PUBLISH_FAILURES,
)

__all__ = ["Instruments"]

_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Bucket boundaries for append durations (seconds): half a millisecond to ten seconds."""


@dataclass(frozen=True, slots=True)
class Instruments:
    """Every instrument forze records (their names: ``forze_otel._names``).

    The lag is an observable gauge: each feed consumer's lag after its last batch
    (:meth:`set_lag`), observed whenever the metrics are collected.
    """

    append_duration: Histogram
    events_appended: Counter
    feed_failures: Counter
    publish_failures: Counter
    consumer_failures: Counter
    lags: dict[tuple[str, str], int] = field(default_factory=dict)

    def set_lag(self, kind: str, name: str, lag: int) -> None:
        """Feed consumer ``name`` (of ``kind``) is ``lag`` positions behind the head."""
        self.lags[kind, name] = lag

    def _observe_lags(self, _options: CallbackOptions) -> Iterable[Observation]:
        for (kind, name), lag in list(self.lags.items()):
            yield Observation(lag, {"forze.feed.kind": kind, "forze.feed.name": name})

    @classmethod
    def of(cls, meter: Meter) -> Instruments:
        """The instruments, created on ``meter``."""
        instruments = cls(
            append_duration=meter.create_histogram(
                APPEND_DURATION,
                unit="s",
                description="How long an operation's append (one save) took.",
                explicit_bucket_boundaries_advisory=_SECONDS,
            ),
            events_appended=meter.create_counter(
                EVENTS_APPENDED, unit="{event}", description="Events appended by operations."
            ),
            feed_failures=meter.create_counter(
                FEED_FAILURES,
                unit="{batch}",
                description="Batches of a projector, relay or saga dispatcher that failed.",
            ),
            publish_failures=meter.create_counter(
                PUBLISH_FAILURES,
                unit="{message}",
                description="Messages a relay's publisher did not get accepted.",
            ),
            consumer_failures=meter.create_counter(
                CONSUMER_FAILURES,
                unit="{message}",
                description="Deliveries whose handling failed (retried or dead-lettered).",
            ),
        )
        meter.create_observable_gauge(
            FEED_LAG,
            callbacks=[instruments._observe_lags],
            unit="{event}",
            description="How far a projector, relay or saga dispatcher is behind the head of"
            " the log after its last batch (in positions: events, or more where positions"
            " leave gaps).",
        )
        return instruments
