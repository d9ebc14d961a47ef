"""The example bank's OpenAPI document is correct: schemathesis generates requests for every
operation from it (valid and invalid ones) against the real service in its own process, and
none gets a server error."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.http_support import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bank_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example bank served by ``python -m forze_examples.bank_http`` on a free port."""
    port = free_port()
    database = tmp_path_factory.mktemp("bank") / "bank.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "forze_examples.bank_http", str(database), str(port)], cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert process.poll() is None, "the bank service exited"
                assert time.monotonic() < deadline, "the bank service did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_no_generated_request_gets_a_server_error(bank_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{bank_url}/openapi.json")
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err raises here, as it should
        if operation.path == "/feed/live":
            continue  # a stream that never ends: tests/test_http_reads.py covers it

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            response = case.call(base_url=bank_url, timeout=10)
            case.validate_response(response, checks=[not_a_server_error])

        no_server_error()
        checked.append(f"{operation.method.upper()} {operation.path}")
    assert len(checked) >= 10, checked
