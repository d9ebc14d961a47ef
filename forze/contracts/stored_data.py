"""``StoredData``: event data as a store decoded it, keeping the JSON text it was stored as."""

from __future__ import annotations

import copy
from typing import Any, NoReturn

__all__ = ["StoredData"]


class StoredData(dict[str, Any]):
    """Read-only event data, decoded from the JSON text a store keeps, with that text.

    A store may hand it out as ``RecordedEvent.data``: publishing the event (``message_of``)
    then sends ``json`` as the body instead of encoding the data again. It reads as a plain
    ``dict`` (equal to one, JSON-encodable as one) but cannot be changed in place, so the text
    can never disagree with it: make a changed copy with ``dict(data)`` (copies, pickles and
    deep copies are plain dicts). ``json`` must be the JSON of exactly this data; its nested
    values must not be changed either (event data never is).
    """

    __slots__ = ("json",)

    json: str
    """The JSON object this data was decoded from."""

    @classmethod
    def of(cls, data: dict[str, Any], json: str) -> StoredData:
        """``data`` (decoded from ``json``) with its text."""
        stored = cls(data)
        stored.json = json
        return stored

    def _refuse(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise TypeError("stored event data is read-only: change a copy, dict(data)")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def copy(self) -> dict[str, Any]:
        """A plain, changeable ``dict`` with the same items."""
        return dict(self)

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return copy.deepcopy(dict(self), memo)

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        return dict, (dict(self),)
