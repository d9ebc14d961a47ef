"""``forze events verify``: decode stored events with the current code and its upcasters.

Schema evolution is checked, not hoped for: every stored event (or a sample, or those of some
categories or types) is decoded as a repository would decode it, through the upcasters from
its stored schema version to the current one, and each event type and stored schema version
that fails is reported with its count, the first failing position and the first error.
Events of types the code has no class for are listed apart; they fail only with ``--strict``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from forze import AggregateSpec
from forze.contracts import RecordedEvent
from forze.domain.errors import InvalidInputError, SerializationError
from forze_cli._console import write_table
from forze_cli._references import load_reference
from forze_cli._stores import StoreTarget, open_store
from forze_eventstore import EventCodec
from forze_eventstore.codec import SCHEMA_VERSION_KEY

__all__ = ["DEFAULT_SPECS", "VerifyOptions", "verify_events"]

DEFAULT_SPECS = "forze_examples.bank:ACCOUNTS"
"""The demo's aggregate: what a store named by URL is checked against without ``--specs``."""

_PAGE = 5000
"""Events read per call."""

_SAMPLE_SCALE = 1_000_000


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """What ``events verify`` checks: ``categories`` and ``event_types`` filter the feed;
    ``sample`` (0 < rate <= 1) decodes that share of the events, picked by event id (the same
    ones every run); ``limit`` stops after that many decoded events; ``strict`` counts
    events of types the code does not know as failures."""

    specs: str | None = None
    categories: Sequence[str] | None = None
    event_types: Sequence[str] | None = None
    sample: float | None = None
    limit: int | None = None
    strict: bool = False


@dataclass
class _Tally:
    """One event type at one stored schema version."""

    known: bool
    events: int = 0
    failed: int = 0
    first_failed: int | None = None
    error: str | None = None


Tallies = dict[tuple[str, int | str], _Tally]
"""Each (event type, stored schema version) seen, with what decoding it found."""


def load_specs(reference: str) -> EventCodec:
    """A codec for the ``AggregateSpec`` (or sequence of them) ``package.module:NAME`` names."""
    found = load_reference(reference, "--specs")
    specs: tuple[Any, ...] = tuple(found) if isinstance(found, list | tuple) else (found,)
    if not specs or not all(isinstance(spec, AggregateSpec) for spec in specs):
        raise InvalidInputError(f"{reference!r} is not an AggregateSpec or a sequence of them")
    return EventCodec.for_specs(*specs)


def _picked(event: RecordedEvent, sample: float | None) -> bool:
    return sample is None or event.event_id.int % _SAMPLE_SCALE < sample * _SAMPLE_SCALE


async def verify_events(
    target: StoreTarget, out: TextIO, options: VerifyOptions, *, as_json: bool
) -> bool:
    """Decode the stored events ``options`` select and print a line per event type and
    stored schema version; ``True`` when none failed."""
    codec = load_specs(options.specs) if options.specs is not None else None
    tallies: Tallies = {}
    checked = 0
    started = time.perf_counter()
    async with open_store(target) as store:
        if codec is None:
            codec = store.codec or load_specs(DEFAULT_SPECS)
        after = 0
        while options.limit is None or checked < options.limit:
            page = await store.events.read_all(
                after=after,
                limit=_PAGE,
                event_types=options.event_types,
                categories=options.categories,
            )
            for event in page:
                if options.limit is not None and checked >= options.limit:
                    break
                if _picked(event, options.sample):
                    checked += 1
                    _check(codec, event, tallies)
            if len(page) < _PAGE:
                break
            after = page[-1].position
    seconds = time.perf_counter() - started
    failed = sum(t.failed for t in tallies.values())
    unknown = sum(t.events for t in tallies.values() if not t.known)
    ok = failed == 0 and not (options.strict and unknown)
    rate = checked / seconds if seconds > 0 else 0.0
    if as_json:
        _write_json(tallies, out)
        summary: dict[str, object] = {
            "checked": checked,
            "failed": failed,
            "unknown": unknown,
            "ok": ok,
            "seconds": round(seconds, 3),
            "events_per_second": round(rate),
        }
        out.write(json.dumps({"summary": summary}) + "\n")
        return ok
    _write_table(tallies, out)
    verdict = "every one decodes" if failed == 0 else f"{failed} failed to decode"
    if unknown:
        verdict += f"; {unknown} of types this code does not know" + (
            " (failures with --strict)" if options.strict else " (not checked)"
        )
    out.write(f"checked {checked:,} events in {seconds:.2f} s ({rate:,.0f} events/s): {verdict}\n")
    return ok


def _check(codec: EventCodec, event: RecordedEvent, tallies: Tallies) -> None:
    stored = event.metadata.get(SCHEMA_VERSION_KEY, 1)
    version: int | str = stored if isinstance(stored, int) else repr(stored)
    key = (event.event_type, version)
    tally = tallies.get(key)
    if tally is None:
        tally = tallies[key] = _Tally(known=codec.knows(event.event_type))
    tally.events += 1
    if not tally.known:
        return
    try:
        codec.decode(event)
    except SerializationError as error:
        tally.failed += 1
        if tally.first_failed is None:
            tally.first_failed = event.position
            tally.error = " ".join(str(error).split())


def _rows(tallies: Tallies) -> list[tuple[str, int | str, _Tally]]:
    return [
        (name, version, tally)
        for (name, version), tally in sorted(
            tallies.items(), key=lambda item: (item[0][0], str(item[0][1]))
        )
    ]


def _write_table(tallies: Tallies, out: TextIO) -> None:
    rows = []
    for name, version, tally in _rows(tallies):
        if not tally.known:
            error = "no class for this type in the code: not checked"
        else:
            error = tally.error or "-"
        rows.append(
            (
                name,
                str(version),
                str(tally.events),
                str(tally.failed) if tally.known else "-",
                "-" if tally.first_failed is None else str(tally.first_failed),
                error if len(error) <= 160 else error[:159] + "…",
            )
        )
    if rows:
        header = ("TYPE", "SCHEMA", "EVENTS", "FAILED", "FIRST_FAILED", "ERROR")
        styles = {"FAILED": lambda cell: "" if cell in ("0", "-") else "bold red"}
        write_table(header, rows, out, numeric=("EVENTS", "FAILED", "FIRST_FAILED"), styles=styles)


def _write_json(tallies: Tallies, out: TextIO) -> None:
    for name, version, tally in _rows(tallies):
        record = {
            "event_type": name,
            "schema_version": version,
            "known": tally.known,
            "events": tally.events,
            "failed": tally.failed,
            "first_failed_position": tally.first_failed,
            "error": tally.error,
        }
        out.write(json.dumps(record) + "\n")
