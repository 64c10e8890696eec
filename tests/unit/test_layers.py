"""Layer rules: the bus imports nothing above it, the core no simulator or driver,
drivers no simulator.

ruff's banned-api (TID251) does the checking: ``physres/ruff.toml`` and
``drivers/ruff.toml`` hold the static rules, so every ``ruff check`` and editor
shows a violation at its line. The bus rule is an allow-list (``physres.bus``
and ``physres.errors`` only), which ruff cannot state, so this test computes
the banned list from the tree and hands it to ruff. Checking each layer's
own files suffices: an import chain leaving a layer is caught at its first hop.
import-linter was tried first: its graph (grimp) walks ``physres/`` on disk and
cannot see ``physres.sim`` and ``physres.drivers``, which setuptools maps in
from ``sim/`` and ``drivers/``.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUS_MAY_IMPORT = {"bus", "errors"}


def _ruff(*args: str, stdin: str | None = None) -> list[dict]:
    """ruff's findings as JSON; a missing ruff is a failure, not a skip."""
    cmd = [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "json", *args]
    out = subprocess.run(cmd, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60)
    if out.returncode not in (0, 1) or "No module named ruff" in out.stderr:
        pytest.fail(f"ruff did not run (pip install -e '.[dev]'): {out.stderr.strip()}")
    return json.loads(out.stdout or "[]")


def _bus_banned() -> dict[str, dict[str, str]]:
    """Every physres module the bus must not import: all but itself and the errors root."""
    tops = {p.stem for p in (ROOT / "physres").iterdir() if p.suffix == ".py" or p.is_dir()}
    tops -= {"__init__", "__pycache__", *BUS_MAY_IMPORT}
    msg = {"msg": "the bus imports nothing above it (only physres.bus and physres.errors)"}
    return {f"physres.{t}": msg for t in sorted(tops | {"sim", "drivers"})}


def _bus_override() -> str:
    table = ", ".join(f'"{k}" = {{ msg = "{v["msg"]}" }}' for k, v in _bus_banned().items())
    return f"lint.flake8-tidy-imports.banned-api = {{ {table} }}"


def _where(findings: list[dict]) -> str:
    return "\n".join(
        f"{Path(f['filename']).relative_to(ROOT)}:{f['location']['row']}: {f['message']}"
        for f in findings
    )


def test_the_core_and_the_drivers_import_no_simulator() -> None:
    bad = _ruff("--select", "TID251", "physres", "drivers")
    assert not bad, "layer rule broken:\n" + _where(bad)


def test_the_bus_imports_nothing_above_it() -> None:
    banned = _bus_banned()
    assert {"physres.config", "physres.device", "physres.sim", "physres.cli"} <= set(banned)
    assert "physres.errors" not in banned and "physres.bus" not in banned
    bad = _ruff("--select", "TID251", "--config", _bus_override(), "physres/bus")
    assert not bad, "layer rule broken:\n" + _where(bad)


@pytest.mark.parametrize(
    ("path", "source", "bus_rule"),
    [
        ("physres/readout/_probe.py", "from physres.sim.esn import ESN\n", False),
        ("physres/_probe.py", "def f():\n    import physres.drivers.bucket\n", False),
        ("drivers/bucket/_probe.py", "from physres.sim import servobus\n", False),
        ("physres/bus/_probe.py", "from physres.config import load_config\n", True),
        ("physres/bus/_probe.py", "from physres.device.base import Device\n", True),
    ],
)
def test_the_check_catches_a_forbidden_import(path: str, source: str, bus_rule: bool) -> None:
    extra = ("--config", _bus_override()) if bus_rule else ()
    found = _ruff("--select", "TID251", *extra, "--stdin-filename", path, "-", stdin=source)
    assert [f["code"] for f in found] == ["TID251"], found


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("physres/bus/_probe.py", "from physres.errors import BusError\n"),
        ("physres/bus/_probe.py", "from physres.bus.codec import encode\n"),
        ("sim/bucket/_probe.py", "from physres.drivers.bucket.camera import Camera\n"),
    ],
)
def test_the_check_allows_what_the_rules_allow(path: str, source: str) -> None:
    extra = ("--config", _bus_override()) if path.startswith("physres/bus/") else ()
    assert _ruff("--select", "TID251", *extra, "--stdin-filename", path, "-", stdin=source) == []


def test_the_errors_root_imports_nothing_from_physres() -> None:
    # everything imports physres.errors, the bus included: it must stay a leaf
    tree = ast.parse((ROOT / "physres" / "errors.py").read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in names if m == "physres" or m.startswith("physres.")]


def test_the_core_loads_no_simulator_or_driver_by_name_either() -> None:
    # ruff sees import statements only; a module name in a string bypasses it
    # (the registry's kind table is the one sanctioned place: it is data, loaded lazily)
    pattern = re.compile(r"import_module\(\s*[\"']physres\.(sim|drivers)\b")
    hits = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "physres").rglob("*.py")
        if pattern.search(p.read_text())
    ]
    assert hits == []


def test_cli_families_arrive_through_the_entry_point_group(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import tomllib
    from importlib.metadata import entry_points

    from physres import cli

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    group = declared[cli.EXTENSION_GROUP]
    installed = {ep.name: ep.value for ep in entry_points(group=cli.EXTENSION_GROUP)}
    assert installed == group, "stale install: run `pip install -e .` again"
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    assert {"bench", "robot"} <= set(sub.choices)
    robot = next(a for a in sub.choices["robot"]._actions if a.dest == "robot_command")
    assert {"experts", "collect", "view"} <= set(robot.choices)
    # without the metadata the families are absent and the user is told how to fix it
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    assert "robot" not in sub.choices and "pip install -e ." in caplog.text
