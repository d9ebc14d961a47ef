"""How the PostgreSQL read-model store reads document fields in SQL, and binds values.

Documents are ``JSONB``. A field whose JSON values are all of one kind (plus null) is read as
one typed expression — ``numeric``, ``boolean``, text ``COLLATE "C"`` (code-point order), or
the text of the JSONB for lists and objects — which the expression indexes cover; null is SQL
NULL and sorts first ascending, last descending (explicit ``NULLS FIRST``/``LAST``). Any other
field is compared as (kind rank, typed value), the rank being the in-memory store's order of
kinds: null, booleans, numbers, strings, the rest. Lists and objects order by the text of the
JSONB (its own key order), not by the in-memory store's ``json.dumps(sort_keys=True)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from forze.domain.errors import InvalidInputError
from forze_projections.queries import json_kind, quote_string, schema_kinds

__all__ = ["SIGNS", "FieldSql", "Params", "field_sql", "json_member", "pg_string"]

_RANK = {"bool": 1, "number": 2, "string": 3, "list": 4}
_JSON_TYPES = {"bool": "'boolean'", "number": "'number'", "string": "'string'"}
_JSON_TYPES |= {"list": "'array', 'object'"}
_TYPE_RANKS = {"boolean": 1, "number": 2, "string": 3, "array": 4, "object": 4}
_ARRAYS = {"bool": "boolean[]", "number": "numeric[]", "string": "text[]"}
SIGNS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def pg_string(text: str) -> str:
    """``text`` as a PostgreSQL string literal, as the server's ``quote_literal`` makes it:
    ``'`` doubled, and, where ``text`` holds a backslash, an ``E'...'`` literal with the
    backslashes doubled (so ``standard_conforming_strings`` cannot change its meaning).
    NUL raises ``InvalidInputError``."""
    quoted = quote_string(text)
    return "E" + quoted.replace("\\", "\\\\") if "\\" in text else quoted


def json_member(name: str) -> str:
    """The JSONB expression of the document's top-level field ``name``: ``doc->'name'``."""
    return f"doc->{pg_string(name)}"


def _sql_value(kind: str, value: Any) -> object:
    if kind == "number":
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return json.dumps(value) if kind == "list" else value


class Params:
    """The bound parameters of one statement, numbered in the order they are added."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def add(self, value: object, cast: str) -> str:
        """Bind ``value``; the placeholder, cast to ``cast``."""
        self.values.append(value)
        return f"${len(self.values)}::{cast}"

    def typed(self, value: Any) -> str:
        """Bind a non-null JSON value as its kind's SQL type (lists as their JSONB text)."""
        kind = json_kind(value)
        if kind == "list":
            return f"({self.add(_sql_value(kind, value), 'jsonb')})::text"
        cast = {"bool": "boolean", "number": "numeric", "string": "text"}[kind]
        return self.add(_sql_value(kind, value), cast)


@dataclass(frozen=True, slots=True)
class FieldSql:
    """How SQL reads one field: an expression per kind (NULL unless the value has that kind)
    and, for fields of mixed kinds, the rank expression."""

    name: str
    exprs: Mapping[str, str]
    rank: str | None = None

    @property
    def terms(self) -> tuple[str, ...]:
        """The expressions to sort (and index) by."""
        values = tuple(self.exprs.values())
        return values if self.rank is None else (self.rank, *values)

    def _expr(self, value: Any) -> str:
        expr = self.exprs.get(json_kind(value))
        if expr is None:
            raise InvalidInputError(f"value {value!r} does not fit field {self.name!r}")
        return expr

    def is_null(self, negate: bool = False) -> str:
        """Matches documents whose field is null (or, with ``negate``, is not)."""
        if self.rank is not None:
            return f"{self.rank} {'<>' if negate else '='} 0"
        return f"{self.terms[0]} IS {'NOT ' if negate else ''}NULL"

    def equals(self, value: Any, params: Params) -> str:
        """Matches documents whose field is ``value`` (null included)."""
        if value is None:
            return self.is_null()
        return f"{self._expr(value)} = {params.typed(value)}"

    def differs(self, value: Any, params: Params) -> str:
        """Matches documents whose field is not ``value`` (null differs from every value)."""
        if value is None:
            return self.is_null(negate=True)
        return f"{self._expr(value)} IS DISTINCT FROM {params.typed(value)}"

    def one_of(self, values: Sequence[Any], params: Params) -> str:
        """Matches documents whose field is one of ``values``."""
        present = [v for v in values if v is not None]
        kinds = {json_kind(v) for v in present}
        if self.rank is None and len(kinds) == 1 and (kind := kinds.pop()) in _ARRAYS:
            bound = params.add([_sql_value(kind, v) for v in present], _ARRAYS[kind])
            test = f"{self._expr(present[0])} = ANY({bound})"
            return f"({test} OR {self.is_null()})" if len(present) < len(values) else test
        if not values:
            return "FALSE"
        return "(" + " OR ".join(self.equals(v, params) for v in values) + ")"

    def compare(self, op: str, value: Any, params: Params) -> str:
        """Matches ``field <op> value`` for ``lt``/``le``/``gt``/``ge``; null never matches."""
        if value is None:
            return "FALSE"
        sign = SIGNS[op]
        test = f"{self._expr(value)} {sign} {params.typed(value)}"
        if self.rank is None:
            return test
        level = _RANK[json_kind(value)]
        if sign[0] == "<":
            return f"({self.rank} BETWEEN 1 AND {level - 1} OR {test})"
        return f"({self.rank} > {level} OR {test})"

    def beyond(self, value: Any, descending: bool, params: Params) -> str | None:
        """Matches values strictly after ``value`` in the sort; ``None`` if none can be."""
        if value is None:
            return None if descending else self.is_null(negate=True)
        expr, bound = self._expr(value), params.typed(value)
        if self.rank is None:
            return f"({expr} < {bound} OR {expr} IS NULL)" if descending else f"{expr} > {bound}"
        level = _RANK[json_kind(value)]
        sign = "<" if descending else ">"
        return f"({self.rank} {sign} {level} OR {expr} {sign} {bound})"


def _plain(kind: str, path: str) -> str:
    """A single-kind field's expression (``path`` is ``doc->'name'``)."""
    text = path.replace("->", "->>", 1)
    return {
        "bool": f"(({text})::boolean)",
        "number": f"(({text})::numeric)",
        "string": f'(({text}) COLLATE "C")',
        "list": f"(NULLIF({path}, 'null'::jsonb)::text COLLATE \"C\")",
    }[kind]


def _guarded(kind: str, path: str) -> str:
    """A mixed field's expression for ``kind``: NULL unless the value has that kind."""
    text = path.replace("->", "->>", 1)
    value = {"bool": f"({text})::boolean", "number": f"({text})::numeric"}
    value |= {"string": text, "list": f"({path})::text"}
    guarded = f"CASE WHEN jsonb_typeof({path}) IN ({_JSON_TYPES[kind]}) THEN {value[kind]} END"
    return f'(({guarded}) COLLATE "C")' if kind in ("string", "list") else f"({guarded})"


def field_sql(model: type[BaseModel], key: str) -> dict[str, FieldSql]:
    """How SQL reads each field of ``model``; a string ``key`` field reads the key column."""
    try:
        schema = model.model_json_schema(by_alias=False, mode="serialization")
    except Exception:  # a field without a JSON schema: compare every field by (rank, value)
        schema = {}
    properties, defs = schema.get("properties", {}), schema.get("$defs", {})
    fields: dict[str, FieldSql] = {}
    for name in model.model_fields:
        kinds = schema_kinds(properties.get(name), defs)
        path = json_member(name)
        if kinds is not None and len(kinds - {"null"}) <= 1:
            kind = next(iter(kinds - {"null"}), "list")
            expr = "key" if name == key and kinds == {"string"} else _plain(kind, path)
            fields[name] = FieldSql(name, {kind: expr})
        else:
            ranks = " ".join(f"WHEN '{t}' THEN {r}" for t, r in _TYPE_RANKS.items())
            rank = f"(CASE jsonb_typeof({path}) {ranks} ELSE 0 END)"
            fields[name] = FieldSql(name, {k: _guarded(k, path) for k in _RANK}, rank)
    return fields
