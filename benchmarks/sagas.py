"""Sagas on Temporal: saga starts per second through the dispatcher beside raw temporalio
signal-with-start calls, and event-to-signal latency.

Run ``.venv/bin/python benchmarks/sagas.py [--events N] [--quick] [--json]``. The server is the
tests' dev server (``FORZE_TEST_TEMPORAL_ADDRESS``, default 127.0.0.1:7233; ``make services``
starts it). Every run uses task queues and workflow ids of its own (``bench-<random>-``) and
leaves its workflows there: those of ``starts`` stay scheduled (no worker polls their queue),
those of the latency run mostly complete. The dev server's store is throwaway; terminating
them would load the server (at about the rate of the starts) for a minute after the run.

Scenario ``starts`` (saga starts per second): ``--events`` ``TripRequested`` events of distinct
trips (the trip saga of ``forze_projections.testing.saga_samples``) in a SQLite event store,
each starting an instance.

* ``dispatcher``: ``SagaDispatcher.catch_up()`` through a ``TemporalSagaRunner``: from the store
  to Temporal's acceptance of every signal-with-start (the runner's ``deliver`` returned),
  the checkpoint saved after every page. ``--lanes`` (16) and ``--batch-size`` (500), the
  dispatcher's defaults.
* ``raw``: temporalio's ``client.start_workflow`` with the runner's arguments (workflow type
  ``forze-saga``, the same start argument and search attributes, start signal ``deliver``
  with the same event JSON built before the clock starts, ``USE_EXISTING`` /
  ``REJECT_DUPLICATE``), ``--lanes`` calls at once (a semaphore), to workflow ids of its own.

No worker polls the task queue while these run: the workflows are accepted and stay
scheduled (starts are measured, not the instances' work).

Scenario ``latency-*`` (milliseconds, not a rate): trips requested at ``--rate`` per second for
``--seconds`` (one append each), each paid half a second later (another append), while a live
dispatcher (``async with dispatcher:``; this process, with the appends) delivers them and a
``SagaWorker`` in a process of its own (``_sagas_worker.py``) runs the instances, their steps
appending to the same store:

* ``latency-start``: from just before a ``TripRequested`` append to its signal-with-start
  accepted by Temporal (the runner's ``deliver`` returned; ``time.monotonic()`` in a wrapping
  runner);
* ``latency-signal``: the same for ``TripPaid`` (a plain signal to the running instance);
* ``latency-step``: from the ``TripRequested`` being recorded to the instance's first step
  (``HotelReserved``, appended by the worker process) being recorded: both ``recorded_at`` of
  the store, wall clock, in the two processes of this machine.

Scenario ``no-temporal``: the dispatcher alone, to a runner that accepts at once (reading
pages, keys, lanes, checkpoints). ``--profile`` prints a cProfile of one more dispatcher
catch-up to stderr.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from forze_temporal import run_process

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Results, base_parser, progress
    from benchmarks._sagas_run import (
        TEMPORAL_ADDRESS,
        Latency,
        LiveLatencies,
        Options,
        connect,
        dispatcher_alone,
        latency,
        open_rig,
        starts,
    )
else:
    from _harness import Results, base_parser, progress
    from _sagas_run import (
        TEMPORAL_ADDRESS,
        Latency,
        LiveLatencies,
        Options,
        connect,
        dispatcher_alone,
        latency,
        open_rig,
        starts,
    )

DEFAULT_EVENTS = 2_000
SLICES = 4
RATE = 10.0
SECONDS = 10.0
DISPATCHER, RAW = "dispatcher", "raw"
STARTS, NO_TEMPORAL = "starts", "no-temporal"
TARGET_RATIO = 0.8


@dataclass
class Report:
    """Throughput results, the latency run and the profile."""

    results: Results = field(default_factory=lambda: Results(unit="starts/s"))
    live: LiveLatencies | None = None
    profile: str = ""


async def run_all(args: argparse.Namespace, options: Options, folder: Path) -> Report:
    """The dispatcher alone, then starts against raw, then the latency run."""
    report = Report()
    progress(f"the dispatcher alone (no Temporal): {args.events:,} trips")
    alone = await dispatcher_alone(folder, args.events, options)
    report.results.add(NO_TEMPORAL, DISPATCHER, args.events, alone)
    client = await connect()
    rigs = [open_rig(client), open_rig(client)]  # a task queue each
    try:
        progress(f"starts on {TEMPORAL_ADDRESS}: {args.events:,} trips in {SLICES} slices")
        measured = await starts(rigs[0], folder, args.events, SLICES, options)
        raw, dispatched, report.profile = measured
        report.results.add(STARTS, RAW, args.events, raw)
        report.results.add(STARTS, DISPATCHER, args.events, dispatched)
        if args.seconds > 0:
            progress(f"latency: {args.rate:,.0f} trips/s for {args.seconds} s")
            live = await latency(rigs[1], folder, options, args.rate, args.seconds)
            report.live = live
            for name, lat in _latencies(live).items():
                progress(f"  {name}: p50 {lat.p50:.1f} ms, p99 {lat.p99:.1f} ms")
    finally:
        for rig in rigs:
            rig.left()
    return report


def _latencies(live: LiveLatencies) -> dict[str, Latency]:
    return {
        "latency-start": live.start,
        "latency-signal": live.signal,
        "latency-step": live.step,
    }


def print_report(report: Report, args: argparse.Namespace, options: Options) -> None:
    """The throughput table, latencies, notes, the target; then (``--json``) the JSON line."""
    results = report.results
    rates = results.rates()
    lines = [
        results.table(RAW, scenario_order=[STARTS], implementation_order=[DISPATCHER, RAW]),
        "",
    ]
    if report.live is not None:
        lines += ["latency                        p50 ms    p99 ms  worst ms  events"]
        for name, lat in _latencies(report.live).items():
            lines.append(
                f"{name:<28}{lat.p50:>9.1f}  {lat.p99:>8.1f}  {lat.worst:>8.1f}  {lat.events:>6,}"
            )
        lines += [f"(trips requested at {report.live.rate:,.0f}/s, each paid 0.5 s later)", ""]
    lines += [
        "Notes:",
        f"- starts: {args.events:,} TripRequested events of distinct trips in a SQLite store"
        f" (synchronous=NORMAL), stored in {SLICES} slices; after each, raw and dispatcher start"
        " its workflows (taking turns to go first), after a warm-up of a tenth as many (at most"
        " 100). Measured: Temporal's acceptance of every signal-with-start; no worker polls the"
        " task queue, so the workflows stay scheduled (left there, ids bench-*).",
        f"- dispatcher lanes {options.lanes}, batch_size {options.batch_size} (a page's"
        " deliveries all accepted, then its checkpoint saved, before the next page); raw:"
        f" the same start_workflow calls, {options.lanes} at once over the whole slice (no"
        " pages, no checkpoints).",
        f"- latency: {args.rate:,.0f} TripRequested appends/s for {args.seconds} s plus a"
        " TripPaid append per trip 0.5 s later, first 10% left out; start/signal: append ->"
        " Temporal accepted the signal(-with-start) (the dispatcher's deliver returned);"
        " step: TripRequested recorded -> the first step's event recorded by the worker (its"
        " own process: workflow task, activity, usecase). Dispatcher and appends share one"
        " process and event loop.",
        "- no-temporal: the dispatcher to a runner that accepts at once: its own cost per event.",
        f"- Temporal dev server at {TEMPORAL_ADDRESS} (temporal CLI, SQLite), on this machine:"
        " its store bounds the starts (raw alone gives about the same rate with 1, 16 or 64"
        " calls at once), and full trips (start, 2 steps, payment) saturate it at about 20/s,"
        f" hence the latency run's default rate. Python {platform.python_version()}.",
        "",
        "Target (from the issue; reported, never asserted):",
    ]
    by_impl = rates.get(STARTS, {})
    if DISPATCHER in by_impl and RAW in by_impl:
        ratio = by_impl[DISPATCHER] / by_impl[RAW]
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        lines.append(f"- dispatcher/raw {ratio:.2f}x (>= {TARGET_RATIO}x): {verdict}")
    print("\n".join(lines))
    if args.json:
        table: dict[str, dict[str, float]] = dict(rates)
        if report.live is not None:
            for name, lat in _latencies(report.live).items():
                table[name] = {"p50-ms": lat.p50, "p99-ms": lat.p99, "max-ms": lat.worst}
        print(json.dumps(table, separators=(",", ":")))


async def run_and_print(args: argparse.Namespace, options: Options) -> None:
    """Everything, in a temporary folder; then the profile (stderr) and the report."""
    with tempfile.TemporaryDirectory(prefix="forze-bench-") as tmp:
        report = await run_all(args, options, Path(tmp))
    if report.profile:
        progress(f"--- cProfile of a dispatcher catch-up (by own time) ---\n{report.profile}")
    print_report(report, args, options)


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(
        "Saga starts per second through the dispatcher against raw temporalio"
        " signal-with-start, and event-to-signal latency.",
        default_events=DEFAULT_EVENTS,
    )
    parser.add_argument("--rate", type=float, default=RATE, help="latency: trips per second")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="latency: 0 skips it")
    parser.add_argument("--lanes", type=int, default=16, help="dispatcher lanes (and raw's)")
    parser.add_argument("--batch-size", type=int, default=500, help="dispatcher batch_size")
    parser.add_argument("--profile", action="store_true", help="cProfile a dispatcher catch-up")
    parser.add_argument("--quick", action="store_true", help="400 trips, 2 s of latency")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.seconds = 400, 2.0
    if args.events < SLICES or args.rate <= 0 or args.lanes < 1 or args.batch_size < 1:
        parser.error(f"--events must be >= {SLICES}; --rate, --lanes, --batch-size > 0")
    if args.seconds < 0:
        parser.error("--seconds must be >= 0")
    options = Options(args.lanes, args.batch_size, args.profile)
    # temporalio's bridge may abort an interpreter that finalizes right after using it
    # (sdk-python issue 300): run_process flushes and leaves without the teardown.
    run_process(lambda: run_and_print(args, options))


if __name__ == "__main__":
    main()
