"""A service process wired with one backend module (``tests/test_backend_modules.py``).

    python -m tests.backend_module_worker sqlite PATH TAG COUNT
    python -m tests.backend_module_worker postgres DSN SCHEMA TAG COUNT
    python -m tests.backend_module_worker mongo URL DATABASE TAG COUNT

Opens a runtime with the bank's balances projection running, opens account ``TAG`` and makes
``COUNT`` deposits of 1 into it, printing ``started`` after the first and ``deposited`` after
the last; then keeps the runtime (and its projector) up until stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

from forze import DepsModule, build_runtime
from forze_examples.bank import BALANCES_PROJECTION, DEPOSIT, OPEN_ACCOUNT, Deposit, OpenAccount
from forze_mongo import mongo_module
from forze_postgres import postgres_module
from forze_projections import ProjectorOptions, sqlite_module

OPTIONS = ProjectorOptions(lease_seconds=1.0)
"""A short lease, so that a standby takes over from a killed holder within the test."""


def module_of(arguments: list[str]) -> DepsModule:
    """The backend module named by ``sqlite PATH``, ``postgres DSN SCHEMA`` or
    ``mongo URL DATABASE``."""
    projections = [BALANCES_PROJECTION]
    if arguments[0] == "mongo":
        return mongo_module(
            arguments[1], database=arguments[2], projections=projections, projector=OPTIONS
        )
    if arguments[0] == "sqlite":
        return sqlite_module(
            arguments[1], projections=projections, projector=OPTIONS, synchronous="NORMAL"
        )
    return postgres_module(
        arguments[1],
        schema=arguments[2],
        max_connections=3,
        projections=projections,
        projector=OPTIONS,
    )


async def serve(arguments: list[str], tag: str, count: int) -> None:
    """Deposit, then keep serving until the parent closes stdin."""
    async with build_runtime(module_of(arguments), usecases=(OPEN_ACCOUNT, DEPOSIT)) as runtime:
        await runtime.execute(OPEN_ACCOUNT, OpenAccount(account_id=tag, owner=tag))
        print("started", flush=True)
        for _ in range(count):
            await runtime.execute(DEPOSIT, Deposit(account_id=tag, amount=1))
        print("deposited", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> None:
    """Parse the command line and run."""
    *where, tag, count = sys.argv[1:]
    asyncio.run(serve(where, tag, int(count)))


if __name__ == "__main__":
    main()
