"""The WHERE and ORDER BY clauses of one read model's SQLite queries, checked against its spec."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from forze.contracts import Filter, ReadModelSpec, SortKey
from forze.domain.errors import InvalidInputError
from forze_projections._sqlite_query import FieldSql, field_sql, json_path, keyset_after
from forze_projections.queries import FieldValues, decode_cursor

__all__ = ["Clauses", "QueryBuilder"]

Clauses = tuple[list[str], list[object]]
"""SQL conditions (all must hold) and their bound parameters, in order."""

_OPS = ("eq", "ne", "lt", "le", "gt", "ge")


class QueryBuilder:
    """Turns filters, sorts, cursors and search words of one spec into SQL.

    Unknown fields, unknown operators and values that do not fit a field's type raise
    ``InvalidInputError``; filter values are read as the field's type (``"1984"`` for an
    ``int`` field is 1984), like the in-memory store does.
    """

    def __init__(self, spec: ReadModelSpec[Any]) -> None:
        self.spec = spec
        self.fields = field_sql(spec.model, spec.key)
        self._as_field_value = FieldValues(spec.name, spec.model)

    def field(self, name: str) -> FieldSql:
        """How SQL reads field ``name``; ``InvalidInputError`` when the model has none."""
        if name not in self.spec.model.model_fields:
            raise InvalidInputError(f"{self.spec.name} has no field {name!r}")
        return self.fields[name]

    def _condition(self, condition: Filter) -> tuple[str, list[object]]:
        name, op = condition.field, condition.op
        column = self.field(name)
        if op == "in":
            if isinstance(condition.value, str | bytes) or not isinstance(
                condition.value, Collection
            ):
                raise InvalidInputError(f"filter 'in' on {name!r} needs a collection of values")
            options = [column.equals(self._as_field_value(name, v)) for v in condition.value]
            if not options:
                return "0", []
            sql = "(" + " OR ".join(test for test, _ in options) + ")"
            return sql, [p for _, parameters in options for p in parameters]
        if op not in _OPS:
            raise InvalidInputError(f"unknown filter operator {op!r}")
        value = self._as_field_value(name, condition.value)
        if op == "eq":
            return column.equals(value)
        if op == "ne":
            return column.differs(value)
        return column.compare(op, value)

    def where(self, filters: Sequence[Filter]) -> Clauses:
        """The conditions of ``filters``."""
        clauses: list[str] = []
        parameters: list[object] = []
        for condition in filters:
            sql, values = self._condition(condition)
            clauses.append(sql)
            parameters += values
        return clauses, parameters

    def order(self, sort: Sequence[SortKey]) -> list[SortKey]:
        """``sort`` checked and completed by the key field (unless it already sorts by it)."""
        order: list[SortKey] = []
        for key in sort:
            self.field(key.field)
            order.append(key)
            if key.field == self.spec.key:
                return order
        return [*order, SortKey(self.spec.key)]

    def order_by(self, order: Sequence[SortKey]) -> str:
        """The ORDER BY terms of a completed ``order``."""
        direction = {False: "ASC", True: "DESC"}
        return ", ".join(
            f"{term} {direction[key.descending]}"
            for key in order
            for term in self.fields[key.field].order_terms
        )

    def after(self, cursor: str, order: Sequence[SortKey]) -> tuple[str, list[object]]:
        """The condition keeping rows strictly after ``cursor`` (made for ``order``)."""
        values = decode_cursor(cursor, order)
        return keyset_after([self.fields[key.field] for key in order], order, values)

    def search(self, words: Sequence[str]) -> tuple[str, list[object]]:
        """Every word (of :func:`~forze_projections.queries.search_words`) starts a word of
        some search field (see ``search_text``)."""
        paths = [json_path(name) for name in self.spec.search_fields]
        texts = [
            f"forze_search_text(json_type(doc, {path}), json_extract(doc, {path}))"
            for path in paths
        ]
        any_field = "(" + " OR ".join(f"instr({text}, ?) > 0" for text in texts) + ")"
        return " AND ".join([any_field] * len(words)), [" " + w for w in words for _ in texts]
