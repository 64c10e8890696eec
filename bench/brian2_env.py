"""Run a Brian2 script in a pinned environment of its own, and read back its JSON.

Why a separate environment: Brian2 2.9.0 (the newest that installs on
Python 3.11) fails at import with numpy ≥ 2.4, which physres uses. The spiking
benchmarks (``bench/mea.py``, ``bench/neuromorphic.py``) build a virtual
environment once from ``bench/requirements-brian2.txt`` (under
``$PHYSRES_BRIAN2_ENV`` or ``~/.cache/physres/brian2-env``), run their Brian2
model there as a subprocess, and compare its timings with physres's in the same
run. Nothing here is imported by physres itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

REQUIREMENTS = Path(__file__).with_name("requirements-brian2.txt")


def env_dir() -> Path:
    """Where the pinned environment lives (one per requirements file content)."""
    root = os.environ.get("PHYSRES_BRIAN2_ENV")
    if root:
        return Path(root)
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:10]
    return Path.home() / ".cache" / "physres" / f"brian2-env-{digest}"


def python() -> Path:
    """The pinned environment's interpreter, building the environment on first use."""
    where = env_dir()
    exe = where / "bin" / "python"
    stamp = where / ".installed"
    if not stamp.exists():
        print(f"building Brian2's pinned environment in {where} (once) ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(where)
        subprocess.run(
            [str(exe), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True
        )
        stamp.write_text(REQUIREMENTS.read_text())
    return exe


def run_script(script: Path, args: list[str], timeout: float = 900) -> dict[str, Any]:
    """Run ``script`` under Brian2's environment; its last stdout line must be a JSON object."""
    out = subprocess.run(
        [str(python()), str(script), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(f"{script.name} printed nothing; stderr:\n{out.stderr[-2000:]}")
    return json.loads(lines[-1])
