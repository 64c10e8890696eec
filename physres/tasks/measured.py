"""States measured elsewhere: a lab's own instrument files → state matrices → readouts.

Two layouts, as physical-reservoir labs keep them (PRCpy's users among them):

* **one long array with a time column**: :func:`read_state_file` reads a CSV
  (header row), an ``.npy`` (2-D; columns by index), an ``.npz`` or an HDF5
  file (keys ``states``, ``time``, ``targets``/``labels``; HDF5 needs h5py):
  rows are time steps, the state is every column that is not time or target.
* **one file per input sample**: :func:`read_sample_files` stacks each file's
  values (a spectrum, a trace) as one row, in the order given.

:func:`evaluate_states` then runs the same pipeline stages, readouts and
metrics as a driven device (:meth:`physres.tasks.Task.evaluate`). Every
refusal names the file and the line or key: mismatched lengths, runs of NaN,
a time column that goes backwards.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from physres.errors import ConfigError, DataError
from physres.tasks.base import Episode, TaskData
from physres.tasks.kinds import RegressionTask, SequenceClassificationTask

__all__ = ["StateFile", "evaluate_states", "read_sample_files", "read_state_file"]


@dataclass
class StateFile:
    """A measured state matrix ``(T, F)`` with per-step ``targets`` ``(T, K)`` or a ``label``."""

    path: Path
    states: np.ndarray
    targets: np.ndarray | None = None
    label: str | None = None
    time: np.ndarray | None = None

    def split(self, fraction: float) -> tuple[StateFile, StateFile]:
        """The first ``1 - fraction`` of the rows and the last ``fraction``: train, test."""
        if not 0 < fraction < 1:
            raise DataError(f"{self.path}: split fraction must be in (0, 1), got {fraction}")
        cut = len(self.states) - max(1, round(fraction * len(self.states)))

        def part(sl: slice) -> StateFile:
            pick = lambda a: None if a is None else a[sl]
            return StateFile(
                self.path, self.states[sl], pick(self.targets), self.label, pick(self.time)
            )

        return part(slice(0, cut)), part(slice(cut, None))


def _nan_runs(x: np.ndarray, where: str, names: Sequence[str], row0: int) -> None:
    """Refuse NaN/inf, naming the column and the first run's rows (``row0``: first row's line)."""
    bad = ~np.isfinite(x)
    if not bad.any():
        return
    col = int(np.argwhere(bad.any(axis=0))[0][0])
    rows = np.flatnonzero(bad[:, col])
    end = rows[0]
    while end + 1 < len(x) and bad[end + 1, col]:
        end += 1
    name = names[col] if col < len(names) else str(col)
    raise DataError(
        f"{where}: column {name!r} is NaN or infinite on rows {row0 + rows[0]}-{row0 + end} "
        f"({end - rows[0] + 1} in a run); fill or cut them before fitting"
    )


def _check_time(t: np.ndarray, where: str, row0: int, unit: str) -> None:
    d = np.diff(t)
    if (d <= 0).any():
        i = int(np.flatnonzero(d <= 0)[0]) + 1
        how = "goes backwards" if d[i - 1] < 0 else "repeats"
        raise DataError(
            f"{where} {unit} {row0 + i}: time {t[i]:g} {how} after {t[i - 1]:g}; "
            f"expected strictly increasing time"
        )


def _select(names: list[str], cols: Sequence[str | int], where: str) -> list[int]:
    out = []
    for c in cols:
        if isinstance(c, int) and not isinstance(c, bool):
            if not 0 <= c < len(names):
                raise DataError(f"{where}: column {c} does not exist ({len(names)} columns)")
            out.append(c)
        elif c in names:
            out.append(names.index(c))
        else:
            raise DataError(f"{where}: no column {c!r}; columns are {names}")
    return out


def read_state_file(
    path: str | Path,
    *,
    time: str | int | None = "time",
    target: Sequence[str | int] = ("target",),
    states: Sequence[str | int] | None = None,
) -> StateFile:
    """One long measured array: rows are time steps; see the module docstring.

    ``time``/``target``/``states`` name CSV columns (or indices for ``.npy``);
    a named ``time`` column that is missing is simply not used; ``target=()``
    reads states only. ``.npz``/``.h5`` files use the keys ``states``,
    ``time`` and ``targets`` (or ``labels``: one label for the file).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such state file")
    suffix = p.suffix.lower()
    if suffix in (".npz", ".h5", ".hdf5"):
        return _read_keyed(p)
    if suffix == ".csv":
        with p.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        if len(rows) < 2:
            raise DataError(f"{p}: expected a header row and data rows")
        names = [n.strip() for n in rows[0]]
        for i, r in enumerate(rows[1:], 2):
            if len(r) != len(names):
                raise DataError(f"{p}:{i}: {len(r)} fields, the header has {len(names)}")
        try:
            a = np.array(
                [[float(v) if v.strip() else np.nan for v in r] for r in rows[1:]], dtype=np.float64
            )
        except ValueError as e:
            raise DataError(f"{p}: a field is not a number ({e})") from None
        row0, unit = 2, "line"
    elif suffix == ".npy":
        a = np.load(p, allow_pickle=False).astype(np.float64)
        if a.ndim != 2:
            raise DataError(f"{p}: expected a 2-D array (rows = time steps), got {a.shape}")
        names = [str(i) for i in range(a.shape[1])]
        row0, unit = 0, "row"
    else:
        raise DataError(f"{p}: unknown state file type {suffix!r}; use .csv, .npy, .npz or .h5")
    t_i = None
    if time is not None and (time in names or isinstance(time, int)):
        t_i = _select(names, [time], str(p))[0]
    y_i = _select(names, list(target), str(p))
    used = set(y_i) | ({t_i} if t_i is not None else set())
    s_i = (
        _select(names, list(states), str(p))
        if states is not None
        else [i for i in range(len(names)) if i not in used]
    )
    if not s_i:
        raise DataError(f"{p}: no state columns left in {names}")
    _nan_runs(a[:, s_i + y_i], str(p), [names[i] for i in s_i + y_i], row0)
    t = None
    if t_i is not None:
        t = a[:, t_i]
        _check_time(t, f"{p}:" if unit == "line" else f"{p}", row0, unit)
    return StateFile(p, a[:, s_i], a[:, y_i] if y_i else None, None, t)


def _read_keyed(p: Path) -> StateFile:
    if p.suffix.lower() == ".npz":
        with np.load(p, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    else:
        try:
            import h5py
        except ImportError as e:
            raise DataError(f"{p}: reading HDF5 needs h5py (pip install h5py)") from e
        with h5py.File(p, "r") as f:
            d = {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)}
    if "states" not in d:
        raise DataError(f"{p}: no key 'states'; keys are {sorted(d)}")
    s = np.asarray(d["states"], dtype=np.float64)
    s = s[:, None] if s.ndim == 1 else s.reshape(len(s), -1)
    for key in ("time", "targets"):
        if key in d and len(d[key]) != len(s):
            raise DataError(
                f"{p}: key {key!r} has {len(d[key])} rows, key 'states' has {len(s)}; "
                f"expected one per time step"
            )
    _nan_runs(s, f"{p}: key 'states'", [str(i) for i in range(s.shape[1])], 0)
    t = None
    if "time" in d:
        t = np.asarray(d["time"], dtype=np.float64).reshape(-1)
        _check_time(t, f"{p}: key 'time'", 0, "row")
    y = None
    if "targets" in d:
        y = np.asarray(d["targets"], dtype=np.float64).reshape(len(s), -1)
        _nan_runs(y, f"{p}: key 'targets'", [str(i) for i in range(y.shape[1])], 0)
    label = None
    if "labels" in d:
        lab = d["labels"]
        label = lab.decode() if isinstance(lab, bytes) else str(np.asarray(lab).reshape(-1)[0])
    return StateFile(p, s, y, label, t)


def read_sample_files(paths: Sequence[str | Path], targets: Any = None) -> StateFile:
    """One file per input sample (``.csv`` one column or row, ``.npy``): one row each.

    ``targets`` ``(n_files,)`` or ``(n_files, K)``: the target of each sample.
    """
    if not paths:
        raise DataError("read_sample_files: no files given")
    rows, width = [], None
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise DataError(f"{p}: no such sample file")
        if p.suffix.lower() == ".npy":
            v = np.load(p, allow_pickle=False).astype(np.float64).reshape(-1)
        else:
            try:
                v = np.loadtxt(p, delimiter=",", dtype=np.float64, ndmin=1).reshape(-1)
            except ValueError as e:
                raise DataError(f"{p}: {e}") from None
        if width is not None and len(v) != width[0]:
            raise DataError(
                f"{p}: {len(v)} values, {width[1]} has {width[0]}; every sample file must "
                f"hold the same number"
            )
        width = width or (len(v), p)
        _nan_runs(v[:, None], str(p), ["value"], 0)
        rows.append(v)
    y = None
    if targets is not None:
        y = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
        if len(y) != len(rows):
            raise DataError(f"read_sample_files: {len(y)} targets for {len(rows)} sample files")
    return StateFile(Path(paths[0]).parent, np.vstack(rows), y)


class _Measured(RegressionTask):
    name = "measured"

    def generate(self, seed: int = 0) -> TaskData:
        raise ConfigError("measured states are read from files, not generated")


class _MeasuredClasses(SequenceClassificationTask):
    name = "measured_classes"

    def generate(self, seed: int = 0) -> TaskData:
        raise ConfigError("measured states are read from files, not generated")


def _episode(f: StateFile, problem: str, classes: list[str]) -> Episode:
    u = np.zeros((len(f.states), 1))
    if problem == "classification":
        if f.label is None:
            raise DataError(f"{f.path}: classification needs a label for this file")
        return Episode(u=u, y=classes.index(f.label), meta={"path": str(f.path)})
    if f.targets is None:
        raise DataError(f"{f.path}: regression needs target columns; none were read")
    return Episode(u=u, y=f.targets, meta={"path": str(f.path)})


def evaluate_states(
    train: Sequence[StateFile],
    test: Sequence[StateFile],
    *,
    problem: Literal["regression", "classification"] = "regression",
    washout: int = 0,
    alpha: float = 1e-6,
    features: Sequence[Any] = (),
    readout: Any = None,
) -> dict[str, float]:
    """Fit on ``train`` states, score ``test`` states: the metrics a driven run reports.

    ``features``/``readout`` are the stage specs of a run config's
    ``features:``/``readout:`` sections.
    """
    classes = sorted({f.label for f in [*train, *test] if f.label is not None})
    cls = _MeasuredClasses if problem == "classification" else _Measured
    task = cls(washout=washout, alpha=alpha)
    tr = [_episode(f, problem, classes) for f in train]
    te = [_episode(f, problem, classes) for f in test]
    n_out = 1 if problem == "classification" else tr[0].y.shape[1]  # type: ignore[union-attr]
    data = TaskData(tr, te, washout, 1, n_out, problem=problem, classes=tuple(classes))
    s_tr, s_te = [f.states for f in train], [f.states for f in test]
    pipe = task.pipeline(data, s_tr, features=features, readout=readout)
    return task.evaluate(s_tr, tr, s_te, te, data, pipeline=pipe)
