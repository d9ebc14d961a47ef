"""Read models and hypothesis strategies shared by the read-model store tests.

``Ticket`` has a non-string key and a datetime; ``Task`` has booleans, a field of mixed kinds
and a list, so that the SQL stores can be compared with the in-memory one query by query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, get_args

from hypothesis import strategies as st
from pydantic import BaseModel, Field

from forze.contracts import Filter, FilterOp, Query, ReadModelSpec, ReadModelStore, SortKey


class Ticket(BaseModel):
    """A read model with a non-string key, a datetime and no search fields."""

    number: int
    opened_at: datetime
    title: str = ""


TICKETS = ReadModelSpec(name="tickets", model=Ticket, key="number")


class Task(BaseModel):
    """Booleans, a field of mixed kinds and a list, to compare with the in-memory store."""

    id: int
    done: bool
    flag: bool | None = None
    score: int | str | None = None
    labels: list[str] = Field(default_factory=list)
    note: str = ""


TASKS = ReadModelSpec(
    name="tasks", model=Task, indexes=("done", "score"), search_fields=("note", "labels")
)

TASK_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.integers(-3, 12),
    "done": st.booleans(),
    "flag": st.none() | st.booleans(),
    "score": st.none() | st.integers(-2, 2) | st.sampled_from(["", "1", "a", "B", "é"]),
    "labels": st.lists(st.sampled_from(["a", "b"]), max_size=2),
}


def task_lists(max_size: int) -> st.SearchStrategy[list[Task]]:
    """Lists of tasks with distinct ids."""
    return st.lists(
        st.builds(Task, **TASK_VALUES), unique_by=lambda task: task.id, max_size=max_size
    )


@st.composite
def task_filters(draw: st.DrawFn) -> Filter:
    """A filter on any field of ``Task`` with a value of a kind the field may hold."""
    name = draw(st.sampled_from(sorted(TASK_VALUES)))
    ops = ["eq", "ne", "in"] if name == "labels" else list(get_args(FilterOp))
    op = draw(st.sampled_from(ops))
    if op == "in":
        return Filter(name, "in", draw(st.lists(TASK_VALUES[name], max_size=3)))
    return Filter(name, op, draw(TASK_VALUES[name]))


TASK_SORTS = st.lists(
    st.builds(
        SortKey, field=st.sampled_from(["id", "done", "flag", "score"]), descending=st.booleans()
    ),
    max_size=3,
    unique_by=lambda key: key.field,
)
"""Sorts on up to three of ``Task``'s sortable fields."""


async def paged_ids(store: ReadModelStore[Task], query: Query) -> list[int]:
    """The ids of every task ``query`` finds, following its cursors page by page."""
    ids: list[int] = []
    cursor: str | None = None
    while True:
        page = await store.find(
            Query(filters=query.filters, sort=query.sort, limit=query.limit, cursor=cursor)
        )
        ids.extend(task.id for task in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return ids
