"""Search means the same on every read-model store (part of the read-model suite).

A document matches when every word of the query starts some word of some search field, words
being :func:`forze_projections.queries.search_words`: casefolded, accents dropped, split at
anything that is not a letter or a digit. Results are ordered by key, at most ``limit``.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from forze.contracts import ReadModelSpec, ReadModelStore
from forze.domain.errors import InvalidInputError
from forze_projections.queries import field_words, search_words

__all__ = ["Note", "ReadModelSearchContract"]


class Note(BaseModel):
    """A document with a text and a list search field, and a field search ignores."""

    id: str
    title: str = ""
    tags: list[str] = Field(default_factory=list)
    code: str = ""


_TEXT = st.text(st.sampled_from("aAbBeEéÉsSßẞ İi1 2%_'\"\\-.:*&|!()😀ﬁ\u0301"), max_size=12)
_specs = itertools.count(1)


def _matches(note: Note, words: list[str]) -> bool:
    known = [*field_words(note.title), *field_words(note.tags)]
    return all(any(w.startswith(word) for w in known) for word in words)


class ReadModelSearchContract(ABC):
    """Search cases every read-model store passes."""

    @abstractmethod
    def make_store(self, spec: ReadModelSpec[Any]) -> ReadModelStore[Any]:
        """A store for ``spec`` holding no documents."""

    async def _notes(self, *notes: Note) -> ReadModelStore[Note]:
        store: ReadModelStore[Note] = self.make_store(
            ReadModelSpec(f"notes_{next(_specs)}", Note, search_fields=("title", "tags"))
        )
        for note in notes:
            await store.upsert(note)
        return store

    async def _found(self, store: ReadModelStore[Note], text: str) -> list[str]:
        return [note.id for note in await store.search(text)]

    async def test_search_matches_words_that_start_a_word_in_any_case(self) -> None:
        store = await self._notes(
            Note(id="n1", title="Neuromancer", tags=["William Gibson"]),
            Note(id="n2", title="Count Zero", tags=["William Gibson"]),
            Note(id="n3", title="Dune", tags=["Frank Herbert"]),
        )
        assert await self._found(store, "NEURO") == ["n1"]
        assert await self._found(store, "wil gib") == ["n1", "n2"]
        assert await self._found(store, "mancer") == []  # the middle of a word is no start
        assert await self._found(store, "dune william") == []  # every word must match

    async def test_search_separates_words_at_anything_but_letters_and_digits(self) -> None:
        store = await self._notes(
            Note(id="n1", title="d'été: pre-order_list", tags=['"quoted"']),
            Note(id="n2", title="100%", code="dune"),
        )
        assert await self._found(store, "ete order list") == ["n1"]
        assert await self._found(store, "quoted") == ["n1"]
        assert await self._found(store, "100") == ["n2"]
        assert await self._found(store, "dune") == []  # not a search field
        for nothing in ("", "   ", "%", "_ - '", "😀"):
            assert await self._found(store, nothing) == []

    async def test_search_folds_case_and_accents_beyond_ascii(self) -> None:
        store = await self._notes(
            Note(id="n1", title="ÉCOLE STRASSE"),
            Note(id="n2", tags=["Ärger", "x"]),
            Note(id="n3", title="İstanbul ﬁne"),
        )
        assert await self._found(store, "école straße") == ["n1"]
        assert await self._found(store, "ecole") == ["n1"]
        assert await self._found(store, "ärger") == ["n2"]
        assert await self._found(store, "ARG X") == ["n2"]
        assert await self._found(store, "istanbul fine") == ["n3"]

    async def test_search_returns_matches_ordered_by_key_up_to_the_limit(self) -> None:
        store = await self._notes(*(Note(id=f"n{i}", title="same words") for i in (3, 1, 2)))
        assert await self._found(store, "same") == ["n1", "n2", "n3"]
        assert [note.id for note in await store.search("words", limit=2)] == ["n1", "n2"]
        with pytest.raises(InvalidInputError, match="limit"):
            await store.search("same", limit=0)

    async def test_search_needs_search_fields(self) -> None:
        store = self.make_store(ReadModelSpec(f"plain_{next(_specs)}", Note))
        with pytest.raises(InvalidInputError, match="no search fields"):
            await store.search("anything")

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        notes=st.lists(st.tuples(_TEXT, st.lists(_TEXT, max_size=2)), max_size=6),
        query=_TEXT,
    )
    @example(notes=[("STRASSE", []), ("Straße", []), ("%s", ["%s"])], query="straße")
    @example(notes=[("e\u0301cole", []), ("école", [])], query="É")
    @example(notes=[("it's", ["a\\b"])], query="'s b")
    async def test_search_finds_what_the_word_rule_finds(
        self, notes: list[tuple[str, list[str]]], query: str
    ) -> None:
        documents = [
            Note(id=f"n{index}", title=title, tags=tags)
            for index, (title, tags) in enumerate(notes)
        ]
        store = await self._notes(*documents)
        words = search_words(query)
        expected = sorted(note.id for note in documents if words and _matches(note, words))
        assert [note.id for note in await store.search(query, limit=100)] == expected
