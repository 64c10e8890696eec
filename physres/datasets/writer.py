"""Append episodes to a dataset folder, one atomic file each.

:class:`DemoRecorder` gathers one episode step by step;
:class:`DatasetWriter` writes it (``episodes/ep_NNNNNN.npz`` via temp file +
rename) and appends its line to ``index.jsonl``. Opening a folder that
already holds a dataset appends to it, after checking that the action spec is
the same: a policy must never learn from two meanings of one action vector.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physres.datasets.format import (
    DATASET_FILE,
    EPISODE_DIR,
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_FILE,
    DatasetError,
    atomic_write_bytes,
    episode_name,
    episode_number,
    read_json,
    sha256_file,
    to_jsonable,
)

__all__ = ["DatasetWriter", "DemoRecorder"]


@dataclass
class DemoRecorder:
    """Per-step buffers of one episode: observations, executed and expert actions.

    ``add`` takes the observation the policy saw, the action actually executed
    (after noise and the env's clipping), the clean expert action (the label a
    learner should imitate, also on perturbed steps) and whether noise was
    injected on this step.
    """

    _obs: dict[str, list[np.ndarray]] = field(default_factory=dict)
    _cols: dict[str, list[Any]] = field(default_factory=dict)
    prompt: str = ""

    def add(
        self,
        obs: Mapping[str, Any],
        *,
        action: np.ndarray,
        expert_action: np.ndarray,
        perturbed: bool,
        reward: float = 0.0,
        success: bool = False,
    ) -> None:
        for key, value in obs.items():
            if isinstance(value, str):
                self.prompt = self.prompt or value
                continue
            self._obs.setdefault(key, []).append(np.asarray(value))
        for key, value in (
            ("action", np.asarray(action, dtype=np.float32)),
            ("expert_action", np.asarray(expert_action, dtype=np.float32)),
            ("perturbed", bool(perturbed)),
            ("reward", float(reward)),
            ("success", bool(success)),
        ):
            self._cols.setdefault(key, []).append(value)

    def __len__(self) -> int:
        return len(self._cols.get("action", []))

    def arrays(self) -> dict[str, np.ndarray]:
        """``obs.<key>`` (T, ...) plus action, expert_action (T, A) float32, flags and rewards."""
        out = {f"obs.{k}": np.stack(v) for k, v in self._obs.items()}
        out["action"] = np.stack(self._cols["action"]).astype(np.float32)
        out["expert_action"] = np.stack(self._cols["expert_action"]).astype(np.float32)
        out["perturbed"] = np.array(self._cols["perturbed"], dtype=bool)
        out["reward"] = np.array(self._cols["reward"], dtype=np.float32)
        out["success"] = np.array(self._cols["success"], dtype=bool)
        return out


class DatasetWriter:
    """Create (or append to) a dataset folder; ``write_episode`` is atomic per episode.

    One writer per folder at a time: opening one removes temporary files left
    by a writer that died mid-episode (``removed_temp`` lists them).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        action_spec: Mapping[str, Any],
        info: Mapping[str, Any] | None = None,
        compress: bool = True,
    ) -> None:
        self.root = Path(root)
        self.compress = compress
        self.action_spec = to_jsonable(dict(action_spec))
        (self.root / EPISODE_DIR).mkdir(parents=True, exist_ok=True)
        head = self.root / DATASET_FILE
        if head.exists():
            existing = read_json(head)
            if existing.get("format") != FORMAT_NAME:
                raise DatasetError(
                    f"{head}: format {existing.get('format')!r} is not {FORMAT_NAME}"
                )
            if existing.get("version") != FORMAT_VERSION:
                raise DatasetError(
                    f"{head}: version {existing.get('version')} cannot be appended to by a "
                    f"version {FORMAT_VERSION} writer"
                )
            if existing.get("action_spec") != self.action_spec:
                raise DatasetError(
                    f"{head}: the dataset's action spec differs from this collection's; "
                    "write to a new folder"
                )
            self.header = existing
        else:
            self.header = {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "action_spec": self.action_spec,
                "info": to_jsonable(dict(info or {})),
            }
            atomic_write_bytes(head, json.dumps(self.header, indent=2).encode())
        # a temporary file is a write that never finished (one writer per folder): drop it
        self.removed_temp = []
        for tmp in sorted((self.root / EPISODE_DIR).glob("*.tmp")):
            tmp.unlink()
            self.removed_temp.append(tmp.name)
        self._next = self._first_free_index()

    def _first_free_index(self) -> int:
        used = [
            n
            for n in (episode_number(p.name) for p in (self.root / EPISODE_DIR).iterdir())
            if n is not None
        ]
        return max(used, default=-1) + 1

    @property
    def next_index(self) -> int:
        return self._next

    def write_episode(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> dict:
        """Write one episode file atomically, then append its index line; returns that line."""
        lengths = {k: len(v) for k, v in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise DatasetError(f"episode arrays have different lengths: {lengths}")
        idx = self._next
        name = episode_name(idx)
        full_meta = to_jsonable(
            {
                **meta,
                "episode": idx,
                "length": next(iter(lengths.values())),
                "format_version": FORMAT_VERSION,
                "action_spec": self.action_spec,
            }
        )
        buf = io.BytesIO()
        save = np.savez_compressed if self.compress else np.savez
        save(
            buf,
            **{k: np.ascontiguousarray(v) for k, v in arrays.items()},
            meta=np.array(json.dumps(full_meta)),
        )
        path = self.root / EPISODE_DIR / name
        atomic_write_bytes(path, buf.getvalue())
        line = {k: v for k, v in full_meta.items() if k != "action_spec"}
        line.update(
            file=f"{EPISODE_DIR}/{name}", bytes=path.stat().st_size, sha256=sha256_file(path)
        )
        with open(self.root / INDEX_FILE, "a") as f:
            f.write(json.dumps(line) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._next = idx + 1
        return line
