"""Every read-model store accepts the same documents, keys and filter values (part of the
read-model suite): text PostgreSQL cannot keep (NUL, surrogates) and keys longer than
:data:`forze_projections.queries.MAX_KEY_LENGTH` are refused with ``InvalidInputError`` by all,
before anything is written, so tests on the in-memory store mean what they say."""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from typing import Any

import pytest
from pydantic import BaseModel, Field

from forze.contracts import Filter, Query, ReadModelSpec, ReadModelStore
from forze.domain.errors import InvalidInputError
from forze_projections.queries import MAX_KEY_LENGTH

__all__ = ["ReadModelInputContract"]

UNSTORABLE = ["nul\x00", "lone \ud800", "\udfff"]
"""Strings no read-model store keeps."""


class _Item(BaseModel):
    id: str
    name: str = ""
    tags: list[str] = Field(default_factory=list)
    extra: dict[str, str] = Field(default_factory=dict)


_specs = itertools.count(1)


class ReadModelInputContract(ABC):
    """Input cases every read-model store passes."""

    @abstractmethod
    def make_store(self, spec: ReadModelSpec[Any]) -> ReadModelStore[Any]:
        """A store for ``spec`` holding no documents."""

    async def _items(self) -> ReadModelStore[_Item]:
        spec = ReadModelSpec(f"items_{next(_specs)}", _Item, indexes=("name",))
        store: ReadModelStore[_Item] = self.make_store(spec)
        await store.upsert(_Item(id="kept", name="before"))
        return store

    @pytest.mark.parametrize("text", UNSTORABLE)
    async def test_a_document_holding_nul_or_a_surrogate_is_refused_and_nothing_changes(
        self, text: str
    ) -> None:
        store = await self._items()
        bad_documents = [
            _Item(id="kept", name=text),
            _Item(id="kept", tags=["ok", text]),
            _Item(id="kept", extra={"key": text}),
            _Item(id=text),
        ]
        if "\x00" in text:  # (pydantic's dump turns a surrogate in a key into U+FFFD)
            bad_documents.append(_Item(id="kept", extra={text: "key"}))
        for bad in bad_documents:
            with pytest.raises(InvalidInputError):
                await store.upsert(bad)
        with pytest.raises(InvalidInputError):
            await store.patch("kept", {"name": text})
        assert await store.get("kept") == _Item(id="kept", name="before")
        assert await store.count() == 1

    @pytest.mark.parametrize("text", UNSTORABLE)
    async def test_a_key_or_filter_value_holding_nul_or_a_surrogate_is_refused(
        self, text: str
    ) -> None:
        store = await self._items()
        with pytest.raises(InvalidInputError):
            await store.get(text)
        with pytest.raises(InvalidInputError):
            await store.get_many(["kept", text])
        with pytest.raises(InvalidInputError):
            await store.delete(text)
        with pytest.raises(InvalidInputError):
            await store.find(Query((Filter("name", "eq", text),)))
        with pytest.raises(InvalidInputError):
            await store.count([Filter("name", "in", ["before", text])])
        assert await store.get("kept") == _Item(id="kept", name="before")

    async def test_a_key_longer_than_the_limit_is_refused_and_one_at_the_limit_is_kept(
        self,
    ) -> None:
        store = await self._items()
        longest = "😀" * MAX_KEY_LENGTH
        await store.upsert(_Item(id=longest, name="widest"))
        assert await store.get(longest) == _Item(id=longest, name="widest")
        too_long = "k" * (MAX_KEY_LENGTH + 1)
        with pytest.raises(InvalidInputError, match="longer than"):
            await store.upsert(_Item(id=too_long))
        with pytest.raises(InvalidInputError, match="longer than"):
            await store.get(too_long)
        assert await store.count() == 2

    async def test_text_beyond_the_basic_plane_and_escapes_round_trip(self) -> None:
        store = await self._items()
        item = _Item(id="😀", name='emoji 😀 \\u0000 "q"', tags=["\u2028", "𝄞"], extra={"é": "ü"})
        await store.upsert(item)
        assert await store.get("😀") == item
        page = await store.find(Query((Filter("name", "eq", item.name),)))
        assert list(page.items) == [item]
