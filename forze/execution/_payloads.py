"""What payload a usecase takes, read from its handler's annotation, and checking it."""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

__all__ = ["PayloadTypes", "described", "payload_types"]

PayloadTypes = tuple[type[Any], ...]
"""The classes a payload may be an instance of."""


def payload_types(handler: Callable[..., Any]) -> PayloadTypes | None:
    """The classes the payload parameter (the one after the context) of ``handler`` admits,
    or ``None`` when its annotation admits anything or cannot be checked with
    ``isinstance`` (``Any``, ``object``, a type variable, a ``Literal``, a protocol that is
    not runtime-checkable), and for callables that are not functions or methods.

    Raises ``NameError`` (or another error of evaluating it) when the annotation names
    something the handler's module cannot see.
    """
    function = inspect.unwrap(handler)
    if inspect.ismethod(function):
        return _of_function(function.__func__, 2)  # the first parameter is bound
    if inspect.isfunction(function):
        return _of_function(function, 1)
    return None  # a callable object or a partial: no annotations of its own to read


@functools.lru_cache(maxsize=1024)
def _of_function(function: Callable[..., Any], index: int) -> PayloadTypes | None:
    parameters = list(inspect.signature(function).parameters.values())
    if len(parameters) <= index or parameters[index].annotation is inspect.Parameter.empty:
        return None
    annotation = parameters[index].annotation
    if isinstance(annotation, str):  # postponed: evaluated as typing.get_type_hints would,
        # but alone, so that the handler's other annotations may name what exists only for
        # type checkers (imports under ``if TYPE_CHECKING:``)
        annotation = eval(annotation, getattr(function, "__globals__", {}))
    return _classes(annotation)


def _classes(annotation: object) -> PayloadTypes | None:
    if annotation is None or annotation is type(None):
        return (type(None),)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _classes(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        members = [_classes(member) for member in typing.get_args(annotation)]
        if any(member is None for member in members):
            return None
        return tuple(cls for member in members if member is not None for cls in member)
    if isinstance(origin, type):  # list[int] is checked as list, Mapping[str, int] as Mapping
        annotation = origin
    if not isinstance(annotation, type) or annotation is object:
        return None
    try:
        isinstance(None, annotation)
    except TypeError:  # a protocol that is not runtime-checkable, say
        return None
    return (annotation,)


def described(classes: PayloadTypes) -> str:
    """``classes`` for an error message: ``Deposit``, or ``str or None``."""
    return " or ".join("None" if cls is type(None) else cls.__qualname__ for cls in classes)
