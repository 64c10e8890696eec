"""On-disk layout of a demonstration dataset, version 1 (see FORMAT.md).

Each finished episode is one ``.npz`` file written to a temporary name,
fsynced and renamed into place, so a crash never leaves a half episode under
a real name; ``index.jsonl`` gets one line per episode after its file is in
place (append-only, fsynced). The episode file is the truth (it carries its
own metadata); the index is a fast listing with a checksum of each file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from physres.errors import RecordingError

__all__ = [
    "DATASET_FILE",
    "EPISODE_DIR",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "INDEX_FILE",
    "DatasetError",
    "atomic_write_bytes",
    "episode_name",
    "episode_number",
    "read_json",
    "sha256_file",
]

FORMAT_NAME = "physres.demos"
FORMAT_VERSION = 1
DATASET_FILE = "dataset.json"
INDEX_FILE = "index.jsonl"
EPISODE_DIR = "episodes"
_EPISODE_RE = re.compile(r"^ep_(\d{6,})\.npz$")


class DatasetError(RecordingError):
    """A dataset folder is missing, of another format or version, or inconsistent."""


def episode_name(index: int) -> str:
    return f"ep_{index:06d}.npz"


def episode_number(name: str) -> int | None:
    m = _EPISODE_RE.match(name)
    return int(m.group(1)) if m else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to ``path.tmp``, fsync, rename over ``path``, fsync the folder."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable; best effort (some filesystems cannot fsync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as e:
        raise DatasetError(f"{path} does not exist: is {path.parent} a physres dataset?") from e
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: unreadable JSON: {e}") from e


def to_jsonable(x: Any) -> Any:
    """numpy scalars/arrays and tuples to plain JSON types."""
    if isinstance(x, Mapping):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x
