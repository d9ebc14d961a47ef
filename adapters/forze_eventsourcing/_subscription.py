"""Subscriptions woken by the forze store's own ``subscribe``."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from eventsourcing.persistence import ListenNotifySubscription

from forze_eventsourcing._mapping import translated_errors
from forze_eventsourcing.recorders import ForzeApplicationRecorder

__all__ = ["ForzeSubscription"]


class ForzeSubscription(ListenNotifySubscription[ForzeApplicationRecorder]):
    """eventsourcing's pulling subscription, woken whenever the store commits an event of
    the recorder's category: a task on the bridge's loop follows ``store.subscribe`` and
    sets the subscription's wake-up event, and the pull thread reads the notifications."""

    def __init__(
        self,
        recorder: ForzeApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        try:
            self._watcher = recorder.bridge.spawn(self._watch(max(gt or 0, 0)))
        except BaseException:
            super().stop()
            self._pull_thread.join()
            raise
        if self._has_been_stopped:  # the pull thread stopped before the watcher started
            self._watcher.cancel()

    async def _watch(self, after: int) -> None:
        records = self._recorder.records
        try:
            with translated_errors():
                stream = records.store.subscribe(after=after, categories=[records.category])
                async with contextlib.aclosing(stream):
                    async for _ in stream:
                        self._has_been_notified.set()
        except Exception as error:  # the store failed for good: end the subscription
            if self._thread_error is None:
                self._thread_error = error
            super().stop()

    def stop(self) -> None:
        """Stop pulling and stop following the store."""
        super().stop()
        watcher = getattr(self, "_watcher", None)
        if watcher is not None:
            watcher.cancel()
