"""``forze feed tail``: print the global feed of a store, optionally following it.

The type and category filters come first: ``--last N`` starts N *matching* events before the
head; ``--count N`` stops after N printed events (without ``--follow``: the newest N).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Collection, Sequence
from typing import TextIO

from forze import RecordedEvent
from forze.contracts import EventStore
from forze_cli._console import Part, line_writer
from forze_cli._stores import StoreTarget, open_store

__all__ = ["format_event", "tail_feed"]

_PAGE = 1000
"""Events read per call."""


def format_event(event: RecordedEvent, *, as_json: bool) -> str:
    """One line for ``event``: a JSON object, or columns for people."""
    if as_json:
        record = {
            "position": event.position,
            "stream_id": event.stream_id,
            "version": event.version,
            "event_id": str(event.event_id),
            "event_type": event.event_type,
            "recorded_at": event.recorded_at.isoformat(),
            "data": event.data,
            "metadata": event.metadata,
        }
        return json.dumps(record, sort_keys=True)
    return "".join(text for text, _ in _parts(event))


def _parts(event: RecordedEvent) -> list[Part]:
    return [
        (f"#{event.position:<8} ", "dim"),
        (f"{event.recorded_at:%H:%M:%S} ", "dim"),
        (f"{event.stream_id:<20} ", "cyan"),
        (f"v{event.version:<4} ", ""),
        (f"{event.event_type:<18}", "bold"),
        (" " + json.dumps(event.data, sort_keys=True), ""),
    ]


async def _start_of_last(
    store: EventStore,
    head: int,
    last: int,
    *,
    event_types: Collection[str] | None = None,
    categories: Collection[str] | None = None,
) -> int:
    """The position after which the last ``last`` events up to ``head`` that pass the filters
    begin (0 when fewer pass).

    Reads back from the head in growing windows, so a recent match costs little and a rare one
    a scan of the feed at worst; positions need not be consecutive.
    """
    if last == 0:
        return head
    window = max(last, _PAGE)
    while True:
        after = max(0, head - window)
        found: deque[int] = deque(maxlen=last)
        cursor = after
        while cursor < head:
            page = await store.read_all(
                after=cursor, limit=_PAGE, event_types=event_types, categories=categories
            )
            found.extend(event.position for event in page if event.position <= head)
            if len(page) < _PAGE or page[-1].position >= head:
                break
            cursor = page[-1].position
        if len(found) == last:
            return found[0] - 1
        if after == 0:
            return 0
        window *= 8


async def tail_feed(
    target: StoreTarget,
    out: TextIO,
    *,
    last: int,
    follow: bool,
    count: int | None,
    event_types: Sequence[str] | None,
    categories: Sequence[str] | None,
    as_json: bool,
) -> None:
    """Print the last ``last`` events up to the head that pass the filters; with ``follow``,
    keep printing new ones.

    ``count`` stops after that many printed events (useful in scripts and tests); without
    ``follow`` those are the newest ``count`` of the ``last``.
    """
    write = line_writer(out)

    def show(event: RecordedEvent) -> None:
        if as_json:
            out.write(format_event(event, as_json=True) + "\n")
        else:
            write(_parts(event))

    async with open_store(target) as opened:
        store = opened.events
        head = await store.head_position()
        if not follow and count is not None:
            last = min(last, count)  # the newest ones
        after = await _start_of_last(
            store, head, last, event_types=event_types, categories=categories
        )
        if not follow:
            while True:
                page = await store.read_all(
                    after=after, limit=_PAGE, event_types=event_types, categories=categories
                )
                shown = [event for event in page if event.position <= head]
                for event in shown:
                    show(event)
                if len(shown) < _PAGE:
                    return
                after = shown[-1].position
        feed = store.subscribe(after=after, event_types=event_types, categories=categories)
        printed = 0
        try:
            async for event in feed:
                show(event)
                out.flush()
                printed += 1
                if count is not None and printed >= count:
                    return
        finally:
            await feed.aclose()
