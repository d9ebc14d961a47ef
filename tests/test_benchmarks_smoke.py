"""The event-store benchmark runs end to end and reports every row (it asserts no speed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "eventstore.py"

EXPECTED = {
    "append": {"forze-sqlite", "forze-memory", "eventsourcing-sqlite", "eventsourcing-memory"},
    "append-raw": {"forze-sqlite", "forze-memory"},
    "load": {"forze-sqlite", "forze-memory", "eventsourcing-sqlite", "eventsourcing-memory"},
    "feed": {"forze-sqlite", "forze-memory", "eventsourcing-sqlite", "eventsourcing-memory"},
    "feed-encoded": {"eventsourcing-sqlite", "eventsourcing-memory"},
}


def test_eventstore_benchmark_reports_every_scenario_and_implementation() -> None:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--events", "200", "--json"],
        cwd=SCRIPT.parents[1],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr

    lines = completed.stdout.strip().splitlines()
    assert lines, "the benchmark printed nothing"
    report = json.loads(lines[-1])
    assert isinstance(report, dict)
    assert {scenario: set(rates) for scenario, rates in report.items()} == EXPECTED
    for scenario, rates in report.items():
        for implementation, rate in rates.items():
            assert isinstance(rate, int | float), (scenario, implementation, rate)
            assert math.isfinite(rate), (scenario, implementation, rate)
            assert rate > 0, (scenario, implementation, rate)
    assert "eventsourcing-sqlite" in completed.stdout  # the table came before the JSON line


PROJECTIONS_SCRIPT = SCRIPT.parent / "projections.py"


def test_projections_benchmark_reports_forze_and_naive_rebuild() -> None:
    completed = subprocess.run(
        [sys.executable, str(PROJECTIONS_SCRIPT), "--events", "300", "--json"],
        cwd=PROJECTIONS_SCRIPT.parents[1],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr

    lines = completed.stdout.strip().splitlines()
    assert lines, "the benchmark printed nothing"
    report = json.loads(lines[-1])
    assert isinstance(report, dict)
    assert {scenario: set(rates) for scenario, rates in report.items()} == {
        "rebuild": {"forze", "naive"}
    }
    for implementation, rate in report["rebuild"].items():
        assert isinstance(rate, int | float), (implementation, rate)
        assert math.isfinite(rate), (implementation, rate)
        assert rate > 0, (implementation, rate)
    assert "synchronous=NORMAL" in completed.stdout  # the table and its notes came first


POSTGRES_SCRIPT = SCRIPT.parent / "postgres.py"

POSTGRES_EXPECTED = {
    "append-1w": {"forze", "eventsourcing", "raw"},
    "append-8w": {"forze", "eventsourcing", "raw"},
    "append-batch": {"forze", "eventsourcing", "raw"},
    "append-command": {"forze", "eventsourcing"},
    "replay": {"forze", "eventsourcing", "raw"},
    "feed": {"forze", "eventsourcing", "raw"},
    "rebuild": {"forze", "raw"},
}


def test_postgres_benchmark_reports_every_scenario_and_implementation() -> None:
    """Runs on the server of FORZE_TEST_POSTGRES_DSN, in a database it creates and drops."""
    completed = subprocess.run(
        [sys.executable, str(POSTGRES_SCRIPT), "--events", "200", "--json"],
        cwd=POSTGRES_SCRIPT.parents[1],
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
    assert {scenario: set(rates) for scenario, rates in report.items()} == POSTGRES_EXPECTED
    for scenario, rates in report.items():
        for implementation, rate in rates.items():
            assert isinstance(rate, int | float), (scenario, implementation, rate)
            assert math.isfinite(rate), (scenario, implementation, rate)
            assert rate > 0, (scenario, implementation, rate)
    assert "forze/eventsourcing" in completed.stdout  # the table came before the JSON line
    assert "Targets" in completed.stdout
