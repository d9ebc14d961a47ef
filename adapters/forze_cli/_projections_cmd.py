"""``forze projections status | rebuild NAME | reset NAME`` on any store."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TextIO

from forze.domain.errors import InvalidInputError
from forze_cli._console import Part, is_terminal, write_table
from forze_cli._progress import ProgressBar
from forze_cli._references import load_reference
from forze_cli._relays_cmd import RELAY_PREFIX
from forze_cli._sagas_cmd import SAGA_PREFIX
from forze_cli._stores import StoreTarget, open_store
from forze_projections import (
    Projection,
    ProjectionProgress,
    ProjectionState,
    ProjectionStatus,
    Projector,
    feed_lag,
)

if TYPE_CHECKING:
    from rich.text import Text

__all__ = [
    "DEFAULT_PROJECTIONS",
    "confirm_by_typing",
    "load_projections",
    "open_projector",
    "projections_command",
]

DEFAULT_PROJECTIONS = "forze_examples.bank:PROJECTIONS"
"""The demo's projections: what ``rebuild`` and ``reset`` run without ``--projections``."""

_CHECKPOINT = re.compile(r"(?P<name>.+)@v(?P<version>[0-9]+)")
"""A projection version's checkpoint name (``Projection.checkpoint_name``)."""


def load_projections(reference: str) -> tuple[Projection, ...]:
    """Import ``module:attribute`` naming a ``Projection`` or a sequence of them."""
    found = load_reference(reference, "--projections")
    if isinstance(found, Projection):
        projections: tuple[object, ...] = (found,)
    elif isinstance(found, list | tuple):
        projections = tuple(found)
    else:
        projections = ()
    if not projections or not all(isinstance(p, Projection) for p in projections):
        raise InvalidInputError(f"{reference!r} is not a Projection or a sequence of them")
    return tuple(p for p in projections if isinstance(p, Projection))


@asynccontextmanager
async def open_projector(
    target: StoreTarget, reference: str | None, *, read_only: bool = False
) -> AsyncIterator[Projector]:
    """A projector over the events and read models of an existing forze store: the
    application's own with ``--app`` (its runtime's, unless ``reference`` names others),
    else one running the projections ``reference`` names (default: the demo's).

    ``read_only`` opens a store named by URL without changing it (for ``status``); otherwise
    it must already be a forze store: its projection tables are added, never its event table.
    """
    async with open_store(target, write=not read_only) as store:
        if store.projector is not None and reference is None:
            yield store.projector
            return
        projections = load_projections(reference or DEFAULT_PROJECTIONS)
        yield Projector(store.events, store.backend, projections)


async def projections_command(
    action: str,
    target: StoreTarget,
    reference: str | None,
    out: TextIO,
    *,
    name: str | None = None,
    progress: bool = False,
    confirm: Callable[[str], bool] | None = None,
) -> None:
    """Run one ``forze projections`` action and print its outcome.

    ``reference`` (``package.module:NAME``) names the projections' code; without it, an
    application's store (``--app``) uses the application's projections, and on a store named
    by URL ``status`` shows the projections recorded in the store (their checkpoints and
    leases) while ``rebuild`` and ``reset`` use the demo's (``DEFAULT_PROJECTIONS``). A
    ``reset`` calls ``confirm(name)`` once the store and the name are checked and before
    anything is written; when it answers no, nothing is changed and ``InvalidInputError``
    says so.
    """
    if action == "status" and reference is None and target.app is None:
        await _print_recorded(target, out)
        return
    checked = False
    if target.app is None or reference is not None:  # the code is known before opening
        projections = load_projections(reference or DEFAULT_PROJECTIONS)
        if action != "status" and target.app is None:
            async with open_store(target):
                pass  # the store exists and is a forze store: checked, nothing changed
        if action != "status":
            _check_and_confirm(action, name, [p.name for p in projections], confirm)
            checked = True
    async with open_projector(target, reference, read_only=action == "status") as projector:
        if action == "status":
            await _print_status(projector, out)
            return
        assert name is not None  # the parser requires NAME for rebuild and reset
        if not checked:  # the application's projections: known once its runtime started
            _check_and_confirm(action, name, list(projector.projections), confirm)
        if action == "reset":
            await projector.reset(name)
            version = projector.projections[name].version
            out.write(f"reset {name} v{version}: checkpoint 0, its documents dropped\n")
            return
        await _rebuild(projector, name, out, progress=progress)


def _check_and_confirm(
    action: str, name: str | None, known: list[str], confirm: Callable[[str], bool] | None
) -> None:
    """Refuse an unknown projection name; for a reset, ask ``confirm`` (before any write)."""
    assert name is not None  # the parser requires NAME for rebuild and reset
    if name not in known:
        raise InvalidInputError(
            f"no projection named {name!r} (known: {', '.join(sorted(known)) or 'none'})"
        )
    if action == "reset" and confirm is not None and not confirm(name):
        raise InvalidInputError(f"reset of {name!r} not confirmed: nothing was changed")


async def _rebuild(projector: Projector, name: str, out: TextIO, *, progress: bool) -> None:
    lease = await projector.backend.leases.read(name)
    if lease is not None and lease.holder is not None and lease.holder != projector.owner:
        out.write(f"{name} is run by {lease.holder}: it rebuilds it; waiting for it\n")
        out.flush()
    head = await projector.events.head_position()
    bar = ProgressBar(f"rebuilding {name}", head, force=progress)

    def report(update: ProjectionProgress) -> None:
        bar.update(update.position, total=update.head)

    projector.on_progress = report
    with bar:
        status = await projector.rebuild(name)
    out.write(
        f"rebuilt {name} v{status.version} to position {status.checkpoint}; "
        f"live version {status.live_version}\n"
    )


def confirm_by_typing(stdin: TextIO, prompt: TextIO) -> Callable[[str], bool]:
    """The confirmation ``forze projections reset`` asks for without ``--yes``: the name of the
    projection, typed on ``stdin`` after a question on ``prompt``.

    When ``stdin`` is not a terminal (a script, a pipe) nobody can answer: it raises
    ``InvalidInputError`` saying to pass ``--yes``, before anything is written.
    """

    def confirm(name: str) -> bool:
        if not is_terminal(stdin):
            raise InvalidInputError(
                f"refusing to reset {name!r} without --yes: standard input is not a terminal"
                " to confirm on; nothing was changed"
            )
        prompt.write(
            f"reset {name} drops its checkpoint and documents (its next run rebuilds them).\n"
            "type the projection name to confirm: "
        )
        prompt.flush()
        return stdin.readline().strip() == name

    return confirm


_HEADER = ("PROJECTION", "VERSION", "LIVE", "CHECKPOINT", "HEAD")
_NUMERIC = ("CHECKPOINT", "HEAD", "LAG", "LAG_S", "LAG_ANY", "LAG_ANY_S", "FAILURES")


async def _print_status(projector: Projector, out: TextIO) -> None:
    rows = []
    for status in await projector.status():
        failures = len(await projector.backend.failures(status.name))
        rows.append(_row(status, failures))
    header = (*_HEADER, "LAG", "LAG_S", "STATE", "HOLDER", "FAILURES")
    write_table(header, rows, out, numeric=_NUMERIC)


async def _print_recorded(target: StoreTarget, out: TextIO) -> None:
    """The status of each projection version the store has a checkpoint or lease of.

    Without the projections' code their event types are unknown, so the lag counts events of
    any type (``LAG_ANY``), as ``forze relays status`` does; a running projector moves its
    checkpoint past the events it does not read, so at rest it is 0 all the same.
    """
    async with open_store(target) as store:
        backend, events = store.backend, store.events
        checkpoints = await backend.checkpoints.all()
        versions: dict[str, set[int]] = {}
        for checkpoint in checkpoints:
            match = _CHECKPOINT.fullmatch(checkpoint)
            if match is not None and not checkpoint.startswith((RELAY_PREFIX, SAGA_PREFIX)):
                versions.setdefault(match["name"], set()).add(int(match["version"]))
        for leased in await backend.leases.names():
            lease = await backend.leases.read(leased)
            if lease is not None and not leased.startswith((RELAY_PREFIX, SAGA_PREFIX)):
                versions.setdefault(leased, set()).add(lease.version)
        rows = []
        for name in sorted(versions):
            live = await backend.live_version(name)
            lease = await backend.leases.read(name)
            failures = len(await backend.failures(name))
            for version in sorted(versions[name]):
                checkpoint_name = f"{name}@v{version}"
                lag = await feed_lag(events, checkpoints.get(checkpoint_name, 0))
                status = ProjectionStatus(
                    name=name,
                    version=version,
                    live_version=live,
                    checkpoint=checkpoints.get(checkpoint_name, 0),
                    head=lag.head,
                    lag_events=lag.events,
                    lag_seconds=lag.seconds,
                    state=ProjectionState.IDLE,  # no runner in this process
                    holder=None if lease is None else lease.holder,
                )
                rows.append(_row(status, failures))
    if not rows:
        out.write(
            "no projection has run on this store yet"
            " (--projections package.module:NAME shows those of your code)\n"
        )
        return
    header = (*_HEADER, "LAG_ANY", "LAG_ANY_S", "STATE", "HOLDER", "FAILURES")
    write_table(header, rows, out, numeric=_NUMERIC)


def _row(status: ProjectionStatus, failures: int) -> tuple[str | Text, ...]:
    return (
        status.name,
        f"v{status.version}",
        "-" if status.live_version is None else f"v{status.live_version}",
        str(status.checkpoint),
        str(status.head),
        str(status.lag_events),
        f"{status.lag_seconds:.1f}",
        _styled(_state(status)),
        status.holder or "-",
        _styled((str(failures), "red" if failures else "")),
    )


def _state(status: ProjectionStatus) -> Part:
    live = status.live_version
    if live is None:
        return "building (none live yet)", "cyan"
    if live < status.version:
        return f"building (v{live} serves)", "cyan"
    if live > status.version:
        return f"retired (v{live} serves)", "dim"
    if status.lag_events == 0:
        return "caught up", "green"
    return "behind", "yellow"


def _styled(part: Part) -> Text:
    from rich.text import Text  # rich only when output is written (see forze_cli._console)

    return Text(part[0], style=part[1])
