"""How the MongoDB read-model store keeps and compares each field of a read model.

Every field of the model is stored at the top level of the document under its *stored
name*: the field name itself when it is a plain identifier (an ASCII letter, then letters,
digits or ``_``, at most 63 characters), else ``_h`` and the hex of its UTF-8 bytes. A name
holding ``$``, ``.``, quotes or spaces (possible only in a spec made without
``ReadModelSpec``'s checks) thus never reaches MongoDB as a path or an operator; a name
holding NUL or a lone surrogate is refused. The store's own keys (``_id``, ``_rev``,
``_w`` and the shadows below) start with ``_`` too, which no plain name does.

A field whose JSON values are of one kind (plus null), as its JSON schema tells, is compared
where it is stored, by MongoDB's own order, which is the contract's for one kind: null
first, numbers by value, strings by code point (UTF-8 bytes, no collation), ``false``
before ``true``. The key field, when it is a string, is compared as ``_id``. Other fields get
*shadows*, written with the document:

* a list or object field: ``_v_<stored name>``, its JSON text with sorted keys (null when
  null), compared as a string, as the in-memory store compares lists and objects;
* a field of several kinds: ``_r_<stored name>``, the rank of the value's kind (null 0,
  boolean 1, number 2, string 3, list or object 4), and ``_v_<stored name>``, the value
  (a list or object as its JSON text). Sorting and comparing by (rank, value) orders kinds as
  the in-memory store does, which MongoDB's own order (booleans after strings) does not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from forze.domain.errors import InvalidInputError
from forze_projections.queries import json_kind, schema_kinds

__all__ = ["NEVER", "MongoField", "Query", "all_of", "mongo_fields", "stored_name"]

Query = dict[str, Any]
"""A MongoDB query (filter) document."""

NEVER: Query = {"_id": {"$in": []}}
"""A query no document matches (MongoDB refuses an empty ``$or``)."""

_IS_NULL: dict[str, Any] = {"$in": [None]}
"""A field's condition of being null. ``{field: null}`` means the same on MongoDB, but the
nx-27017 emulator misses nulls with it inside ``$or`` and in ``count_documents``."""

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
_UNADDRESSABLE = re.compile("[\x00\ud800-\udfff]")
_RANKS = {"null": 0, "bool": 1, "number": 2, "string": 3, "list": 4}
_SIGNS = {"lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}


def stored_name(field: str) -> str:
    """The document key of model field ``field`` (see the module docstring);
    ``InvalidInputError`` for a name holding NUL or a lone surrogate."""
    if _PLAIN.fullmatch(field):
        return field
    if _UNADDRESSABLE.search(field):
        raise InvalidInputError(
            f"field name {field!r} holds NUL or a lone surrogate: MongoDB cannot address it"
        )
    return "_h" + field.encode().hex()


def all_of(conditions: Sequence[Query]) -> Query:
    """Matches documents matching every one of ``conditions`` (every document when none)."""
    if not conditions:
        return {}
    return conditions[0] if len(conditions) == 1 else {"$and": list(conditions)}


def _comparable(value: Any) -> Any:
    """``value`` as its shadow holds it: a list or object as JSON text, others as they are."""
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return value


@dataclass(frozen=True, slots=True)
class MongoField:
    """How one field is stored and compared: queries compare ``path`` (and, for a field of
    several kinds, ``rank`` first); ``kind`` is the field's one kind, ``None`` when mixed."""

    name: str
    stored: str
    path: str
    kind: str | None
    rank: str | None = None

    @property
    def sort_paths(self) -> tuple[str, ...]:
        """The paths to sort (and index) by, in order."""
        return (self.path,) if self.rank is None else (self.rank, self.path)

    def shadows(self, value: Any) -> dict[str, Any]:
        """The shadow keys a document whose field holds ``value`` gets (see the module)."""
        if self.rank is not None:
            return {self.rank: _RANKS[json_kind(value)], self.path: _comparable(value)}
        if self.path not in (self.stored, "_id"):
            return {self.path: _comparable(value)}
        return {}

    def _value(self, value: Any) -> Any:
        """A non-null ``value`` as ``path`` holds it; ``InvalidInputError`` when it is of a
        kind the field cannot hold (a forged cursor, say)."""
        if self.kind is not None and json_kind(value) != self.kind:
            raise InvalidInputError(f"value {value!r} does not fit field {self.name!r}")
        return _comparable(value)

    def equals(self, value: Any) -> Query:
        """Matches documents whose field is ``value`` (null included)."""
        if self.rank is None:
            return {self.path: _IS_NULL if value is None else self._value(value)}
        if value is None:
            return {self.rank: 0}
        return {self.rank: _RANKS[json_kind(value)], self.path: self._value(value)}

    def differs(self, value: Any) -> Query:
        """Matches documents whose field is not ``value`` (null differs from every value)."""
        if self.rank is None:
            return {self.path: {"$ne": None if value is None else self._value(value)}}
        if value is None:
            return {self.rank: {"$ne": 0}}
        rank = _RANKS[json_kind(value)]
        return {"$or": [{self.rank: {"$ne": rank}}, {self.path: {"$ne": self._value(value)}}]}

    def one_of(self, values: list[Any]) -> Query:
        """Matches documents whose field is one of ``values``."""
        if self.rank is None:
            return {self.path: {"$in": [None if v is None else self._value(v) for v in values]}}
        if not values:
            return NEVER
        return {"$or": [self.equals(value) for value in values]}

    def compare(self, op: str, value: Any) -> Query:
        """Matches ``field <op> value`` for ``lt``/``le``/``gt``/``ge``; null never matches
        (MongoDB compares values of one type only, so ``$lt`` skips null)."""
        if value is None:
            return NEVER
        sign = _SIGNS[op]
        test = {self.path: {sign: self._value(value)}}
        if self.rank is None:
            return test
        rank = _RANKS[json_kind(value)]
        other = {"$gt": 0, "$lt": rank} if sign.startswith("$l") else {"$gt": rank}
        return {"$or": [{self.rank: other}, {self.rank: rank, **test}]}

    def beyond(self, value: Any, descending: bool) -> Query | None:
        """Matches values strictly after ``value`` in the sort; ``None`` if none can be."""
        if self.rank is None:
            if value is None:
                return None if descending else {self.path: {"$ne": None}}
            if descending:
                below = {self.path: {"$lt": self._value(value)}}
                return {"$or": [below, {self.path: _IS_NULL}]}
            return {self.path: {"$gt": self._value(value)}}
        if value is None:
            return None if descending else {self.rank: {"$gt": 0}}
        rank = _RANKS[json_kind(value)]
        sign = "$lt" if descending else "$gt"
        same = {self.rank: rank, self.path: {sign: self._value(value)}}
        return {"$or": [{self.rank: {sign: rank}}, same]}


def mongo_fields(model: type[BaseModel], key: str) -> dict[str, MongoField]:
    """How each field of ``model`` is stored and compared; ``key`` is the key field."""
    try:
        schema = model.model_json_schema(by_alias=False, mode="serialization")
    except Exception:  # a field without a JSON schema: compare every field by (rank, value)
        schema = {}
    properties: Mapping[str, Any] = schema.get("properties", {})
    defs: Mapping[str, Any] = schema.get("$defs", {})
    fields: dict[str, MongoField] = {}
    for name in model.model_fields:
        stored = stored_name(name)
        kinds = schema_kinds(properties.get(name), defs)
        if kinds is not None and len(kinds - {"null"}) <= 1:
            kind = next(iter(kinds - {"null"}), "list")
            if name == key and kinds == {"string"}:
                path = "_id"
            else:
                path = "_v_" + stored if kind == "list" else stored
            fields[name] = MongoField(name, stored, path, kind)
        else:
            fields[name] = MongoField(name, stored, "_v_" + stored, None, "_r_" + stored)
    return fields
