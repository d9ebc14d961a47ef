"""What ``forze`` prints: plain text when piped, styles on a terminal, JSON that parses, and
one line naming the ``cli`` extra when rich is missing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forze_cli import main
from forze_cli._console import write_table
from forze_cli._progress import ProgressBar

FORZE = Path(sys.executable).parent / "forze"
ESCAPE = "\x1b"


class _Terminal(io.StringIO):
    """An output stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "bank.sqlite"
    assert main(["demo", "--db", str(path), "--accounts", "4", "--commands", "40"]) == 0
    return path


def _piped(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    """``forze`` with its output piped, in an environment that asks for colours anyway."""
    environment = {**os.environ, "FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "COLUMNS": "40"}
    return subprocess.run(
        [FORZE, *arguments], capture_output=True, text=True, timeout=60, env=environment
    )


@pytest.mark.parametrize(
    "command",
    [
        ["streams"],
        ["stream", "show", "account-00001"],
        ["feed", "tail"],
        ["projections", "status"],
        ["relays", "status"],
        ["sagas", "status"],
    ],
    ids=" ".join,
)
def test_piped_output_has_no_escape_codes_and_no_wrapped_or_padded_lines(
    demo_db: Path, command: list[str]
) -> None:
    done = _piped(*command, "--db", demo_db)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout
    assert ESCAPE not in done.stdout
    lines = done.stdout.splitlines()
    assert all(line == line.rstrip() for line in lines)
    if command[0] == "projections":  # wider than COLUMNS=40, yet one line per row
        assert len(lines) == 2
        assert len(lines[0]) > 40


def test_the_piped_demo_prints_plain_tables_and_only_final_progress_lines(tmp_path: Path) -> None:
    done = _piped("demo", "--db", tmp_path / "bank.sqlite", "--accounts", "3", "--commands", "9")
    assert done.returncode == 0
    assert ESCAPE not in done.stdout + done.stderr
    assert "\r" not in done.stderr
    progress = done.stderr.splitlines()
    assert [line.split()[0] for line in progress] == ["opening", "running", "replaying", "building"]
    assert all(" 100% " in line for line in progress)
    assert "PHASE" in done.stdout.split()


@pytest.mark.parametrize(
    "command", [["feed", "tail", "--last", "1000"], ["stream", "show", "account-00002"]]
)
def test_json_output_parses_line_by_line_even_on_a_terminal(
    demo_db: Path,
    command: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    piped = _piped(*command, "--json", "--db", demo_db)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main([*command, "--json", "--db", str(demo_db)]) == 0
    at_terminal = terminal.getvalue()
    for text in (piped.stdout, at_terminal):
        records = [json.loads(line) for line in text.splitlines()]
        assert records
        assert all(set(record) >= {"position", "event_type", "data"} for record in records)
    assert at_terminal == piped.stdout


def test_a_terminal_gets_styled_tables() -> None:
    out = _Terminal()
    write_table(("NAME", "STALLED"), [("orders", "yes")], out, styles={"STALLED": lambda _: "red"})
    assert ESCAPE in out.getvalue()
    assert "orders" in out.getvalue()


def test_a_table_off_a_terminal_is_plain_text_in_columns_two_spaces_apart() -> None:
    out = io.StringIO()
    rows = [("a-very-long-name-" * 20, "7"), ("b", "[bold]12[/bold]")]
    write_table(("NAME", "COUNT"), rows, out, numeric=("COUNT",))
    width = len(rows[0][0])
    assert out.getvalue().splitlines() == [
        f"{'NAME':<{width}}            COUNT",
        f"{rows[0][0]}                7",
        f"{'b':<{width}}  [bold]12[/bold]",
    ]


def test_a_progress_bar_off_a_terminal_prints_only_its_final_line() -> None:
    out = io.StringIO()
    bar = ProgressBar("counting", 200, stream=out)
    for _ in range(200):
        bar.advance()
    assert out.getvalue() == ""
    bar.close()
    (line,) = out.getvalue().splitlines()
    assert line.startswith("counting ")
    assert " 100% 200/200 " in line
    assert ESCAPE not in line


def test_a_progress_bar_whose_work_fails_off_a_terminal_prints_nothing() -> None:
    out = io.StringIO()

    def fail() -> None:
        with ProgressBar("failing", 10, stream=out) as bar:
            bar.advance(3)
            raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError):
        fail()
    assert out.getvalue() == ""


def test_without_rich_forze_names_the_extra_in_one_line_and_exits_2(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['rich'] = None\n"  # as if rich were not installed
        "from forze_cli._main import main\n"
        f"sys.exit(main(['streams', '--db', {str(tmp_path / 'x.sqlite')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == (
        "forze: error: the forze command line needs rich: pip install 'forze[cli]'\n"
    )
