"""A Griffe extension for the API reference: Sphinx roles in docstrings become links.

forze's docstrings name other objects the Sphinx way (:class:`Consumer`,
:meth:`~forze.contracts.ReadModelStore.search`), which Markdown would show as a stray
``:class:`` before the code. This turns each role into an optional mkdocs-autorefs
cross-reference: a link where the named object is on a reference page, plain code where it
is not (a private module, a name no ``__all__`` exports), so a role never fails the build.
Relative names are resolved in the docstring's own scope first.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|data|attr|mod|exc|obj):`(~?)([\w.]+)`")


def _identifier(scope: griffe.Object, target: str, loader: griffe.GriffeLoader) -> str:
    """The canonical path of ``target`` as seen from ``scope`` where Griffe knows it (a
    reference page registers the canonical paths of what it shows), else the full path."""
    head, _, rest = target.partition(".")
    path = target
    if head != "forze" and not head.startswith("forze_"):
        try:
            resolved = scope.resolve(head)
        except (griffe.NameResolutionError, griffe.AliasResolutionError, KeyError):
            return target
        path = f"{resolved}.{rest}" if rest else resolved
    try:
        canonical: str = loader.modules_collection[path].canonical_path
    except (griffe.AliasResolutionError, griffe.CyclicAliasError, KeyError, ValueError):
        return path
    return canonical


class SphinxRoles(griffe.Extension):
    """Rewrites the roles of every docstring once its object's tree is complete."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        """The package's own docstring (``on_object`` runs for its members)."""
        self.on_object(obj=pkg, loader=loader)

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        """Replace each role in ``obj``'s docstring by an optional cross-reference."""
        docstring = obj.docstring
        if docstring is None or ":`" not in docstring.value:
            return

        def link(match: re.Match[str]) -> str:
            short, target = match.group(1), match.group(2)
            shown = target.rsplit(".", 1)[-1] if short else target
            identifier = escape(_identifier(obj, target, loader), quote=True)
            return f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>'

        docstring.value = ROLE.sub(link, docstring.value)
