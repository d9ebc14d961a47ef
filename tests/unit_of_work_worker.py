"""A process making bank transfers, each one unit of work (``tests/test_unit_of_work.py``).

    python -m tests.unit_of_work_worker sqlite PATH TAG COUNT
    python -m tests.unit_of_work_worker postgres DSN SCHEMA TAG COUNT
    python -m tests.unit_of_work_worker mongo URL DATABASE TAG COUNT

Runs ``COUNT`` transfers of 1 between accounts ``a`` and ``b`` (alternating directions), with
ids ``TAG-0``, ``TAG-1``..., retrying conflicts, and prints ``done`` when all are stored.
Prints ``started`` after the first one, so that a test can kill it mid-run.
"""

from __future__ import annotations

import asyncio
import sys

from forze import DepsModule, build_runtime, retry_on_conflict
from forze_eventstore import sqlite_events_module
from forze_examples.bank import TRANSFER, Transfer
from forze_mongo import mongo_module
from forze_postgres import postgres_module


def module_of(arguments: list[str]) -> DepsModule:
    """The event-store module named by ``sqlite PATH``, ``postgres DSN SCHEMA`` or
    ``mongo URL DATABASE`` (a 1 s append lease, as the test's own runtime)."""
    if arguments[0] == "mongo":
        return mongo_module(arguments[1], database=arguments[2], append_lease=1.0)
    if arguments[0] == "sqlite":
        return sqlite_events_module(arguments[1], synchronous="NORMAL")
    return postgres_module(arguments[1], schema=arguments[2], max_connections=2)


async def transfer(arguments: list[str], tag: str, count: int) -> None:
    """Make the transfers, telling the parent when the first one is stored."""
    middleware = [retry_on_conflict(attempts=200)]
    async with build_runtime(
        module_of(arguments), usecases=(TRANSFER,), middleware=middleware
    ) as runtime:
        for n in range(count):
            source, target = ("a", "b") if n % 2 == 0 else ("b", "a")
            command = Transfer(
                transfer_id=f"{tag}-{n}", from_account=source, to_account=target, amount=1
            )
            await runtime.execute(TRANSFER, command)
            if n == 0:
                print("started", flush=True)
    print("done", flush=True)


def main() -> None:
    """Parse the command line and run."""
    *where, tag, count = sys.argv[1:]
    asyncio.run(transfer(where, tag, int(count)))


if __name__ == "__main__":
    main()
