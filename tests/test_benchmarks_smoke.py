"""Every benchmark runs end to end and reports every row (speed is never asserted)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

EVENTSTORE_EXPECTED = {
    "append": {"forze-sqlite", "forze-memory", "eventsourcing-sqlite", "eventsourcing-memory"},
    "append-raw": {"forze-sqlite", "forze-memory"},
    "append-16": {"forze-sqlite", "forze-memory"},
    "load": {"forze-sqlite", "forze-memory", "eventsourcing-sqlite", "eventsourcing-memory"},
    "feed": {"forze-sqlite", "forze-memory", "eventsourcing-sqlite", "eventsourcing-memory"},
    "feed-encoded": {"eventsourcing-sqlite", "eventsourcing-memory"},
}

POSTGRES_EXPECTED = {
    "append-1w": {"forze", "eventsourcing", "raw"},
    "append-8w": {"forze", "eventsourcing", "raw"},
    "append-batch": {"forze", "eventsourcing", "raw"},
    "append-command": {"forze", "eventsourcing"},
    "replay": {"forze", "eventsourcing", "raw"},
    "replay-long": {"forze", "eventsourcing", "raw"},
    "feed": {"forze", "eventsourcing", "raw"},
    "rebuild": {"forze", "raw"},
}


MONGO_EXPECTED = {
    **{
        scenario: {"postgres", "mongo", "mongo-raw"}
        for scenario in ("append-1w", "append-8w", "replay", "feed")
    },
    "rebuild": {"postgres", "mongo"},
}
MESSAGING_EXPECTED = {
    "no-broker": {"relay"},
    **{broker: {"relay", "raw"} for broker in ("rabbitmq", "redis", "sqs")},
    **{
        f"latency-{broker}": {"p50-ms", "p99-ms", "max-ms"}
        for broker in ("rabbitmq", "redis", "sqs")
    },
}

SAGAS_EXPECTED = {
    "starts": {"dispatcher", "raw"},
    "no-temporal": {"dispatcher"},
    **{f"latency-{kind}": {"p50-ms", "p99-ms", "max-ms"} for kind in ("start", "signal", "step")},
}


def run_benchmark(script: str, events: int, expected: dict[str, set[str]], *options: str) -> str:
    """Run ``script --events N --json [options]``; check its JSON last line; return everything
    printed."""
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--events", str(events), "--json", *options],
        cwd=BENCHMARKS.parent,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert lines, "the benchmark printed nothing"
    report = json.loads(lines[-1])
    assert isinstance(report, dict)
    assert {scenario: set(rates) for scenario, rates in report.items()} == expected
    for scenario, rates in report.items():
        for implementation, rate in rates.items():
            assert isinstance(rate, int | float), (scenario, implementation, rate)
            assert math.isfinite(rate), (scenario, implementation, rate)
            assert rate > 0, (scenario, implementation, rate)
    return completed.stdout


def test_eventstore_benchmark_reports_every_scenario_and_implementation() -> None:
    printed = run_benchmark("eventstore.py", 200, EVENTSTORE_EXPECTED)
    assert "eventsourcing-sqlite" in printed  # the table came before the JSON line
    assert "Event loop stalls of forze-sqlite" in printed  # with its worst-stall figure
    assert "Thread hand-off floor on this machine" in printed  # what the stalls' fix costs


def test_projections_benchmark_reports_forze_and_naive_rebuild() -> None:
    printed = run_benchmark("projections.py", 300, {"rebuild": {"forze", "naive"}})
    assert "synchronous=NORMAL" in printed  # the table and its notes came first


def test_postgres_benchmark_reports_every_scenario_and_implementation() -> None:
    """Runs on the server of FORZE_TEST_POSTGRES_DSN, in a database it creates and drops."""
    printed = run_benchmark("postgres.py", 200, POSTGRES_EXPECTED)
    assert "forze/eventsourcing" in printed  # the table came before the JSON line
    assert "Targets" in printed


def test_mongo_benchmark_reports_every_scenario_beside_postgres() -> None:
    """Runs on the servers of FORZE_TEST_MONGO_URL and FORZE_TEST_POSTGRES_DSN, in a database
    and a schema it drops."""
    printed = run_benchmark("mongo.py", 200, MONGO_EXPECTED)
    assert "nx-27017" in printed  # the table and its notes came before the JSON line


def test_http_benchmark_reports_forze_routes_beside_bare_endpoints() -> None:
    """Runs one uvicorn server in the benchmark's process, on a SQLite file it makes."""
    expected = {"commands": {"bare", "forze"}, "sse-fanout": {"bare", "forze"}}
    printed = run_benchmark("http_api.py", 100, expected, "--clients", "10")
    assert "sse-fanout: 10 clients" in printed  # the table and its notes came first


def test_messaging_benchmark_reports_relay_and_raw_throughput_and_latency_on_every_broker() -> None:
    """Runs on the RabbitMQ, Redis and moto SQS servers of the tests, on fresh destinations."""
    options = ("--sqs-events", "30", "--seconds", "0.3", "--sqs-rate", "20")
    printed = run_benchmark("messaging.py", 200, MESSAGING_EXPECTED, *options)
    assert "relay/raw" in printed  # the table and its targets came before the JSON line


def test_sagas_benchmark_reports_dispatcher_and_raw_starts_and_latency() -> None:
    """Runs on the Temporal dev server of the tests, on a task queue and workflow ids of its
    own."""
    printed = run_benchmark("sagas.py", 8, SAGAS_EXPECTED, "--seconds", "1", "--rate", "10")
    assert "dispatcher/raw" in printed  # the table and its target came before the JSON line


def test_eventsourcing_import_benchmark_reports_forze_beside_eventsourcings_recorders() -> None:
    """Runs on the server of FORZE_TEST_POSTGRES_DSN, in a database it creates and drops;
    the script itself fails unless both copies hold every event."""
    expected = {"copy 300 events": {"eventsourcing recorders", "forze import"}}
    printed = run_benchmark("eventsourcing_import.py", 300, expected)
    assert "check: both copies hold every event in order" in printed
