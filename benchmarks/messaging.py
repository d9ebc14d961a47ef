"""The relay on real brokers: throughput beside a raw client, and end-to-end latency.

Run ``.venv/bin/python benchmarks/messaging.py [--events N] [--quick] [--json]``. The brokers
are the ones the tests use (``FORZE_TEST_RABBITMQ_URL``, ``FORZE_TEST_REDIS_URL``,
``FORZE_TEST_SQS_ENDPOINT``; localhost defaults; ``make services`` starts them). Every run
declares fresh exchanges, queues and streams and deletes them at the end.

Scenario ``<broker>`` (events per second), for RabbitMQ, Redis Streams and SQS (moto):

* ``relay``: ``Relay.catch_up()`` of a SQLite event store file holding ``--events`` events
  (``--sqs-events`` for SQS) over 1,000 carts: from the store to the broker's acceptance
  (RabbitMQ: publisher confirms; Redis: the pipelined XADDs answered; SQS: SendMessageBatch
  answered), the checkpoint saved after every page. The relay's defaults unless
  ``--batch-size`` / ``--lanes``.
* ``raw``: the broker's own client publishing the same messages (``message_of`` of the same
  recorded events, built before the clock starts) with the same guarantee, one call per
  relay page: aio-pika ``basic_publish`` on a confirming channel, every confirm awaited;
  redis-py, one non-transactional pipeline of XADDs; aiobotocore SendMessageBatch of 10.

Scenario ``latency-<broker>`` (milliseconds, not a rate): one event per append at a steady
``--rate`` (1,000/s; ``--sqs-rate``, 20/s, on moto, which handles about 100 messages/s)
for ``--seconds`` while the relay runs live (``async with relay:``) and
a forze ``Consumer`` (batch_size 100, concurrency 64) on the broker's subscriber calls a
handler for each message (acked once it returned); p50, p99 and worst from just before the
append to the handler being called with it (``time.monotonic()`` in both processes:
CLOCK_MONOTONIC, system-wide on Linux). The appends and the relay share this process and its
event loop; the consumer runs in a process of its own (``_messaging_consumer.py``, started
and subscribed before the first append), as a deployment runs it.

Scenario ``no-broker``: the relay alone, to a publisher that accepts at once (reading pages,
building messages, checkpoints). ``--profile`` prints a cProfile of one more relay catch-up
per broker to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Results, base_parser, progress
    from benchmarks._messaging_brokers import BROKERS, open_rig
    from benchmarks._messaging_run import (
        STREAMS,
        Latency,
        Options,
        fill,
        latency,
        open_store,
        relay_alone,
        throughput,
    )
else:
    from _harness import Results, base_parser, progress
    from _messaging_brokers import BROKERS, open_rig
    from _messaging_run import (
        STREAMS,
        Latency,
        Options,
        fill,
        latency,
        open_store,
        relay_alone,
        throughput,
    )

DEFAULT_EVENTS = 20_000
DEFAULT_SQS_EVENTS = 1_000
SLICES = 5
RATE = 1_000.0
SQS_RATE = 20.0
SECONDS = 5.0
RELAY, RAW = "relay", "raw"
NO_BROKER = "no-broker"
TARGET_RATIO = 0.8
TARGET_P99_MS = 50.0
TARGETED = ("rabbitmq", "redis")


@dataclass
class Report:
    """Throughput results, latencies per broker and profiles."""

    results: Results = field(default_factory=Results)
    latencies: dict[str, Latency] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)


async def run_all(args: argparse.Namespace, options: Options, folder: Path) -> Report:
    """Every broker of ``args.brokers``: throughput first, then latency on fresh destinations."""
    report = Report()
    sizes = {"sqs": args.sqs_events}
    alone = open_store(folder / "alone.sqlite")
    try:
        progress(f"the relay alone (no broker): {args.events:,} events")
        await fill(alone, args.events, STREAMS)
        report.results.add(NO_BROKER, RELAY, args.events, await relay_alone(alone, options))
    finally:
        alone.db.close()
    for broker in args.brokers:
        size = sizes.get(broker, args.events)
        progress(f"{broker}: throughput, {size:,} events in {SLICES} slices")
        async with open_rig(broker) as rig:
            raw, relay, profile = await throughput(rig, folder, size, SLICES, options)
        report.results.add(broker, RAW, size, raw)
        report.results.add(broker, RELAY, size, relay)
        if profile:
            report.profiles[broker] = profile
        if args.seconds > 0:
            rate = args.sqs_rate if broker == "sqs" else args.rate
            progress(f"{broker}: latency at {rate:,.0f} events/s for {args.seconds} s")
            live = open_store(folder / f"live-{broker}.sqlite")
            try:
                async with open_rig(broker) as rig:
                    lat = await latency(rig, live, options, rate, args.seconds)
            finally:
                live.db.close()
            report.latencies[broker] = lat
            progress(f"  p50 {lat.p50:.1f} ms, p99 {lat.p99:.1f} ms, worst {lat.worst:.1f}")
    return report


def print_report(report: Report, args: argparse.Namespace, options: Options) -> None:
    """The throughput table, latencies, notes, targets; then (``--json``) the JSON line."""
    results = report.results
    rates = results.rates()
    lines = [results.table(RAW, implementation_order=[RELAY, RAW]), ""]
    if report.latencies:
        lines += ["latency (append -> handler)       p50 ms    p99 ms  worst ms  events"]
        for broker, lat in report.latencies.items():
            lines.append(
                f"{broker:<32}{lat.p50:>8.1f}  {lat.p99:>8.1f}  {lat.worst:>8.1f}  {lat.events:>6,}"
                f"  (appended at {lat.rate:,.0f}/s)"
            )
        lines.append("")
    batch = "default (500)" if options.batch_size is None else str(options.batch_size)
    lanes = "default (the publisher's parallel_calls)"
    if options.lanes is not None:
        lanes = str(options.lanes)
    lines += [
        "Notes:",
        f"- relay batch_size {batch}, lanes {lanes}; raw publishes the relay's page size per"
        " call. Events spread over up to 1,000 carts, a 50-byte body and ~320 bytes of"
        " attributes each; SQLite"
        f" synchronous=NORMAL. Stored in {SLICES} slices; after each, raw and relay publish it"
        " (taking turns to go first), each to its own destination, both after a warm-up of"
        " a tenth as many events (at most 500); counts checked at the broker.",
        "- RabbitMQ: durable quorum queues, persistent messages. SQS: standard queues on moto"
        " (a Python server: its figures say little about AWS).",
        f"- latency: {args.rate:,.0f} appends/s ({args.sqs_rate:,.0f}/s on SQS) for"
        f" {args.seconds} s, first 10% left out; relay and appends share one process and"
        " event loop, the consumer (a forze Consumer, batch_size 100, concurrency 64) runs in"
        " a process of its own.",
        "- no-broker: the relay to a publisher that accepts at once: its own cost per event.",
        f"- Python {platform.python_version()}.",
        "",
        "Targets (from issue 11; reported, never asserted):",
    ]
    for broker in TARGETED:
        by_impl = rates.get(broker, {})
        if RELAY in by_impl and RAW in by_impl:
            ratio = by_impl[RELAY] / by_impl[RAW]
            verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
            lines.append(f"- {broker} relay/raw {ratio:.2f}x (>= {TARGET_RATIO}x): {verdict}")
        if broker in report.latencies:
            p99 = report.latencies[broker].p99
            verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
            lines.append(f"- {broker} p99 {p99:.1f} ms (< {TARGET_P99_MS:.0f} ms): {verdict}")
    print("\n".join(lines))
    if args.json:
        table: dict[str, dict[str, float]] = dict(rates)
        for broker, lat in report.latencies.items():
            table[f"latency-{broker}"] = {"p50-ms": lat.p50, "p99-ms": lat.p99, "max-ms": lat.worst}
        print(json.dumps(table, separators=(",", ":")))


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(
        "Events per second of the relay against raw broker clients, and its end-to-end latency.",
        default_events=DEFAULT_EVENTS,
    )
    parser.add_argument("--sqs-events", type=int, default=DEFAULT_SQS_EVENTS)
    parser.add_argument("--rate", type=float, default=RATE, help="latency: appends per second")
    parser.add_argument(
        "--sqs-rate", type=float, default=SQS_RATE, help="latency on SQS (moto): appends/s"
    )
    parser.add_argument("--seconds", type=float, default=SECONDS, help="latency: 0 skips it")
    parser.add_argument("--batch-size", type=int, default=None, help="relay batch_size")
    parser.add_argument("--lanes", type=int, default=None, help="relay lanes")
    parser.add_argument("--brokers", nargs="+", choices=BROKERS, default=list(BROKERS))
    parser.add_argument("--profile", action="store_true", help="cProfile a relay catch-up")
    parser.add_argument("--quick", action="store_true", help="2,000 events, 200 on SQS, 1 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.sqs_events, args.seconds = 2_000, 200, 1.0
    if min(args.events, args.sqs_events) < 1 or min(args.rate, args.sqs_rate) <= 0:
        parser.error("--events and --sqs-events must be >= 1, the rates > 0")
    if args.seconds < 0:
        parser.error("--seconds must be >= 0")
    options = Options(args.batch_size, args.lanes, args.profile)
    with tempfile.TemporaryDirectory(prefix="forze-bench-") as tmp:
        report = asyncio.run(run_all(args, options, Path(tmp)))
    for broker, profile in report.profiles.items():
        progress(f"--- cProfile of a relay catch-up on {broker} (by own time) ---\n{profile}")
    print_report(report, args, options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
