"""Open a dataset folder: every complete episode, and a report of the broken ones.

Opening never fails because one episode is damaged: a truncated or corrupt
file, a torn index line or a temporary file left by an interrupted write is
listed in :attr:`DemoDataset.broken` with the reason, and every other episode
loads. An episode file that is complete but missing from the index (the
process died between rename and index append) is verified in full and kept.
"""

from __future__ import annotations

import json
import zipfile
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from physres.datasets.format import (
    DATASET_FILE,
    EPISODE_DIR,
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_FILE,
    DatasetError,
    episode_number,
    read_json,
    sha256_file,
)

__all__ = ["BrokenDemo", "Demo", "DemoDataset", "DemoInfo"]


@dataclass(frozen=True)
class DemoInfo:
    """Where one complete episode lives and what it is (task, prompt, seed, success...)."""

    index: int
    path: Path
    meta: dict[str, Any]

    @property
    def task(self) -> str:
        return str(self.meta.get("task", ""))

    @property
    def prompt(self) -> str:
        return str(self.meta.get("prompt", ""))

    @property
    def success(self) -> bool:
        return bool(self.meta.get("success", False))

    @property
    def length(self) -> int:
        return int(self.meta.get("length", 0))

    @property
    def seed(self) -> int | None:
        return self.meta.get("seed")


@dataclass(frozen=True)
class BrokenDemo:
    """A file or index line that could not be loaded, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Demo:
    """One loaded demonstration (not a reservoir ``physres.tasks.Episode``): ``arrays``
    (``obs.rgb``, ``action``, ``expert_action``...) and meta."""

    info: DemoInfo
    arrays: dict[str, np.ndarray]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def __len__(self) -> int:
        return len(self.arrays["action"])

    @property
    def prompt(self) -> str:
        return self.info.prompt


def _load_npz(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read every member (so zip CRCs are checked) without ever unpickling."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    return arrays, meta


class DemoDataset:
    """A demonstration dataset on disk; iterate complete episodes or draw training batches.

    ``verify="checksum"`` (default) compares each indexed file's size and
    SHA-256 with its index line; ``"full"`` also decompresses every episode;
    ``"none"`` trusts the index.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        verify: Literal["checksum", "full", "none"] = "checksum",
        cache_episodes: int = 32,
    ) -> None:
        self.root = Path(root)
        self.header = read_json(self.root / DATASET_FILE)
        if self.header.get("format") != FORMAT_NAME:
            raise DatasetError(
                f"{self.root / DATASET_FILE}: format {self.header.get('format')!r}, "
                f"expected {FORMAT_NAME!r}"
            )
        version = self.header.get("version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise DatasetError(
                f"{self.root}: dataset format version {version} is newer than this reader "
                f"(version {FORMAT_VERSION}); upgrade physres"
            )
        self.action_spec: dict[str, Any] = self.header["action_spec"]
        self.broken: list[BrokenDemo] = []
        self.episodes: list[DemoInfo] = self._scan(verify)
        self._cache: OrderedDict[int, Demo] = OrderedDict()
        self._cache_size = max(1, cache_episodes)

    # ---------------------------------------------------------------- scan
    def _scan(self, verify: str) -> list[DemoInfo]:
        indexed: dict[str, dict[str, Any]] = {}
        index_path = self.root / INDEX_FILE
        if index_path.exists():
            for n, raw in enumerate(index_path.read_text().splitlines(), start=1):
                if not raw.strip():
                    continue
                try:
                    line = json.loads(raw)
                    indexed[Path(line["file"]).name] = line
                except (json.JSONDecodeError, KeyError, TypeError):
                    reason = f"index line {n} is torn or malformed: {raw[:60]!r}"
                    self.broken.append(BrokenDemo(index_path, reason))
        folder = self.root / EPISODE_DIR
        found: list[DemoInfo] = []
        files = sorted(folder.iterdir()) if folder.is_dir() else []
        for path in files:
            if path.name.endswith(".tmp"):
                self.broken.append(BrokenDemo(path, "interrupted write (temporary file)"))
                continue
            number = episode_number(path.name)
            if number is None:
                continue
            line = indexed.pop(path.name, None)
            problem, meta = self._verify(path, line, verify)
            if problem:
                self.broken.append(BrokenDemo(path, problem))
            else:
                found.append(DemoInfo(number, path, meta))
        for name, line in sorted(indexed.items()):
            self.broken.append(
                BrokenDemo(
                    folder / name,
                    f"listed in the index (episode {line.get('episode')}) but the file is missing",
                )
            )
        return sorted(found, key=lambda e: e.index)

    def _verify(
        self, path: Path, line: dict[str, Any] | None, verify: str
    ) -> tuple[str | None, dict[str, Any]]:
        if line is not None and verify != "none":
            size = path.stat().st_size
            if size != line.get("bytes"):
                return (
                    f"size {size} B, the index says {line.get('bytes')} B "
                    "(truncated or overwritten)"
                ), {}
            if line.get("sha256") and sha256_file(path) != line["sha256"]:
                return "SHA-256 differs from the index (corrupt)", {}
        if line is not None and verify != "full":
            return None, line
        try:  # not indexed (crash before the index append) or full verification asked
            _, meta = _load_npz(path)
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
            return f"unreadable episode file: {type(e).__name__}: {e}", {}
        return None, meta

    # ------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.episodes)

    def __iter__(self) -> Iterator[Demo]:
        for i in range(len(self.episodes)):
            yield self.episode(i)

    @property
    def n_steps(self) -> int:
        return sum(e.length for e in self.episodes)

    @property
    def tasks(self) -> list[str]:
        return sorted({e.task for e in self.episodes})

    def episode(self, i: int) -> Demo:
        """The ``i``-th complete episode (position in :attr:`episodes`), loaded and cached."""
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        info = self.episodes[i]
        try:
            arrays, meta = _load_npz(info.path)
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
            raise DatasetError(f"{info.path}: cannot load episode {info.index}: {e}") from e
        ep = Demo(DemoInfo(info.index, info.path, {**info.meta, **meta}), arrays)
        self._cache[i] = ep
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return ep

    def summary(self) -> list[dict[str, Any]]:
        """Per task: episodes, successes, steps, fraction of perturbed steps (from the index)."""
        rows: dict[str, dict[str, Any]] = {}
        for e in self.episodes:
            r = rows.setdefault(
                e.task,
                {"task": e.task, "episodes": 0, "successes": 0, "steps": 0, "perturbed_steps": 0},
            )
            r["episodes"] += 1
            r["successes"] += int(e.success)
            r["steps"] += e.length
            r["perturbed_steps"] += int(e.meta.get("perturbed_steps", 0))
        return [rows[k] for k in sorted(rows)]

    # ------------------------------------------------------------ batches
    def batches(
        self,
        batch_size: int,
        *,
        history: int = 1,
        shuffle: bool = True,
        seed: int = 0,
        label: str = "expert_action",
        episodes: Sequence[int] | None = None,
        drop_last: bool = False,
        episodes_per_chunk: int = 16,
    ) -> Iterator[dict[str, Any]]:
        """Training batches of numpy arrays (``torch.from_numpy`` takes them as they are).

        Each batch holds ``obs.<key>`` of shape ``(B, history, ...)`` (``(B, ...)``
        when ``history == 1``; frames before an episode's start repeat its first
        frame and ``valid`` marks the real ones), ``action`` ``(B, A)`` float32
        from ``label`` (the expert's clean action by default: on perturbed steps
        it is the correction), ``executed_action``, ``perturbed``, ``episode``
        and ``t`` (int64), and ``prompt``/``task`` (numpy string arrays).

        Shuffling draws episodes in random order ``episodes_per_chunk`` at a
        time and shuffles the steps within that chunk, so memory stays bounded
        by the chunk while batches still mix many episodes.
        """
        if batch_size < 1 or history < 1:
            raise ValueError(f"batch_size and history must be >= 1, got {batch_size}, {history}")
        rng = np.random.default_rng(seed)
        chosen = range(len(self.episodes)) if episodes is None else episodes
        order = np.array(list(chosen), dtype=int)
        if shuffle:
            rng.shuffle(order)
        pending: list[tuple[int, int]] = []
        for start in range(0, len(order), max(1, episodes_per_chunk)):
            chunk = order[start : start + episodes_per_chunk]
            samples = [(int(e), t) for e in chunk for t in range(self.episodes[e].length)]
            if shuffle:
                perm = rng.permutation(len(samples))
                samples = [samples[k] for k in perm]
            pending += samples
            while len(pending) >= batch_size:
                yield self.gather(pending[:batch_size], history, label)
                pending = pending[batch_size:]
        if pending and not drop_last:
            yield self.gather(pending, history, label)

    def gather(self, samples: list[tuple[int, int]], history: int, label: str) -> dict[str, Any]:
        """One batch from ``(episode position, t)`` pairs (see :meth:`batches` for the keys)."""
        first = self.episode(samples[0][0])
        obs_keys = [k for k in first.arrays if k.startswith("obs.")]
        out: dict[str, list[Any]] = {
            k: []
            for k in (
                *obs_keys,
                "action",
                "executed_action",
                "perturbed",
                "episode",
                "t",
                "valid",
                "prompt",
                "task",
            )
        }
        for e, t in samples:
            ep = self.episode(e)
            steps = np.arange(t - history + 1, t + 1)
            idx = np.clip(steps, 0, None)
            for k in obs_keys:
                v = ep.arrays[k][idx]
                out[k].append(v[0] if history == 1 else v)
            out["valid"].append(steps >= 0)
            out["action"].append(ep.arrays[label][t])
            out["executed_action"].append(ep.arrays["action"][t])
            out["perturbed"].append(ep.arrays["perturbed"][t])
            out["episode"].append(ep.info.index)
            out["t"].append(t)
            out["prompt"].append(ep.prompt)
            out["task"].append(ep.info.task)
        batch: dict[str, Any] = {k: np.stack(out[k]) for k in obs_keys}
        batch["action"] = np.stack(out["action"]).astype(np.float32)
        batch["executed_action"] = np.stack(out["executed_action"]).astype(np.float32)
        batch["perturbed"] = np.array(out["perturbed"], dtype=bool)
        batch["episode"] = np.array(out["episode"], dtype=np.int64)
        batch["t"] = np.array(out["t"], dtype=np.int64)
        batch["valid"] = np.stack(out["valid"]) if history > 1 else np.ones(len(samples), bool)
        batch["prompt"] = np.array(out["prompt"])
        batch["task"] = np.array(out["task"])
        return batch

    def sample_index(self) -> list[tuple[int, int]]:
        """Every ``(episode position, t)`` pair: the map a random-access loader indexes."""
        return [(e, t) for e, info in enumerate(self.episodes) for t in range(info.length)]
