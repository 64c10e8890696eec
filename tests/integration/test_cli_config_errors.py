"""`physres run` / `physres check` on a bad config file: exit 2, one line on stderr, no folder.

Run as a subprocess, as a person would: what counts is the terminal output,
including rich's wrapping and markup, which an in-process call does not show.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from physres.cli import main

#: nine levels of nine aliases (387 million values once expanded)
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi")
)

CASES: dict[str, tuple[bytes, str]] = {
    "billion-laughs": (LAUGHS.encode(), "laughs.yaml:4: the document expands"),
    "recursive-alias": (b"name: x\nloop: &a [1, *a]\n", "recursive-alias.yaml:2:"),
    "deep": (b"x: " + b"[" * 5000 + b"]" * 5000, "deep.yaml:1: nested deeper than"),
    "duplicate": (b"name: a\nname: b\n", "duplicate.yaml:2: duplicate key 'name'"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png.yaml:1: not a text config"),
    "markup-and-a-long-value": (
        b"devices:\n  e:\n    kind: '[/oops] [bold]" + b"z" * 300_000 + b"'\n",
        "markup-and-a-long-value.yaml:3: devices.e.kind: unknown device kind '[/oops] [bold]zzz",
    ),
}


def _physres(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "60"}  # a narrow terminal must not wrap the message
    return subprocess.run(
        [sys.executable, "-m", "physres.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
    )


def _one_line_error(code: int, stderr: str, expected: str) -> None:
    assert code == 2, stderr[-2000:]
    lines = stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[:2000]
    assert lines[0].startswith(f"error: {expected}"), lines[0][:300]
    assert len(lines[0]) < 500


@pytest.mark.parametrize("command", ["run", "check"])
@pytest.mark.parametrize(("payload", "expected"), CASES.values(), ids=CASES.keys())
def test_a_hostile_config_exits_2_with_one_line_and_creates_nothing(
    command: str,
    payload: bytes,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = expected.split(":", 1)[0]
    (tmp_path / name).write_bytes(payload)
    monkeypatch.chdir(tmp_path)
    extra = ["--out", str(tmp_path / "out")] if command == "run" else []
    code = main([command, name, *extra])
    _one_line_error(code, capsys.readouterr().err, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name], "no run folder"


@pytest.mark.parametrize(
    ("command", "case"), [("run", "png"), ("check", "markup-and-a-long-value")]
)
def test_in_a_real_terminal_session_too(command: str, case: str, tmp_path: Path) -> None:
    """A subprocess: the interpreter's own exit path, a narrow terminal, no pytest capture."""
    payload, expected = CASES[case]
    name = expected.split(":", 1)[0]
    (tmp_path / name).write_bytes(payload)
    extra = ["--out", str(tmp_path / "out")] if command == "run" else []
    proc = _physres(command, name, *extra, cwd=tmp_path)
    _one_line_error(proc.returncode, proc.stderr, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name], "no run folder"


BOARD = """\
name: board
devices:
  board:
    kind: {kind}
    params:
      watchdog_ms: 80
      keepalive_s: 0.05
task:
  kind: {task}
"""


@pytest.mark.parametrize(
    ("kind", "task", "expected"),
    [
        (
            "mock.bucket_motors",
            "xor",
            "cfg.yaml:7: devices.board.params.keepalive_s: keepalive_s=0.05 is more than half of "
            "watchdog_ms=80",
        ),
        ("mock.esn", "xor", "cfg.yaml:6: devices.board.params.watchdog_ms: Extra inputs"),
        (
            "mock.bucket_motors",
            "narma_10",
            "cfg.yaml:7: devices.board.params.keepalive_s:",
        ),
    ],
    ids=["cross-field", "misspelt-key", "first-error-first"],
)
@pytest.mark.parametrize("command", ["run", "check"])
def test_config_errors_come_before_any_run_folder(
    command: str,
    kind: str,
    task: str,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "cfg.yaml").write_text(BOARD.format(kind=kind, task=task))
    monkeypatch.chdir(tmp_path)
    extra = ["--out", "out", "--quiet"] if command == "run" else []
    code = main([command, "cfg.yaml", *extra])
    _one_line_error(code, capsys.readouterr().err, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml"], "no run folder"


@pytest.mark.parametrize("command", ["run", "check"])
@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("{kind: narma11}", "cfg.yaml:7: task.kind: unknown task 'narma11'"),
        ("{kind: xor, params: {delay: 1, washot: 3}}", "cfg.yaml:7: task.params.washot: Extra"),
    ],
    ids=["unknown-task", "misspelt-task-param"],
)
def test_task_errors_exit_2_with_file_and_line_and_leave_no_folder(
    command: str,
    task: str,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`check` used to pass a config whose task does not exist; `run` left a half folder."""
    text = "name: t\ndevices:\n  esn:\n    kind: mock.esn\n    params: {n_units: 5}\n\n"
    (tmp_path / "cfg.yaml").write_text(text + f"task: {task}\n")
    monkeypatch.chdir(tmp_path)
    extra = ["--out", "out", "--quiet"] if command == "run" else []
    code = main([command, "cfg.yaml", *extra])
    _one_line_error(code, capsys.readouterr().err, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml"], "no run folder"


def test_check_takes_several_configs_and_reports_each_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = "devices: {e: {kind: mock.esn, params: {n_units: 5}}}\ntask: {kind: xor}\n"
    (tmp_path / "good.yaml").write_text(good)
    (tmp_path / "bad.yaml").write_text(good.replace("xor", "xo"))
    (tmp_path / "bin.yaml").write_bytes(b"\x89PNG\r\n")
    paths = [str(tmp_path / n) for n in ("good.yaml", "bad.yaml", "bin.yaml")]
    assert main(["check", *paths]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "bad.yaml:2: task.kind: unknown task 'xo'" in err[0]
    assert "bin.yaml:1: not a text config" in err[1]
    assert main(["check", paths[0], paths[0]]) == 0
    assert capsys.readouterr().out.count("PASS") >= 10
