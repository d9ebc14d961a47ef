"""One name, one spec: the specs usecases declare, checked when the runtime is built."""

from __future__ import annotations

from typing import Any, TypeAlias

from forze.contracts import ReadModelSpec
from forze.domain.errors import WiringError
from forze.domain.spec import AggregateSpec

__all__ = ["Spec", "SpecNames"]

Spec: TypeAlias = AggregateSpec[Any] | ReadModelSpec[Any]
"""A spec a requirement may name: its name is the route."""

_OWNS = {
    "aggregate": "its events, upcasters and codec",
    "read model": "its document type and key",
}


class SpecNames:
    """The specs of one runtime by kind and name, each with the usecase that declared it."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], tuple[Spec, str]] = {}

    def admit(self, spec: Spec, usecase: str) -> None:
        """Remember ``spec``; ``WiringError`` if a different spec already has its name.

        The same spec (or an equal one: same name, events, upcasters, factory, ...) declared
        by many usecases is one spec.
        """
        kind = "aggregate" if isinstance(spec, AggregateSpec) else "read model"
        known, declared_by = self._known.setdefault((kind, spec.name), (spec, usecase))
        if known is spec or known == spec:
            return
        raise WiringError(
            f"two different {kind} specs are named {spec.name!r} (one required by usecase"
            f" {declared_by!r}, the other by {usecase!r}): one name, one spec ({_OWNS[kind]});"
            f" give the other {kind} its own name"
        )

    def aggregates(self) -> tuple[AggregateSpec[Any], ...]:
        """The aggregate specs admitted so far, in the order they were first declared."""
        return tuple(
            spec
            for (kind, _), (spec, _) in self._known.items()
            if kind == "aggregate" and isinstance(spec, AggregateSpec)
        )
