"""The run folder and what it holds: ``config.yaml``, ``run.json``, ``metrics.json``.

``run.json`` is written before anything is driven and rewritten when the run
ends, whatever ended it, so a folder always says how its run finished:
``ok``, ``failed`` (with the exception) or ``interrupted`` (Ctrl-C/SIGINT).
A folder is only ever reused on request (``overwrite``), and then only if it
is itself a run folder: files of an earlier run must never sit beside a new
run's and be read as its results.
"""

from __future__ import annotations

import json
import platform
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
import zmq

from physres import __version__
from physres.errors import RunFolderError

__all__ = [
    "RunRecord",
    "jsonable",
    "outcome",
    "prepare_run_folder",
    "versions",
    "write_config",
    "write_metrics",
]

Status = Literal["running", "ok", "failed", "interrupted"]


def versions() -> dict[str, str]:
    """What a result depends on, so two runs' numbers can be compared honestly."""
    import scipy
    import sklearn

    return {
        "physres": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(),
        "platform": platform.platform(),
    }


def jsonable(x: Any) -> Any:
    """Plain JSON values (NumPy scalars unwrapped; inf/nan as strings JSON can hold)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return str(x)
    return x


def prepare_run_folder(out: Path, *, overwrite: bool = False) -> Path:
    """Create ``out`` empty; refuse one that holds files unless ``overwrite``.

    ``overwrite`` clears a folder only if it holds a ``run.json`` (an earlier
    run): a mistyped ``--out ~`` must not delete someone's files.
    """
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise RunFolderError(
                f"--out {out}: folder is not empty (an earlier run?); choose another folder "
                "or pass --overwrite to replace that run"
            )
        if not (out / "run.json").is_file():
            raise RunFolderError(
                f"--out {out}: not a physres run folder (no run.json); refusing to delete its "
                "files even with --overwrite"
            )
        if out.is_symlink():  # rmtree refuses links; clearing the target is not asked for
            raise RunFolderError(f"--out {out}: is a symbolic link; name the folder itself")
        try:
            shutil.rmtree(out)
        except OSError as e:
            raise RunFolderError(f"--out {out}: cannot clear the earlier run: {e}") from e
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunFolderError(f"--out {out}: cannot make the folder: {e.strerror or e}") from e
    return out


def outcome(exc: BaseException | None) -> tuple[Status, str]:
    """How a run ended, from the exception that ended it (None: it completed)."""
    if exc is None:
        return "ok", "completed"
    text = str(exc)
    if isinstance(exc, KeyboardInterrupt):  # Ctrl-C, or SIGTERM raised as a subclass
        return "interrupted", f"{type(exc).__name__}: {text}" if text else (
            "KeyboardInterrupt (Ctrl-C / SIGINT)"
        )
    return "failed", f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RunRecord:
    """``run.json``: provenance written at start, rewritten at every state change."""

    def __init__(self, out: Path, **info: Any) -> None:
        self.path = out / "run.json"
        self.info: dict[str, Any] = {
            **info,
            "host": socket.gethostname(),
            "argv": sys.argv,
            "versions": versions(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "status": "running",
        }
        self.write()

    @property
    def status(self) -> Status:
        return self.info["status"]

    def finish(self, exc: BaseException | None) -> None:
        """Record how the run ended and when (``exc`` is what ended it, if anything)."""
        self.info["status"], self.info["reason"] = outcome(exc)
        self.info["stopped"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.write()

    def write(self) -> None:
        self.path.write_text(json.dumps(jsonable(self.info), indent=2))


def write_config(out: Path, cfg: Any) -> None:
    """The resolved config (defaults filled in): what actually ran."""
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))


def write_metrics(out: Path, result: dict[str, Any]) -> None:
    (out / "metrics.json").write_text(json.dumps(jsonable(result), indent=2))
