"""``package.module:NAME`` options (``--app``, ``--projections``, ``--specs``): importing what
they name, with one-line errors."""

from __future__ import annotations

import importlib

from forze.domain.errors import InvalidInputError

__all__ = ["load_reference"]


def load_reference(reference: str, option: str, example: str = "NAME") -> object:
    """The object ``reference`` (``package.module:NAME``) names; ``InvalidInputError``
    naming ``option`` when it is malformed or cannot be imported."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise InvalidInputError(
            f"{option} must look like 'package.module:{example}', not {reference!r}"
        )
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise InvalidInputError(f"cannot load {option} {reference!r}: {error}") from None
