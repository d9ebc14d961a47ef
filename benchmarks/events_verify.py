"""``forze events verify`` throughput: decoding the whole log against reading it.

Run ``.venv/bin/python benchmarks/events_verify.py [--events N] [--json]``.

Setup (not timed): a temporary SQLite file holding ``--events`` events of the bank example,
stored as ``benchmarks/projections.py`` stores them (up to 1,000 accounts, opened then given
deposits and withdrawals, ten events per append).

Scenario ``verify`` (events per second), both over the same file and the same feed pages
(``read_all`` pages of 5,000 events, as the command reads them):

* ``feed read`` (the baseline): the pages only, no decoding: what any check costs at least.
* ``events verify``: ``forze events verify``'s own function (``verify_events``) with the
  bank's spec: each event decoded by the codec into its pydantic class, tallied by type and
  schema version, the report written to memory. The run fails unless every event decoded.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from forze_cli._stores import store_target
from forze_cli._verify_cmd import VerifyOptions, verify_events
from forze_eventstore import SQLiteDatabase, SQLiteEventStore

if TYPE_CHECKING:  # mypy names the file by its path; at run time benchmarks/ is sys.path[0]
    from benchmarks._harness import Results, Stopwatch, base_parser, progress
    from benchmarks.projections import append_events, plan_events
else:
    from _harness import Results, Stopwatch, base_parser, progress

    from projections import append_events, plan_events

DEFAULT_EVENTS = 200_000
PAGE = 5_000


async def _fill(path: Path, total: int) -> int:
    db = SQLiteDatabase(path, synchronous="NORMAL")
    try:
        ids, histories = plan_events(total)
        return await append_events(db, SQLiteEventStore(db), ids, histories)
    finally:
        db.close()


async def _read_only(path: Path) -> int:
    async with SQLiteEventStore(path, read_only=True) as store:
        after, count = 0, 0
        while True:
            page = await store.read_all(after=after, limit=PAGE)
            count += len(page)
            if len(page) < PAGE:
                return count
            after = page[-1].position


async def run(path: Path, total: int, results: Results) -> None:
    progress(f"storing {total:,} events of the bank example ...")
    await _fill(path, total)
    await _read_only(path)  # warm: both timed runs find the file in the page cache
    with Stopwatch() as watch:
        read = await _read_only(path)
    results.add("verify", "feed read", read, watch.seconds)
    out = io.StringIO()
    options = VerifyOptions(specs="forze_examples.bank:ACCOUNTS")
    target = store_target(db=path, store=None)
    with Stopwatch() as watch:
        ok = await verify_events(target, out, options, as_json=True)
    summary = json.loads(out.getvalue().splitlines()[-1])["summary"]
    if not ok or summary["checked"] != read:
        raise RuntimeError(f"events verify did not decode every event: {summary}")
    results.add("verify", "events verify", int(summary["checked"]), watch.seconds)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(
        "forze events verify against reading the feed", default_events=DEFAULT_EVENTS
    )
    arguments = parser.parse_args(argv)
    results = Results()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(Path(folder) / "verify.sqlite", arguments.events, results))
    results.note("the same SQLite file, read in pages of 5,000 events by both")
    results.print("feed read", as_json=arguments.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
