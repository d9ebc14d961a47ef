"""Shared pieces of the benchmark scripts: timing, result tables and JSON output.

A benchmark script measures *rates* (items per second) for a set of scenarios and
implementations, prints a table with each rate's ratio to a baseline implementation, and with
``--json`` prints a single JSON object ``{scenario: {implementation: rate}}`` as its last line
(progress goes to stderr, so stdout stays parseable).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from types import TracebackType
from typing import TypeVar, cast

T = TypeVar("T")

__all__ = [
    "Measurement",
    "Results",
    "Stopwatch",
    "base_parser",
    "progress",
]


class Stopwatch:
    """Times the ``with`` block with ``time.perf_counter``; works in sync and async code.

    Garbage from earlier work is collected before the clock starts, so one measurement does not
    pay for the previous one's garbage.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Stopwatch:
        gc.collect()
        self._start = perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.seconds = perf_counter() - self._start


@dataclass(frozen=True, slots=True)
class Measurement:
    """``count`` items of ``scenario`` done by ``implementation`` in ``seconds``."""

    scenario: str
    implementation: str
    count: int
    seconds: float

    @property
    def rate(self) -> float:
        """Items per second (the time is floored at 1 ns so the rate stays finite)."""
        return self.count / max(self.seconds, 1e-9)


@dataclass
class Results:
    """Measurements of one run, in the order they were taken, plus free-text notes."""

    unit: str = "events/s"
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, scenario: str, implementation: str, count: int, seconds: float) -> Measurement:
        """Record one measurement and report it on stderr."""
        if count <= 0:
            raise ValueError(f"{scenario}/{implementation}: nothing was measured")
        measurement = Measurement(scenario, implementation, count, seconds)
        self.measurements.append(measurement)
        progress(
            f"  {scenario:<12} {implementation:<22} {count:>9,} in {seconds:8.3f} s"
            f" = {measurement.rate:>12,.0f} {self.unit}"
        )
        return measurement

    def note(self, text: str) -> None:
        """Add a line to the notes printed under the table."""
        self.notes.append(text)

    def rates(self) -> dict[str, dict[str, float]]:
        """``{scenario: {implementation: rate}}`` with scenarios in first-measured order."""
        table: dict[str, dict[str, float]] = {}
        for m in self.measurements:
            table.setdefault(m.scenario, {})[m.implementation] = m.rate
        return table

    def table(
        self,
        baseline: str,
        *,
        scenario_order: Sequence[str] = (),
        implementation_order: Sequence[str] = (),
    ) -> str:
        """A text table: scenario, implementation, rate and the ratio to ``baseline``.

        The ratio is ``rate / baseline rate`` in the same scenario (above 1 is faster than the
        baseline); ``-`` where the baseline has no row for that scenario. Rows follow the given
        orders, then measurement order for anything not named in them.
        """
        rates = self.rates()
        scenarios = _ordered(rates, scenario_order)
        header = ("scenario", "implementation", self.unit, f"vs {baseline}")
        rows: list[tuple[str, str, str, str]] = []
        for scenario in scenarios:
            by_impl = rates[scenario]
            base = by_impl.get(baseline)
            for implementation in _ordered(by_impl, implementation_order):
                rate = by_impl[implementation]
                ratio = "-" if base is None else f"{rate / base:.2f}x"
                rows.append((scenario, implementation, f"{rate:,.0f}", ratio))
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]

        def line(cells: tuple[str, str, str, str]) -> str:
            return (
                f"{cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}  "
                f"{cells[2]:>{widths[2]}}  {cells[3]:>{widths[3]}}"
            )

        rule = "  ".join("-" * w for w in widths)
        out = [line(header), rule]
        previous = None
        for row in rows:
            if previous is not None and row[0] != previous:
                out.append("")
            out.append(line(row))
            previous = row[0]
        if self.notes:
            out += ["", "Notes:", *(f"- {n}" for n in self.notes)]
        return "\n".join(out)

    def json_line(self) -> str:
        """The single-line JSON object ``{scenario: {implementation: rate}}``."""
        return json.dumps(self.rates(), separators=(",", ":"), sort_keys=False)

    def print(
        self,
        baseline: str,
        *,
        as_json: bool,
        scenario_order: Sequence[str] = (),
        implementation_order: Sequence[str] = (),
    ) -> None:
        """Print the table to stdout, then (with ``as_json``) the JSON object as the last line."""
        print(
            self.table(
                baseline,
                scenario_order=scenario_order,
                implementation_order=implementation_order,
            )
        )
        if as_json:
            print(self.json_line())
        sys.stdout.flush()


def base_parser(description: str, *, default_events: int) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark script shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--events",
        type=int,
        default=default_events,
        help=f"total events per scenario (default {default_events:,})",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print {scenario: {implementation: rate}} as one JSON object on the last line",
    )
    return parser


def _ordered(keys: Iterable[str], order: Sequence[str]) -> list[str]:
    present = list(keys)
    return [k for k in order if k in present] + [k for k in present if k not in order]


def progress(text: str) -> None:
    """Report progress on stderr (stdout is kept for the table and the JSON line)."""
    print(text, file=sys.stderr, flush=True)


def run_at_once(works: Sequence[Callable[[], T]]) -> tuple[float, list[T]]:
    """Run each of ``works`` in a thread of its own, all released together by a barrier;
    returns the seconds from the release until the last one ended, and their results in
    order. The first error any of them raised is raised."""
    barrier = threading.Barrier(len(works) + 1)
    results: list[T | None] = [None] * len(works)
    errors: list[BaseException] = []

    def run(index: int, work: Callable[[], T]) -> None:
        try:
            barrier.wait()
            results[index] = work()
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=run, args=(index, work), daemon=True)
        for index, work in enumerate(works)
    ]
    for thread in threads:
        thread.start()
    with Stopwatch() as watch:
        barrier.wait()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return watch.seconds, cast("list[T]", results)
