"""SQL building for the SQLite read-model store: field expressions, filters, order, cursors.

Documents are stored as JSON text and read with ``json_extract``. A field whose JSON values are
all of one kind (plus null) — strings, numbers, booleans, or lists and objects — is compared
and sorted by its ``json_extract`` value directly, which SQLite orders like the in-memory store
(null first, numbers numerically, strings by code point, ``false`` before ``true``) and which
the expression indexes cover. Any other field is compared as the pair (kind rank, value), the
rank being the in-memory store's order of kinds: null, booleans, numbers, strings, the rest.

Lists and objects are stored with sorted keys and compared as SQLite's compact JSON text: equal
values match like in memory, but their relative order (sort, ``lt``...) follows that text, not
the in-memory store's ``json.dumps(sort_keys=True)`` text.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from forze.contracts import SortKey
from forze.domain.errors import InvalidInputError
from forze_projections.queries import field_words, quote_string, schema_kinds, search_words

__all__ = [
    "FieldSql",
    "dump_document",
    "field_sql",
    "json_path",
    "keyset_after",
    "register_functions",
    "search_text",
    "sql_value",
]

_RANKS = {"true": 1, "false": 1, "integer": 2, "real": 2, "text": 3, "array": 4, "object": 4}
_COMPARE = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_INT64 = 2**63


def _dumps(value: Any) -> str:
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except ValueError as error:
        raise InvalidInputError(f"value is not storable as JSON: {error}") from error


def dump_document(document: Mapping[str, Any]) -> str:
    """The stored text of a JSON-mode document: compact, keys sorted, not ASCII-escaped."""
    return _dumps(document)


def json_path(name: str) -> str:
    """The quoted SQL literal of the JSON path of top-level field ``name``: ``'$."name"'``.

    SQLite matches a quoted path label against the key's text as stored, so a name holding
    ``"``, ``\\`` or a control character (stored escaped) cannot be addressed: such a name
    raises ``InvalidInputError``. (Read-model specs admit plain names only; this is the second
    guard.)
    """
    if any(c in '"\\' or c < " " for c in name):
        raise InvalidInputError(f"field name {name!r} cannot be used in a SQLite JSON path")
    return quote_string(f'$."{name}"')


def kind_rank(value: Any) -> int:
    """The in-memory store's rank of a JSON value's kind."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return 1
    if isinstance(value, int | float):
        return 2
    return 3 if isinstance(value, str) else 4


def sql_value(value: Any) -> object:
    """A JSON value as SQLite sees it through ``json_extract``."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        return float(value)
    if isinstance(value, list | dict):
        return _dumps(value)
    return value


def _placeholder(value: Any) -> str:
    """Lists and objects go through ``json()`` so that both sides are SQLite's JSON text."""
    return "json(?)" if isinstance(value, list | dict) else "?"


@dataclass(frozen=True, slots=True)
class FieldSql:
    """How SQL reads one document field: ``value`` and, for mixed-kind fields, ``rank``."""

    value: str
    rank: str | None = None

    @property
    def order_terms(self) -> tuple[str, ...]:
        """The expressions to sort (and index) by."""
        return (self.value,) if self.rank is None else (self.rank, self.value)

    def equals(self, value: Any) -> tuple[str, list[object]]:
        """Matches documents whose field is ``value`` (null included)."""
        if value is None:
            return (f"{self.value} IS NULL" if self.rank is None else f"{self.rank} = 0"), []
        test = f"{self.value} = {_placeholder(value)}"
        if self.rank is not None:
            test = f"({self.rank} = {kind_rank(value)} AND {test})"
        return test, [sql_value(value)]

    def differs(self, value: Any) -> tuple[str, list[object]]:
        """Matches documents whose field is not ``value`` (null differs from every value)."""
        if self.rank is None and value is not None:
            return f"{self.value} IS NOT {_placeholder(value)}", [sql_value(value)]
        test, parameters = self.equals(value)
        return f"NOT ({test})", parameters

    def _ordered(self, sign: str, value: Any) -> str:
        """``field <sign> value`` in the total order where null is below everything."""
        test = f"{self.value} {sign} {_placeholder(value)}"
        if self.rank is None:
            return f"({test} OR {self.value} IS NULL)" if sign[0] == "<" else test
        level = kind_rank(value)
        return f"({self.rank} {sign[0]} {level} OR ({self.rank} = {level} AND {test}))"

    def compare(self, op: str, value: Any) -> tuple[str, list[object]]:
        """Matches ``field <op> value`` for ``lt``/``le``/``gt``/``ge``; null never matches."""
        if value is None:
            return "0", []
        sign = _COMPARE[op]
        if self.rank is None:
            return f"{self.value} {sign} {_placeholder(value)}", [sql_value(value)]
        test = self._ordered(sign, value)
        return (f"({self.rank} > 0 AND {test})" if sign[0] == "<" else test), [sql_value(value)]

    def beyond(self, value: Any, descending: bool) -> tuple[str, list[object]] | None:
        """Matches field values strictly after ``value`` in the sort; ``None`` if none can be."""
        if value is None:
            if descending:
                return None
            return (f"{self.value} IS NOT NULL" if self.rank is None else f"{self.rank} > 0"), []
        return self._ordered("<" if descending else ">", value), [sql_value(value)]


def field_sql(model: type[BaseModel], key: str) -> dict[str, FieldSql]:
    """How SQL reads each field of ``model``; a string ``key`` field reads the key column."""
    try:
        schema = model.model_json_schema(by_alias=False, mode="serialization")
    except Exception:  # a field without a JSON schema: compare every field by (rank, value)
        schema = {}
    properties = schema.get("properties", {})
    defs = schema.get("$defs", {})
    fields: dict[str, FieldSql] = {}
    for name in model.model_fields:
        kinds = schema_kinds(properties.get(name), defs)
        path = json_path(name)
        value = f"json_extract(doc, {path})"
        if kinds is not None and len(kinds - {"null"}) <= 1:
            fields[name] = FieldSql("key" if name == key and kinds == {"string"} else value)
        else:
            ranks = " ".join(f"WHEN '{kind}' THEN {r}" for kind, r in _RANKS.items())
            fields[name] = FieldSql(value, f"(CASE json_type(doc, {path}) {ranks} ELSE 0 END)")
    return fields


def keyset_after(
    fields: Sequence[FieldSql], order: Sequence[SortKey], values: Sequence[Any]
) -> tuple[str, list[object]]:
    """Matches rows strictly after the sort values ``values`` under ``order``."""
    alternatives: list[str] = []
    parameters: list[object] = []
    prefix: list[str] = []
    prefix_parameters: list[object] = []
    for column, key, value in zip(fields, order, values, strict=True):
        after = column.beyond(value, key.descending)
        if after is not None:
            alternatives.append(" AND ".join([*prefix, after[0]]))
            parameters += [*prefix_parameters, *after[1]]
        same, same_parameters = column.equals(value)
        prefix.append(same)
        prefix_parameters += same_parameters
    if not alternatives:
        return "0", []
    return "(" + " OR ".join(f"({a})" for a in alternatives) + ")", parameters


def search_text(kind: str | None, value: object) -> str:
    """SQL function ``forze_search_text(json_type, json_extract)``: the words of a search
    field (:func:`~forze_projections.queries.field_words`), each after a space, so that
    ``' ' || word`` is in the text exactly when ``word`` starts one of them."""
    if kind == "text" and isinstance(value, str):
        words = search_words(value)
    elif kind == "array" and isinstance(value, str):
        try:
            words = field_words(json.loads(value))
        except ValueError:
            return ""
    else:
        return ""
    return "".join(" " + word for word in words)


def register_functions(connection: sqlite3.Connection) -> None:
    """Define ``forze_search_text`` on ``connection`` unless it is defined already.

    Defining it again could fail while another statement of the connection is running.
    """
    defined = connection.execute(
        "SELECT 1 FROM pragma_function_list WHERE name = 'forze_search_text'"
    ).fetchall()
    if not defined:
        connection.create_function("forze_search_text", 2, search_text, deterministic=True)
