"""Every Python example in README.md and docs/ runs as written, and the API reference in
docs/reference/ covers every package and every name it exports."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import griffe
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _examples() -> list[tuple[str, str]]:
    found = []
    for document in DOCUMENTS:
        for number, block in enumerate(BLOCK.findall(document.read_text()), 1):
            found.append((f"{document.relative_to(ROOT)}#{number}", block))
    return found


def test_the_docs_have_examples() -> None:
    assert len(_examples()) >= 4


@pytest.mark.parametrize(("where", "code"), _examples(), ids=[w for w, _ in _examples()])
def test_a_docs_example_runs_as_written(where: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, f"{where} failed:\n{done.stderr}"


REFERENCE = ROOT / "docs" / "reference"
DIRECTIVE = re.compile(r"^::: ([\w.]+)$", re.MULTILINE)
SOURCE_ROOTS = [ROOT, *(ROOT / folder for folder in ("eventstore", "projections", "adapters"))]
NOT_REFERENCED = ("forze_cli", "forze_examples")
"""Packages with no reference page: the command line and the examples are not an API."""


def _directives() -> list[str]:
    """The objects the reference pages render (``::: path`` lines)."""
    pages = sorted(REFERENCE.glob("*.md"))
    return [path for page in pages for path in DIRECTIVE.findall(page.read_text())]


def _runtime(path: str) -> object:
    """The object at dotted ``path``: a module, or an attribute of one."""
    module, _, name = path.rpartition(".")
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError:
        return getattr(importlib.import_module(module), name)


def test_every_public_package_and_author_module_has_a_reference_page() -> None:
    # test_public_api.py lists the packages whose API is checked and the one module per
    # package that adapter authors use; the reference documents each of them.
    api = vars(importlib.import_module("test_public_api"))
    wanted = [*api["PACKAGES"], *api["KITS"].values()]
    documented = set(_directives())
    missing = [m for m in wanted if not m.startswith(NOT_REFERENCED) and m not in documented]
    assert not missing, f"add '::: <module>' to a page of docs/reference/ for {missing}"


def test_the_reference_renders_every_exported_name() -> None:
    # mkdocstrings renders what Griffe sees in a module's __all__; Griffe mistakes a name
    # that is also a submodule's for the submodule (mkdocstrings/griffe#124), which would
    # leave it out silently unless a page renders it by its full path.
    loader = griffe.GriffeLoader(search_paths=SOURCE_ROOTS)
    directives = _directives()
    explicit = {id(_runtime(path)) for path in directives}
    hidden = []
    for path in directives:
        module = _runtime(path)
        if not isinstance(module, ModuleType):
            continue
        seen = loader.load(path)
        for name in getattr(module, "__all__", ()):
            member, value = seen.members.get(name), getattr(module, name)
            invisible = member is None or (member.is_module and not isinstance(value, ModuleType))
            if invisible and id(value) not in explicit:
                hidden.append(f"{path}.{name}")
    assert not hidden, f"the reference cannot render {hidden}: add '::: <full path>' lines"
