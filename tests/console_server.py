"""The bank and its console, as ``forze serve`` runs them, plus ``slow_audit``: a projection
that takes about 2 ms an event, so a rebuild lasts long enough to watch its progress.

    python -m tests.console_server DATABASE PORT
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from forze.contracts import ReadModelStores, RecordedEvent
from forze_examples.bank import ACCOUNTS
from forze_examples.bank_http import SERVED_PROJECTIONS, serve_module
from forze_projections import Projection, sqlite_module

SLOW_SECONDS = 0.002


async def _audit(_envelope: RecordedEvent, _read_models: ReadModelStores) -> None:
    await asyncio.sleep(SLOW_SECONDS)


SLOW_AUDIT = Projection("slow_audit", 1, {t.name: _audit for t in ACCOUNTS.events})
"""Handles every bank event slowly and writes nothing."""


def main(database: Path, port: int) -> None:
    """Serve until interrupted; prints ``forze: serving URL`` once listening."""
    module = sqlite_module(database, projections=(*SERVED_PROJECTIONS, SLOW_AUDIT))
    asyncio.run(serve_module(module, port=port, ready="forze: serving"))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
