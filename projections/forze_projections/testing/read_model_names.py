"""Field names are input: every query shape reads any field name as a name, never as SQL.

``ReadModelSpec`` admits plain names only (:data:`forze.contracts.read_models.FIELD_NAME`);
that is the first guard. These cases check the second one: a spec made *without* that check,
with an arbitrary field name, gives either a store that reads the field correctly in every
query shape (filters, sort, cursors, count, search, indexes) and leaves other tables alone, or
an ``InvalidInputError`` for a name the store cannot address (one holding ``"``, ``\\``, a
control character or a lone surrogate).
"""

from __future__ import annotations

import itertools
import warnings
from abc import ABC, abstractmethod
from typing import Any

import pydantic
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from forze.contracts import Filter, Query, ReadModelSpec, ReadModelStore, SortKey
from forze.domain.errors import InvalidInputError

__all__ = ["HOSTILE_NAMES", "ReadModelNamesContract", "unchecked_spec"]

HOSTILE_NAMES = (
    "x') IN ('string') THEN NULL::tsvector END)) STORED); DROP TABLE canary; --",
    "x') = 0 OR 1 = 1 OR ('",
    'a"b',
    "it's",
    "back\\slash",
    "$.a",
    "a.b[0]",
    "größe",
    "Name With Spaces",
    "x" * 70,
)
"""Field names that broke SQL before names were quoted, or that need quoting to work."""

_ANY_NAME = st.text(min_size=1, max_size=80)
_specs = itertools.count(1)


def unchecked_spec(name: str, model: type[Any], *, key: str = "id", **fields: Any) -> Any:
    """A :class:`ReadModelSpec` made without ``__post_init__``'s checks (for these cases)."""
    spec = object.__new__(ReadModelSpec)
    values = {"name": name, "model": model, "key": key, "indexes": (), "search_fields": ()}
    for attribute, value in (values | fields).items():
        object.__setattr__(spec, attribute, value)
    return spec


class _Canary(pydantic.BaseModel):
    """A document of another read model, which no field name may reach."""

    id: str
    note: str


def _model_with(field: str) -> type[pydantic.BaseModel] | None:
    """A model with a string key ``id`` and an optional text field named ``field``."""
    if field == "id":
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a name shadowing a BaseModel attribute warns
            fields: dict[str, Any] = {"id": (str, ...), field: (str | None, None)}
            model = pydantic.create_model("Hostile", **fields)
    except Exception:  # pydantic refuses some names (model_config, private ones...)
        return None
    return model if field in model.model_fields else None


def _refusable(field: str) -> bool:
    """Whether a store may refuse ``field`` as a name it cannot address."""
    return any(c in '"\\' or c < " " or "\ud800" <= c <= "\udfff" for c in field)


class ReadModelNamesContract(ABC):
    """Field names reach every query shape as names (part of the read-model suite)."""

    @abstractmethod
    def make_store(self, spec: ReadModelSpec[Any]) -> ReadModelStore[Any]:
        """A store for ``spec`` holding no documents."""

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(field=_ANY_NAME)
    @example(field=HOSTILE_NAMES[0])
    @example(field=HOSTILE_NAMES[1])
    @example(field=HOSTILE_NAMES[2])
    @example(field=HOSTILE_NAMES[3])
    @example(field=HOSTILE_NAMES[4])
    @example(field=HOSTILE_NAMES[5])
    @example(field=HOSTILE_NAMES[6])
    @example(field=HOSTILE_NAMES[7])
    @example(field=HOSTILE_NAMES[8])
    @example(field=HOSTILE_NAMES[9])
    async def test_any_field_name_is_read_as_a_name_in_every_query_shape(self, field: str) -> None:
        model = _model_with(field)
        assume(model is not None)
        assert model is not None
        canary = self.make_store(unchecked_spec(f"canary_{next(_specs)}", _Canary))
        await canary.upsert(_Canary(id="alive", note="kept"))
        spec = unchecked_spec(
            f"names_{next(_specs)}", model, indexes=(field,), search_fields=(field,)
        )
        try:
            store = self.make_store(spec)
            await self._check_every_query_shape(store, model, field)
        except InvalidInputError:
            assert _refusable(field), f"a store refused the plain field name {field!r}"
        assert await canary.get("alive") == _Canary(id="alive", note="kept")

    async def _check_every_query_shape(
        self, store: ReadModelStore[Any], model: type[pydantic.BaseModel], field: str
    ) -> None:
        for key, value in [("a", "alpha beta"), ("b", "gamma"), ("c", None)]:
            await store.upsert(model(id=key, **{field: value}))

        async def ids(query: Query) -> list[str]:
            return [document.id for document in (await store.find(query)).items]

        assert await ids(Query((Filter(field, "eq", "gamma"),))) == ["b"]
        assert await ids(Query((Filter(field, "ne", "gamma"),))) == ["a", "c"]
        assert await ids(Query((Filter(field, "in", ["gamma", "alpha beta"]),))) == ["a", "b"]
        assert await ids(Query((Filter(field, "lt", "beta"),))) == ["a"]
        assert await ids(Query((Filter(field, "eq", "1' OR '1'='1"),))) == []
        assert await store.count([Filter(field, "eq", None)]) == 1
        order = (SortKey(field, descending=True),)
        first = await store.find(Query(sort=order, limit=2))
        assert [document.id for document in first.items] == ["b", "a"]
        rest = await store.find(Query(sort=order, limit=2, cursor=first.next_cursor))
        assert [document.id for document in rest.items] == ["c"]
        assert [document.id for document in await store.search("GAMMA")] == ["b"]
        patched = await store.patch("c", {field: "delta"})
        assert patched.model_dump()[field] == "delta"
        assert await ids(Query((Filter(field, "ge", "delta"),), sort=order)) == ["b", "c"]
