"""The WHERE and ORDER BY clauses, cursors and DDL of one read model's PostgreSQL table."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from forze.contracts import Filter, ReadModelSpec, SortKey
from forze.domain.errors import InvalidInputError
from forze_postgres._pg_fields import SIGNS, FieldSql, Params, field_sql
from forze_postgres._pg_tenancy import TENANT_COLUMN, Tenancy
from forze_projections.queries import FieldValues, decode_cursor, quote_identifier

__all__ = ["QueryBuilder", "index_name", "table_name", "table_sql"]

_OPS = ("eq", "ne", *SIGNS)
_MAX_NAME = 63
"""PostgreSQL truncates longer identifiers, which could make two tables one."""


def table_name(spec: ReadModelSpec[Any], table: str | None = None) -> str:
    """The table of ``spec``: ``table``, or ``forze_rm_<spec name>``, checked as a name."""
    name = f"forze_rm_{spec.name}" if table is None else table
    if not name.isidentifier() or len(name.encode()) > _MAX_NAME:
        raise InvalidInputError(
            f"read model table {name!r} must be an identifier of at most {_MAX_NAME} bytes"
        )
    return name


def index_name(table: str, name: str) -> str:
    """``<table>__<name>``, or a hash of it where that is too long for PostgreSQL."""
    full = f"{table}__{name}"
    if len(full.encode()) <= _MAX_NAME:
        return full
    return "forze_ix_" + hashlib.sha1(full.encode()).hexdigest()[:32]


def table_sql(
    quoted: str,
    table: str,
    spec: ReadModelSpec[Any],
    fields: Mapping[str, FieldSql],
    tenancy: Tenancy,
) -> tuple[str, dict[str, str]]:
    """The statement creating a read model's table (``quoted`` is its qualified name) and
    the statements creating its secondary indexes by index name, each if missing.

    ``search`` (when the spec has search fields) holds the words of the search fields as
    text-search lexemes, written with each document (see ``search_vector``).

    In the tenant-column layout the ``tenant`` column leads the primary key and every btree
    index; the GIN search index is on ``search`` alone (a text column in a GIN index needs the
    ``btree_gin`` extension), which the planner combines with a ``tenant`` prefix
    (``BitmapAnd``) where the tenant is not a small share of the table.
    """
    if tenancy.tenant is None:
        columns = 'key TEXT COLLATE "C" PRIMARY KEY, doc JSONB NOT NULL'
    else:
        columns = f'{TENANT_COLUMN}, key TEXT COLLATE "C" NOT NULL, doc JSONB NOT NULL'
    if spec.search_fields:
        columns += ", search tsvector NOT NULL DEFAULT ''"
    if tenancy.tenant is not None:
        columns += ", PRIMARY KEY (tenant, key)"
    create = f"CREATE TABLE IF NOT EXISTS {quoted} ({columns})"
    indexes: dict[str, str] = {}
    for name in dict.fromkeys(spec.indexes):
        terms = fields[name].terms
        if terms != ("key",):
            elements = tenancy.column + ", ".join(f"{term} NULLS FIRST" for term in terms)
            index = index_name(table, name)
            indexes[index] = (
                f"CREATE INDEX IF NOT EXISTS {quote_identifier(index)} ON {quoted} ({elements})"
            )
    if spec.search_fields:
        index = index_name(table, "search")
        indexes[index] = (
            f"CREATE INDEX IF NOT EXISTS {quote_identifier(index)} ON {quoted} USING GIN (search)"
        )
    return create, indexes


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

    def _condition(self, condition: Filter, params: Params) -> str:
        name, op, value = condition.field, condition.op, condition.value
        column = self.field(name)
        if op == "in":
            if isinstance(value, str | bytes) or not isinstance(value, Collection):
                raise InvalidInputError(f"filter 'in' on {name!r} needs a collection of values")
            return column.one_of([self._as_field_value(name, v) for v in value], params)
        if op not in _OPS:
            raise InvalidInputError(f"unknown filter operator {op!r}")
        value = self._as_field_value(name, value)
        if op == "eq":
            return column.equals(value, params)
        return column.differs(value, params) if op == "ne" else column.compare(op, value, params)

    def where(self, filters: Sequence[Filter], params: Params) -> str:
        """The WHERE condition of ``filters`` (``TRUE`` when there are none)."""
        return " AND ".join(self._condition(f, params) for f in filters) or "TRUE"

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
        """The ORDER BY terms of a completed ``order``: nulls first ascending, last descending."""
        direction = {False: "ASC NULLS FIRST", True: "DESC NULLS LAST"}
        return ", ".join(
            f"{term} {direction[key.descending]}"
            for key in order
            for term in self.fields[key.field].terms
        )

    def after(self, cursor: str, order: Sequence[SortKey], params: Params) -> str:
        """The condition keeping rows strictly after ``cursor`` (made for ``order``)."""
        values = decode_cursor(cursor, order)
        alternatives: list[str] = []
        prefix: list[str] = []
        for n, (key, value) in enumerate(zip(order, values, strict=True), 1):
            column = self.fields[key.field]
            beyond = column.beyond(value, key.descending, params)
            if beyond is not None:
                alternatives.append(" AND ".join([*prefix, beyond]))
            if n < len(order):  # every parameter bound must be used
                prefix.append(column.equals(value, params))
        return "(" + " OR ".join(f"({a})" for a in alternatives) + ")" if alternatives else "FALSE"

    def search(self, words: Sequence[str], params: Params) -> str:
        """Every word starts a word of some search field: ``search`` holds the fields'
        :func:`~forze_projections.queries.field_words` as lexemes, and each query word is a
        prefix query on them, taken verbatim (no text-search configuration applies)."""
        tests = []
        for word in words:
            quoted = "'" + word.replace("\\", "\\\\").replace("'", "''") + "':*"
            tests.append(f"search @@ {params.add(quoted, 'tsquery')}")
        return " AND ".join(tests)
