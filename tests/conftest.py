"""Session-wide fixtures."""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
from collections.abc import Generator, Iterator
from urllib.parse import urlsplit

import pytest

from tests.mongo_support import MONGO_URL
from tests.postgres_support import create_test_database, drop_test_database


def pytest_configure(config: pytest.Config) -> None:
    """Let PyMongo's own socket leak through, and only that kind: PyMongo 4.20 does not
    close a socket whose connect is cancelled (PYTHON-5867), so cancelling an operation
    while the pool opens a connection (a projector stopping, a tail cancelled) leaves a
    socket for the garbage collector, which warns. Cancelled during the TCP handshake, that
    socket has no peer yet and its warning names only a local address; cancelled later, its
    peer is the Mongo test server. Both are ignored. An unclosed socket connected to any
    other server still fails the test that leaks it."""
    port = urlsplit(MONGO_URL).port or 27017
    config.addinivalue_line(
        "filterwarnings",
        rf"ignore:unclosed <socket\.socket .*raddr=\('[^']*', {port}\)>:ResourceWarning",
    )
    config.addinivalue_line(
        "filterwarnings",
        r"ignore:unclosed <socket\.socket fd=\d+, family=\d+, type=\d+, proto=\d+, "
        r"laddr=\([^)]*\)>:ResourceWarning",
    )


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a throwaway database for this test session."""
    dsn = create_test_database()
    try:
        yield dsn
    finally:
        drop_test_database(dsn)


WATCHDOG_SECONDS = 300.0
"""A test whose setup, call and teardown together take this long ends the run, with every
thread's stack printed. pytest-timeout (120 s) fails a slow test first; this catches what it
cannot interrupt twice, such as a teardown that waits forever after a timed-out test."""


def _give_up(nodeid: str) -> None:
    stream = sys.__stderr__ or sys.stderr
    stream.write(f"\n{nodeid} still runs after {WATCHDOG_SECONDS} s; its stacks:\n")
    faulthandler.dump_traceback(file=stream, all_threads=True)
    stream.flush()
    os._exit(3)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    """Arm the watchdog for one test, setup to teardown."""
    watchdog = threading.Timer(WATCHDOG_SECONDS, _give_up, args=(item.nodeid,))
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()


_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Keep the run's exit status for :func:`pytest_unconfigure`."""
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """After a run that used temporalio, leave without interpreter teardown, with the run's
    status: the SDK's Rust threads may still drop Python objects while CPython finalizes and
    abort the process (temporalio/sdk-python issue 300), turning a green run red. Everything
    is reported by now; ``forze_temporal.run_process`` does the same for services."""
    if "temporalio" in sys.modules and _EXIT_STATUS:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(_EXIT_STATUS[-1])
