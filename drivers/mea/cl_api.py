"""Loading Cortical Labs' ``cl`` module: the real CL1 API or its simulator, cl-sdk.

Why a module of its own: cl-sdk 0.1.0 (the newest for Python 3.11) runs code
at ``import cl`` that picks the recording it will replay. Without
``CL_MOCK_REPLAY_PATH`` naming an existing file it generates a random one
through ``TemporaryDirectory(delete=...)``, which only Python 3.12 has, so the
import raises ``TypeError``. The replay file is therefore chosen here, before
the import, and can be switched between sessions (the simulator reads
``cl._CL_MOCK_REPLAY_PATH`` on every ``cl.open()``).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from physres.errors import ConfigError, DeviceError

__all__ = ["is_simulator", "load_cl", "use_replay"]

_ENV = "CL_MOCK_REPLAY_PATH"
_INSTALL = "install the `cl1` extra (pip install 'physres[cl1]': cl-sdk, licence CC BY-NC 4.0)"


def is_simulator(cl: ModuleType) -> bool:
    """cl-sdk (the simulator) rather than a CL1's own ``cl``: it keeps a replay path."""
    return hasattr(cl, "_CL_MOCK_REPLAY_PATH")


def _replay_file(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"cl-sdk replay file {p} does not exist; write one with "
            f"`physres mea replay-file {p} --seconds 10`"
        )
    return p.resolve()


def load_cl(replay: str | Path | None = None) -> ModuleType:
    """Import ``cl``; with cl-sdk, ``replay`` (or ``$CL_MOCK_REPLAY_PATH``) is what it replays.

    ``replay=None`` on a first import with no variable set imports against a
    placeholder (``os.devnull``) and leaves no replay chosen: opening a
    session then needs :func:`use_replay`. Writing replay files needs none.
    """
    wanted = _replay_file(replay) if replay is not None else None
    cl = sys.modules.get("cl")
    if cl is None:
        env = os.environ.get(_ENV)
        placeholder = wanted is None and not (env and Path(env).exists())
        target = os.devnull if placeholder else str(wanted or env)
        os.environ[_ENV] = target
        try:
            cl = importlib.import_module("cl")
        except ModuleNotFoundError as e:
            if e.name != "cl":
                raise
            raise DeviceError(f"the Cortical Labs `cl` API is not installed: {_INSTALL}") from e
        except TypeError as e:  # cl-sdk's 3.12-only fallback, should the variable be ignored
            raise DeviceError(
                f"`import cl` failed ({e}): cl-sdk 0.1.0 on Python "
                f"{sys.version_info.major}.{sys.version_info.minor} needs {_ENV} to name an "
                "existing replay file; write one with `physres mea replay-file OUT.h5`"
            ) from e
        finally:
            if env is None:
                os.environ.pop(_ENV, None)
            else:
                os.environ[_ENV] = env
        if placeholder and is_simulator(cl):
            cl._CL_MOCK_REPLAY_PATH = None  # type: ignore[attr-defined]
    if wanted is not None:
        use_replay(cl, wanted)
    return cl


def use_replay(cl: ModuleType, path: str | Path) -> Path:
    """Point cl-sdk at ``path`` for the next ``cl.open()``; refused on a real CL1."""
    if not is_simulator(cl):
        raise ConfigError(
            f"replay {path}: this `cl` is a CL1's own API, not cl-sdk; replay files are the "
            "simulator's (remove `replay:` from the config)"
        )
    p = _replay_file(path)
    cl._CL_MOCK_REPLAY_PATH = str(p)  # type: ignore[attr-defined]
    return p
