"""What the commands print for people, through rich: tables and styled lines.

rich is the ``cli`` extra (``pip install 'forze[cli]'``); it is imported when output is
written, so ``import forze_cli`` works without it and ``forze`` says what to install.

Output that is not a terminal (a pipe, a file, a test's capture) is plain text whatever
``FORCE_COLOR`` or ``TTY_COMPATIBLE`` say: no escape codes, no wrapping or cropping at any
width, no trailing spaces, so scripts can read it. A terminal gets styles (``NO_COLOR`` turns
the colours off) and tables fitted to its width. ``--json`` output never goes through rich.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.text import Text

__all__ = [
    "RICH_HINT",
    "LineWriter",
    "Part",
    "is_terminal",
    "line_writer",
    "require_rich",
    "terminal",
    "write_renderable",
    "write_table",
]

RICH_HINT = "the forze command line needs rich: pip install 'forze[cli]'"
"""What to install when rich is missing."""

Part = tuple[str, str]
"""A piece of a line: its text and a rich style for terminals (``""`` for none)."""

LineWriter = Callable[[Sequence[Part]], None]
"""Writes one line made of parts (see ``line_writer``)."""

_UNLIMITED = 1_000_000
"""The width of output that is not a terminal: lines are never wrapped nor cropped."""


def require_rich() -> None:
    """Raise ``ImportError`` with ``RICH_HINT`` when rich is not installed."""
    try:
        import rich  # noqa: F401 - imported when output is written (see the module)
    except ImportError as error:
        raise ImportError(RICH_HINT) from error


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (a closed or fake stream is not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def terminal(out: TextIO, *, force: bool = False) -> Console:
    """A rich console writing to ``out``: styled at the terminal's width when ``out`` is one
    (or ``force``), plain and unlimited in width otherwise."""
    require_rich()
    from rich.console import Console  # rich only when output is written

    styled = force or is_terminal(out)
    return Console(
        file=out,
        force_terminal=styled,
        force_interactive=styled,
        width=None if styled else _UNLIMITED,
        highlight=False,
        markup=False,
        emoji=False,
    )


def write_renderable(renderable: RenderableType, out: TextIO) -> None:
    """Print ``renderable`` to ``out``: styled on a terminal, else plain lines without
    trailing spaces."""
    console = terminal(out)
    if console.is_terminal:
        console.print(renderable)
        return
    with console.capture() as captured:
        console.print(renderable)
    out.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def line_writer(out: TextIO) -> LineWriter:
    """A function writing one line of parts to ``out``: styled on a terminal (wrapped by the
    terminal, never cut), elsewhere the parts' text as it is."""
    if not is_terminal(out):

        def plain(parts: Sequence[Part]) -> None:
            out.write("".join(text for text, _ in parts) + "\n")

        return plain
    console = terminal(out)
    from rich.text import Text  # rich only when output is written

    def styled(parts: Sequence[Part]) -> None:
        console.print(Text.assemble(*parts), soft_wrap=True)

    return styled


def write_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str | Text]],
    out: TextIO,
    *,
    numeric: Collection[str] = (),
    styles: Mapping[str, Callable[[str], str]] | None = None,
) -> None:
    """Write ``rows`` under ``header`` in columns two spaces apart, left-aligned except the
    columns named in ``numeric``.

    Cells are text as given (``[`` is not markup), or rich ``Text`` carrying a style; on a
    terminal, ``styles`` maps a column's name to a function giving each of its cells a rich
    style (``""`` for none).
    """
    require_rich()
    from rich.table import Table  # rich only when output is written
    from rich.text import Text

    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    for name in header:
        table.add_column(  # a narrow terminal folds cells: nothing is cut off
            name, justify="right" if name in numeric else "left", overflow="fold"
        )
    stylers = [(styles or {}).get(name) for name in header]
    for row in rows:
        table.add_row(
            *(
                cell if isinstance(cell, Text) else Text(cell, style=styler(cell) if styler else "")
                for cell, styler in zip(row, stylers, strict=True)
            )
        )
    write_renderable(table, out)
