"""In-memory checkpoint store and read-model stores.

Documents are kept as JSON-mode dicts and every read returns a fresh model instance. No method
awaits, so each operation is atomic with respect to other asyncio tasks of the same loop.

Query semantics (shared by every adapter through ``forze_projections.testing``): null sorts
before every value ascending (after them descending); strings compare by code point; ``eq`` and
``ne`` treat null as a value (``ne 3`` matches null); ``lt``/``le``/``gt``/``ge`` never match a
null on either side; the key field breaks ties, ascending.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from forze.contracts import Filter, Page, Query, ReadModelSpec, SortKey
from forze.domain.errors import InvalidInputError, NotFoundError
from forze_projections.checkpoint_input import check_checkpoint_name, check_checkpoint_position
from forze_projections.queries import (
    FieldValues,
    check_key,
    decode_cursor,
    document_json,
    encode_cursor,
    field_words,
    jsonable,
    search_words,
    store_for_spec,
)
from forze_projections.undo import UndoLog

__all__ = ["InMemoryCheckpointStore", "InMemoryReadModelStore", "InMemoryReadModelStores"]

M = TypeVar("M", bound=BaseModel)
Document = dict[str, Any]

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


class InMemoryCheckpointStore:
    """A :class:`forze.contracts.CheckpointStore` held in a dict."""

    def __init__(self, *, undo: UndoLog | None = None) -> None:
        self._positions: dict[str, int] = {}
        self._moved: dict[str, datetime] = {}
        self._undo = undo or UndoLog()

    def _remember(self, name: str) -> None:
        previous, moved = self._positions.get(name), self._moved.get(name)

        def put_back() -> None:
            if previous is None or moved is None:
                self._positions.pop(name, None)
                self._moved.pop(name, None)
            else:
                self._positions[name], self._moved[name] = previous, moved

        self._undo.record(put_back)

    async def load(self, name: str) -> int:
        """The last handled position of consumer ``name`` (0 when it never ran)."""
        check_checkpoint_name(name)
        return self._positions.get(name, 0)

    async def save(self, name: str, position: int) -> None:
        """Record ``position`` unless a higher one is stored; a negative one is invalid."""
        check_checkpoint_name(name)
        check_checkpoint_position(position)
        self._remember(name)
        if name not in self._positions or position > self._positions[name]:
            self._positions[name], self._moved[name] = position, datetime.now(UTC)

    async def reset(self, name: str) -> None:
        """Forget the checkpoint of ``name`` so that it starts from the beginning."""
        check_checkpoint_name(name)
        self._remember(name)
        self._positions.pop(name, None)
        self._moved.pop(name, None)

    async def moved_at(self, name: str) -> datetime | None:
        """When the checkpoint of ``name`` last moved forward; ``None`` when it has none."""
        check_checkpoint_name(name)
        return self._moved.get(name)

    async def all(self) -> dict[str, int]:
        """Every checkpoint by consumer name."""
        return dict(self._positions)


def _rank(value: Any) -> tuple[int, Any]:
    """A total order over JSON values: null, booleans, numbers, strings, then the rest."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, json.dumps(value, sort_keys=True))


def _field_rank(name: str) -> Callable[[Document], tuple[int, Any]]:
    """A sort key ranking documents by the value of field ``name``."""
    return lambda document: _rank(document.get(name))


class InMemoryReadModelStore(Generic[M]):
    """A :class:`forze.contracts.ReadModelStore` of one spec, held in a dict.

    Cursors are opaque: base64 of the JSON of the sort and of the last item's sort values.
    Paging is keyset-based, so a document that exists throughout is returned exactly once.
    """

    def __init__(self, spec: ReadModelSpec[M], *, undo: UndoLog | None = None) -> None:
        self.spec = spec
        self._documents: dict[str, Document] = {}
        self._undo = undo or UndoLog()
        self._values = FieldValues(spec.name, spec.model)

    # -- writes -----------------------------------------------------------------------------

    def _validated(self, data: Mapping[str, Any]) -> Document:
        """``data`` validated by the spec's model, as a JSON-mode dict; nothing is stored."""
        encoded = document_json(self.spec.name, data)
        try:
            model = self.spec.model.model_validate_json(encoded)
        except ValidationError as error:
            raise InvalidInputError(f"invalid {self.spec.name} document: {error}") from error
        document = model.model_dump(mode="json")
        if document[self.spec.key] is None:
            raise InvalidInputError(f"{self.spec.name}: key field {self.spec.key!r} is null")
        check_key(self.spec.name, str(document[self.spec.key]))
        return document

    def _load(self, document: Document) -> M:
        return self.spec.model.model_validate_json(json.dumps(document))

    def _key_of(self, document: Document) -> str:
        return str(document[self.spec.key])

    def _remember(self, key: str) -> None:
        previous = self._documents.get(key)

        def put_back() -> None:
            if previous is None:
                self._documents.pop(key, None)
            else:
                self._documents[key] = previous

        self._undo.record(put_back)

    async def upsert(self, document: M) -> None:
        """Insert or replace ``document`` after validating it; ``InvalidInputError`` if bad."""
        try:
            data = document.model_dump(mode="json", warnings=False)
        except PydanticSerializationError as error:
            raise InvalidInputError(f"invalid {self.spec.name} document: {error}") from error
        validated = self._validated(data)
        self._remember(self._key_of(validated))
        self._documents[self._key_of(validated)] = validated

    async def patch(self, key: str, changes: Mapping[str, Any]) -> M:
        """Merge ``changes`` into the document ``key``, validate it, store it and return it."""
        unknown = sorted(set(changes) - set(self.spec.model.model_fields))
        if unknown:
            raise InvalidInputError(f"{self.spec.name} has no fields {unknown}")
        current = self._documents.get(check_key(self.spec.name, key))
        if current is None:
            raise NotFoundError(f"{self.spec.name} document {key!r} does not exist")
        patched = self._validated({**current, **jsonable(dict(changes))})
        if self._key_of(patched) != key:
            raise InvalidInputError(f"{self.spec.name}: patch cannot change the key of {key!r}")
        self._remember(key)
        self._documents[key] = patched
        return self._load(patched)

    async def upsert_many(self, documents: Sequence[M]) -> None:
        """Insert or replace every document; nothing is written if one is bad."""
        validated = []
        for document in documents:
            try:
                data = document.model_dump(mode="json", warnings=False)
            except PydanticSerializationError as error:
                raise InvalidInputError(f"invalid {self.spec.name} document: {error}") from error
            validated.append(self._validated(data))
        for document_data in validated:
            self._remember(self._key_of(document_data))
            self._documents[self._key_of(document_data)] = document_data

    async def write_documents(self, documents: Sequence[Mapping[str, Any]]) -> None:
        """Store JSON-mode documents already validated against the spec's model (and their
        keys and text checked, as :meth:`upsert` does)."""
        for document in documents:
            key = self._key_of(dict(document))
            self._remember(key)
            self._documents[key] = json.loads(json.dumps(document))

    async def delete_many(self, keys: Collection[str]) -> None:
        """Delete every document of ``keys`` that exists."""
        for key in keys:
            await self.delete(key)

    async def delete(self, key: str) -> bool:
        """Delete the document; ``True`` when one existed."""
        self._remember(check_key(self.spec.name, key))
        return self._documents.pop(key, None) is not None

    # -- reads ------------------------------------------------------------------------------

    async def get(self, key: str) -> M | None:
        """A fresh copy of the document with ``key``, or ``None``."""
        document = self._documents.get(check_key(self.spec.name, key))
        return None if document is None else self._load(document)

    async def get_many(self, keys: Collection[str]) -> list[M]:
        """The documents that exist among ``keys``, once each, in the order of ``keys``."""
        checked = [check_key(self.spec.name, key) for key in keys]
        found = {key: self._documents[key] for key in checked if key in self._documents}
        return [self._load(document) for document in found.values()]

    def _field_adapter(self, name: str) -> TypeAdapter[Any]:
        return self._values.adapter(name)

    def _as_field_value(self, name: str, value: Any) -> Any:
        return self._values(name, value)

    def _predicate(self, condition: Filter) -> Callable[[Document], bool]:
        name, op = condition.field, condition.op
        self._field_adapter(name)
        if op == "in":
            if isinstance(condition.value, str | bytes) or not isinstance(
                condition.value, Collection
            ):
                raise InvalidInputError(f"filter 'in' on {name!r} needs a collection of values")
            options = [_rank(self._as_field_value(name, v)) for v in condition.value]
            return lambda document: _rank(document.get(name)) in options
        expected = _rank(self._as_field_value(name, condition.value))
        if op == "eq":
            return lambda document: _rank(document.get(name)) == expected
        if op == "ne":
            return lambda document: _rank(document.get(name)) != expected
        compare = _COMPARISONS.get(op)
        if compare is None:
            raise InvalidInputError(f"unknown filter operator {op!r}")

        def holds(document: Document) -> bool:
            actual = _rank(document.get(name))
            return actual[0] != 0 and expected[0] != 0 and compare(actual, expected)

        return holds

    def _matching(self, filters: Sequence[Filter]) -> list[Document]:
        predicates = [self._predicate(condition) for condition in filters]
        return [d for d in self._documents.values() if all(p(d) for p in predicates)]

    def _order(self, sort: Sequence[SortKey]) -> list[SortKey]:
        order: list[SortKey] = []
        for key in sort:
            self._field_adapter(key.field)
            order.append(key)
            if key.field == self.spec.key:
                return order
        return [*order, SortKey(self.spec.key)]

    def _after(self, values: list[Any], cursor: list[Any], order: list[SortKey]) -> bool:
        """Whether sort values ``values`` come strictly after ``cursor`` under ``order``."""
        for value, last, key in zip(values, cursor, order, strict=True):
            mine, theirs = _rank(value), _rank(last)
            if mine != theirs:
                return (mine < theirs) if key.descending else (mine > theirs)
        return False

    async def find(self, query: Query) -> Page[M]:
        """Documents matching every filter, sorted (key field last) and paged from the cursor."""
        if query.limit < 1:
            raise InvalidInputError(f"limit must be >= 1, got {query.limit}")
        order = self._order(query.sort)
        documents = self._matching(query.filters)
        for key in reversed(order):
            documents.sort(key=_field_rank(key.field), reverse=key.descending)
        rows = [([d.get(key.field) for key in order], d) for d in documents]
        if query.cursor is not None:
            last = decode_cursor(query.cursor, order)
            rows = [row for row in rows if self._after(row[0], last, order)]
        page = rows[: query.limit]
        next_cursor = None
        if len(rows) > query.limit:
            next_cursor = encode_cursor(page[-1][0], order)
        return Page(items=tuple(self._load(d) for _, d in page), next_cursor=next_cursor)

    async def count(self, filters: Sequence[Filter] = ()) -> int:
        """How many documents match ``filters``."""
        return len(self._matching(filters))

    async def search(self, text: str, *, limit: int = 20) -> list[M]:
        """Documents in which every word of ``text`` starts a word of a search field (see
        :func:`~forze_projections.queries.search_words`), ordered by key; no words match
        nothing."""
        if not self.spec.search_fields:
            raise InvalidInputError(f"read model {self.spec.name!r} has no search fields")
        if limit < 1:
            raise InvalidInputError(f"limit must be >= 1, got {limit}")
        words = search_words(text)
        if not words:
            return []
        found: list[Document] = []
        for document in self._documents.values():
            known = {w for name in self.spec.search_fields for w in field_words(document.get(name))}
            if all(any(w.startswith(word) for w in known) for word in words):
                found.append(document)
        found.sort(key=lambda d: _rank(d[self.spec.key]))
        return [self._load(d) for d in found[:limit]]


class InMemoryReadModelStores:
    """A :class:`forze.contracts.ReadModelStores`: one in-memory store per spec name.

    Asking twice for the same spec gives the same store; a different spec under a name already
    in use raises ``WiringError``.
    """

    def __init__(self, *, undo: UndoLog | None = None) -> None:
        self._stores: dict[str, InMemoryReadModelStore[Any]] = {}
        self._undo = undo or UndoLog()

    def __call__(self, spec: ReadModelSpec[M]) -> InMemoryReadModelStore[M]:
        """The store holding the documents of ``spec``, created on first use."""
        store = store_for_spec(
            self._stores, spec, lambda: InMemoryReadModelStore(spec, undo=self._undo)
        )
        return cast(InMemoryReadModelStore[M], store)
