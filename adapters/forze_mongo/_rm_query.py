"""Filters, sorts, cursors, search and indexes of one read model as MongoDB queries."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel

from forze.contracts import Filter, ReadModelSpec, SortKey
from forze.domain.errors import InvalidInputError
from forze_eventstore.rules import refuse_unstorable
from forze_mongo._rm_docs import PREFIX, check_value
from forze_mongo._rm_fields import NEVER, MongoField, Query, all_of, mongo_fields
from forze_projections.queries import FieldValues, decode_cursor

__all__ = ["QueryBuilder"]

_OPS = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})


def _index_name(paths: Sequence[str]) -> str:
    """MongoDB's default name of an ascending index on ``paths`` (``year_1``), or a hash of
    it where that is long. Named by its keys, a field's index never conflicts with the one
    it had before its kinds changed: the new one is built beside it."""
    name = "_".join(f"{path}_1" for path in paths)
    return name if len(name) <= 64 else "ix_" + hashlib.sha1(name.encode()).hexdigest()[:32]


class QueryBuilder:
    """Turns filters, sorts, cursors and search words of one spec into MongoDB queries.

    Unknown fields, unknown operators and values that do not fit a field's type raise
    ``InvalidInputError``; filter values are read as the field's type (``"1984"`` for an
    ``int`` field is 1984), like the in-memory store does.
    """

    def __init__(self, spec: ReadModelSpec[Any]) -> None:
        self.spec = spec
        self.fields = mongo_fields(spec.model, spec.key)
        self._as_field_value = FieldValues(spec.name, spec.model)

    def field(self, name: str) -> MongoField:
        """How field ``name`` is stored and compared; ``InvalidInputError`` when the model
        has none."""
        if name not in self.spec.model.model_fields:
            raise InvalidInputError(f"{self.spec.name} has no field {name!r}")
        return self.fields[name]

    def _value(self, name: str, value: Any) -> Any:
        """A filter value read as field ``name``'s type, refused if MongoDB cannot hold it."""
        result = self._as_field_value(name, value)
        check_value(result, f"value for {name!r}")
        return result

    def _condition(self, condition: Filter) -> Query:
        name, op, value = condition.field, condition.op, condition.value
        field = self.field(name)
        if op == "in":
            if isinstance(value, str | bytes) or not isinstance(value, Collection):
                raise InvalidInputError(f"filter 'in' on {name!r} needs a collection of values")
            return field.one_of([self._value(name, v) for v in value])
        if op not in _OPS:
            raise InvalidInputError(f"unknown filter operator {op!r}")
        value = self._value(name, value)
        if op == "eq":
            return field.equals(value)
        return field.differs(value) if op == "ne" else field.compare(op, value)

    def where(self, filters: Sequence[Filter]) -> Query:
        """The query matching every one of ``filters`` (everything when there are none)."""
        return all_of([self._condition(condition) for condition in filters])

    def order(self, sort: Sequence[SortKey]) -> list[SortKey]:
        """``sort`` checked and completed by the key field (unless it already sorts by it)."""
        order: list[SortKey] = []
        for key in sort:
            self.field(key.field)
            order.append(key)
            if key.field == self.spec.key:
                return order
        return [*order, SortKey(self.spec.key)]

    def sort(self, order: Sequence[SortKey]) -> list[tuple[str, int]]:
        """MongoDB's sort of a completed ``order`` (a path sorted twice counts once: its
        second sort could only order equal values)."""
        paths: dict[str, int] = {}
        for key in order:
            for path in self.fields[key.field].sort_paths:
                paths.setdefault(path, DESCENDING if key.descending else ASCENDING)
        return list(paths.items())

    def values(self, document: Mapping[str, Any], order: Sequence[SortKey]) -> list[Any]:
        """The sort values of a stored ``document``, for its page's cursor."""
        return [document.get(self.fields[key.field].stored) for key in order]

    def after(self, cursor: str, order: Sequence[SortKey]) -> Query:
        """Matches documents strictly after ``cursor`` (made for ``order``)."""
        values = decode_cursor(cursor, order)
        refuse_unstorable(values, "cursor")
        check_value(values, "cursor")
        alternatives: list[Query] = []
        prefix: list[Query] = []
        for key, value in zip(order, values, strict=True):
            field = self.fields[key.field]
            beyond = field.beyond(value, key.descending)
            if beyond is not None:
                alternatives.append(all_of([*prefix, beyond]))
            prefix.append(field.equals(value))
        return {"$or": alternatives} if alternatives else NEVER

    def search(self, words: Sequence[str]) -> tuple[Query, list[str]]:
        """The query of documents in which every word of ``words`` starts some word of a
        search field, and the words longer than the entries' prefixes, which the query
        only narrows down to those starting with their first :data:`PREFIX` characters
        (the caller checks them against the document's whole words)."""
        terms = list(dict.fromkeys(word[:PREFIX] for word in words))
        return {"_w": {"$all": terms}}, [word for word in words if len(word) > PREFIX]

    def indexes(self) -> list[IndexModel]:
        """The collection's secondary indexes: one per indexed field (and the key field when
        it is not ``_id``), and the multikey index of the search entries."""
        models: list[IndexModel] = []
        for name in dict.fromkeys((self.spec.key, *self.spec.indexes)):
            field = self.fields[name]
            if field.path != "_id":
                keys = [(path, ASCENDING) for path in field.sort_paths]
                models.append(IndexModel(keys, name=_index_name(field.sort_paths)))
        if self.spec.search_fields:
            models.append(IndexModel([("_w", ASCENDING)], name=_index_name(["_w"])))
        return models
