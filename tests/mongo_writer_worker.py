"""A writer process that stops for good in the middle of an append, for
``tests/test_mongo_processes.py``.

    python -m tests.mongo_writer_worker URL DATABASE STREAM LEASE

It appends five events to STREAM with an ``append_lease`` of LEASE seconds, but its
finalize step never comes: once the events are inserted it prints ``inserted <its
reservation's token>`` and waits to be killed, as a process that dies mid-append would leave things.
"""

from __future__ import annotations

import asyncio
import sys

from forze_eventstore.testing.helpers import new_events
from forze_mongo import MongoDatabase, MongoEventStore
from forze_mongo._ledger import Ledger


async def _never(self: Ledger, token: str) -> bool:
    print(f"inserted {token}", flush=True)
    await asyncio.Event().wait()
    return False


async def main(url: str, database: str, stream: str, lease: float) -> None:
    Ledger.finalize = _never  # type: ignore[method-assign]
    store = MongoEventStore(MongoDatabase.connect(url, database=database), append_lease=lease)
    await store.append(stream, new_events(5, "Doomed"))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
