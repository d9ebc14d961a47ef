"""Workflows and activities of tests/test_temporal_services.py.

They live apart from the tests so that the workflow sandbox, which re-imports this module for
every run, imports only temporalio and the standard library (not pytest, nor the test helpers).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import SearchAttributeKey

SAGA = SearchAttributeKey.for_keyword("ForzeSaga")
SAGA_OUTCOME = SearchAttributeKey.for_keyword("ForzeSagaOutcome")
"""Custom search attributes that ``.ci/ensure-services.sh`` registers on the dev server."""


@activity.defn
async def join_items(items: list[str]) -> str:
    """An activity: the items, joined."""
    return "+".join(items)


@workflow.defn
class CollectSignals:
    """Waits for ``expected`` ``add`` signals, then joins them in an activity."""

    def __init__(self) -> None:
        self.items: list[str] = []

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.run
    async def run(self, expected: int) -> str:
        await workflow.wait_condition(lambda: len(self.items) >= expected)
        return await workflow.execute_activity(
            join_items, self.items, start_to_close_timeout=timedelta(seconds=30)
        )


@workflow.defn
class SleepAnHour:
    """Sleeps one hour; returns the workflow time that passed, in seconds."""

    @workflow.run
    async def run(self) -> float:
        started = workflow.now()
        await workflow.sleep(timedelta(hours=1))
        return (workflow.now() - started).total_seconds()


@workflow.defn
class MarkSaga:
    """Upserts the saga search attributes, then ends."""

    @workflow.run
    async def run(self, saga: str, outcome: str) -> bool:
        workflow.upsert_search_attributes([SAGA.value_set(saga), SAGA_OUTCOME.value_set(outcome)])
        return workflow.info().is_continue_as_new_suggested()
