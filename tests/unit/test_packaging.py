"""What the package promises: every module states its public names, extras hold only
what code imports.

Both checks read the source (``ast``, ``tomllib``) instead of importing it, so
they need none of the optional extras and catch a stale name before a user does.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: folder → installed package (see setup.py)
PACKAGES = {"physres": "physres", "sim": "physres.sim", "drivers": "physres.drivers"}
#: distributions whose import name differs from their normalised name
IMPORT_NAMES = {
    "cl-sdk": "cl",
    "feetech-servo-sdk": "scservo_sdk",
    "foxglove-sdk": "foxglove",
    "mcap-protobuf-support": "mcap_protobuf",
    "open-ephys-python-tools": "open_ephys",
    "pyyaml": "yaml",
    "pyzmq": "zmq",
}
#: extras `all` leaves out on purpose, and why
OPT_IN = {"cl1": "cl-sdk's licence (CC BY-NC 4.0): a lab opts in; CI installs it explicitly"}
#: used without an import statement, and why
USED_WITHOUT_IMPORT = {
    "pytest-timeout": "the per-test timeout in pyproject's [tool.pytest.ini_options]",
    "imageio-ffmpeg": "imageio's MP4 writer (physres.datasets.viewer) loads it as a plugin",
    "ruff": "tests/unit/test_layers.py runs it to check the layer rules",
}


def _modules() -> list[Path]:
    return sorted(p for d in PACKAGES for p in (ROOT / d).rglob("*.py") if p.name != "__main__.py")


def _all_of(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return [ast.literal_eval(e) for e in node.value.elts]  # type: ignore[union-attr]
    return None


def _defined(tree: ast.Module) -> set[str]:
    """Names bound at module level (incl. inside if/try blocks)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def test_every_module_lists_its_public_names_and_each_exists() -> None:
    missing_all, dangling = [], []
    for path in _modules():
        tree = ast.parse(path.read_text())
        public = _all_of(tree)
        if public is None:
            missing_all.append(str(path.relative_to(ROOT)))
            continue
        assert len(public) == len(set(public)), f"{path}: __all__ repeats a name"
        dangling += [f"{path.relative_to(ROOT)}: {n}" for n in public if n not in _defined(tree)]
    assert missing_all == [] and dangling == []


def _imported_roots() -> set[str]:
    roots: set[str] = set()
    for folder in (*PACKAGES, "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    roots |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    roots.add(node.module.split(".")[0])
                elif (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "attr", "") in ("importorskip", "import_module")
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    roots.add(str(node.args[0].value).split(".")[0])
    return roots


def test_every_extra_holds_only_what_code_imports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    roots = _imported_roots()
    unused = []
    for extra, reqs in extras.items():
        for req in reqs:
            dist = re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower()
            if dist == "physres":
                continue
            name = IMPORT_NAMES.get(dist, dist.replace("-", "_"))
            if name not in roots and dist not in USED_WITHOUT_IMPORT:
                unused.append(f"[{extra}] {dist}")
    assert unused == [], "extras must hold only what code uses"
    assert extras["all"] == [
        f"physres[{','.join(sorted(set(extras) - {'all', *OPT_IN}, key=list(extras).index))}]"
    ]
