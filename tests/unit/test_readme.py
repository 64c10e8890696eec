"""The README tells the truth: its code runs, its names exist, its commands match CI."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from physres import registry
from physres.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CI = (ROOT / ".ci" / "run").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, flags=re.S | re.M)


def _section(title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, flags=re.S | re.M)
    assert m, f"README has no '## {title}' section"
    return m.group(1)


def test_the_python_api_blocks_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = _blocks("python")
    assert len(blocks) >= 4  # drive a device, fit a readout, read a recording, load a data set
    monkeypatch.chdir(tmp_path)  # the recording block writes demo.mcap here
    ns: dict = {"__name__": "readme"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for i, code in enumerate(blocks):
            exec(compile(code, f"README.md python block {i + 1}", "exec"), ns)
    printed = out.getvalue()
    assert ns["states"].shape == (20, 50) and np.isfinite(ns["states"]).all()
    assert re.search(r"NARMA10 NRMSE 0\.[0-4]\d\d", printed), printed  # a real fit, not chance
    assert [line.split()[:2] for line in printed.splitlines() if line.startswith("esn/")] == [
        ["esn/state", str(s)] for s in range(3)
    ]
    assert ns["words"].classes == ("zero", "one")


def test_the_two_commands_come_first_and_ci_runs_the_test_one() -> None:
    install, test = _blocks("bash")[:2]
    steps = [s.strip() for s in install.strip().split("&&")]
    assert steps[0] == "pip install torch==2.13.0"  # first, so nothing pulls a CUDA build
    run = shlex.split(steps[-1])
    assert run[:2] == ["physres", "run"] and (ROOT / run[2]).is_file()
    assert test.strip() == "python -m pytest"
    last = [ln for ln in CI.splitlines() if ln.strip() and not ln.startswith("#")][-1]
    assert last.strip() == test.strip()
    assert "torch==2.13.0" in CI and '-e ".[all]"' in CI and '-e ".[all]"' in install


def test_the_apt_line_is_the_one_ci_uses() -> None:
    [line] = [b for b in _blocks("bash") if "apt-get install" in b]
    readme_pkgs = {w for w in line.split() if not w.startswith("-")} - {"apt-get", "install"}
    ci = CI[CI.index("apt-get install") : CI.index(")", CI.index("apt-get install"))]
    ci_pkgs = {w for w in ci.replace("\\", " ").split() if not w.startswith("-")}
    assert readme_pkgs == ci_pkgs - {"apt-get", "install"}


def test_every_kind_the_readme_names_is_registered() -> None:
    named = set(re.findall(r"(?<![.\w])((?:sim|drivers|mock)\.[a-z0-9_]+)", README))
    assert {"sim.esn", "sim.bucket", "drivers.bucket_motors"} <= named
    assert named <= set(registry.kinds()), named - set(registry.kinds())


def test_the_status_table_matches_the_registered_kinds() -> None:
    """A substrate is 'landed' exactly when a kind for it is registered (no stale table)."""
    status = _section("Status")
    rows = dict(re.findall(r"^\| (.+?) \| (landed|planned) \|$", status, flags=re.M))
    kinds = " ".join(registry.kinds())
    for row_word, kind_word in (("MEA", "mea"), ("neuromorphic", "neuro")):
        [state] = [v for k, v in rows.items() if row_word in k]
        assert (kind_word in kinds) == (state == "landed"), f"README Status row {row_word}: {state}"


def test_every_command_in_the_table_exists() -> None:
    table = _section("Commands")
    named = set(re.findall(r"^\| `physres (\w+)", table, flags=re.M))
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert named and named <= set(sub.choices), named - set(sub.choices)


def test_every_path_in_the_layout_table_exists() -> None:
    table = _section("Layout")
    paths = re.findall(r"^\| `([^`]+)` \|", table, flags=re.M)
    assert len(paths) >= 6
    assert [p for p in paths if not (ROOT / p).exists()] == []


def test_the_contributor_guide_points_at_places_that_exist() -> None:
    guide = (ROOT / "CONTRIBUTING.md").read_text()
    for title in ("device kind", "task", "pipeline stage", "firmware"):
        assert re.search(rf"^## Add an? {title}", guide, flags=re.M), title
    paths = {p for p in re.findall(r"`([\w./-]+/[\w./-]*)`", guide) if "<" not in p}
    assert {"physres/registry.py", "firmware/Makefile"} <= paths
    assert [p for p in paths if not (ROOT / p).exists()] == []
    places = re.findall(r"`([A-Z_]+)` table in\s+`([\w./]+)`", guide)
    assert len(places) >= 3 and all(name in (ROOT / f).read_text() for name, f in places)
    groups = re.findall(r"`(physres\.\w+)` group", guide) + re.findall(
        r'entry-points\."(physres\.\w+)"', guide
    )
    py = (ROOT / "pyproject.toml").read_text() + "".join((ROOT / f).read_text() for _, f in places)
    assert groups and all(f'"{g}"' in py for g in groups)
