"""Time-series data sets from files: sktime ``.ts`` (UCR/UEA), CSV and NumPy.

Each reader returns a :class:`Sequences`: one ``(T, D)`` array per sequence,
with a class label per sequence or per-step targets, and optionally a group
(a speaker, a session) per sequence. Every refusal is one line naming the
file, the line (or key) and what was expected, raised before any work starts.

Formats
-------
``.ts``
    sktime's text format: ``#`` comments, ``@`` header lines (``@problemName``,
    ``@timeStamps``, ``@univariate``/``@dimensions``, ``@equalLength``,
    ``@classLabel true L1 L2 ...`` or ``@targetLabel``), then ``@data``: one
    sequence per line, dimensions separated by ``:``, values by ``,``, the
    label last.
``.csv``
    long form, one row per time step, a header row naming the columns: a
    ``sequence`` column (rows with the same id are one sequence, in file
    order), input columns, and either a ``label`` column (constant within a
    sequence) or ``target`` columns (per step); an optional ``group``
    column. Without a sequence column the file is one long sequence.
``.npz``
    ``inputs`` ``(N, T, D)`` (with ``lengths`` ``(N,)`` for variable
    lengths, the rest padding) or ``(T, D)`` for one series; ``labels``
    ``(N,)`` or ``targets`` ``(N, T, K)`` / ``(T, K)``; optional ``groups``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from physres.errors import DataError

__all__ = ["Sequences", "read_csv", "read_npz", "read_sequences", "read_ts"]

FORMATS = ("ts", "csv", "npz")


@dataclass
class Sequences:
    """Sequences read from one file.

    ``labels`` (one string per sequence) or ``targets`` (one ``(T, K)`` array
    per sequence) is set, not both; ``classes`` lists the declared class
    labels in order (a ``.ts`` header's) or those seen, sorted.
    """

    path: Path
    inputs: list[np.ndarray]
    labels: list[str] | None = None
    targets: list[np.ndarray] | None = None
    groups: list[str] | None = None
    classes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    @property
    def n_inputs(self) -> int:
        return int(self.inputs[0].shape[1])


def read_sequences(path: str | Path, fmt: str | None = None, **columns: object) -> Sequences:
    """Read ``path`` by ``fmt`` (default: its suffix); ``columns`` go to the CSV reader."""
    p = Path(path)
    fmt = fmt or p.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise DataError(f"{p}: unknown data format {fmt!r}; known: {', '.join(FORMATS)}")
    if not p.is_file():
        raise DataError(f"{p}: no such data file")
    if fmt == "ts":
        return read_ts(p)
    if fmt == "npz":
        return read_npz(p)
    return read_csv(p, **columns)  # type: ignore[arg-type]


def _bool(value: str, where: str) -> bool:
    v = value.lower()
    if v not in ("true", "false"):
        raise DataError(f"{where}: expected true or false, got {value!r}")
    return v == "true"


def read_ts(path: str | Path) -> Sequences:
    """Read an sktime ``.ts`` file (classification or regression labels)."""
    p = Path(path)
    header: dict[str, str] = {}
    inputs: list[np.ndarray] = []
    labels: list[str] = []
    classes: tuple[str, ...] = ()
    has_label: bool | None = None
    regression = False
    n_dims: int | None = None
    in_data = False
    with p.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.strip()
            where = f"{p}:{lineno}"
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise DataError(
                        f"{where}: expected an @ header line or @data, got {line[:40]!r}"
                    )
                key, _, rest = line[1:].partition(" ")
                key = key.lower()
                if key == "data":
                    in_data = True
                    if has_label is None:
                        raise DataError(f"{where}: @data before @classLabel or @targetLabel")
                    continue
                header[key] = rest.strip()
                if key == "classlabel":
                    words = rest.split()
                    has_label = bool(words) and _bool(words[0], where)
                    classes = tuple(words[1:])
                    if has_label and not classes:
                        raise DataError(f"{where}: @classLabel true lists no class labels")
                elif key == "targetlabel":
                    has_label = _bool(rest.strip(), where)
                    regression = has_label
                elif key == "dimensions":
                    try:
                        n_dims = int(rest)
                    except ValueError:
                        raise DataError(f"{where}: @dimensions must be an integer") from None
                elif key == "timestamps" and _bool(rest.strip(), where):
                    raise DataError(
                        f"{where}: @timeStamps true is not supported; store values only"
                    )
                continue
            parts = line.split(":")
            label = parts.pop() if has_label else None
            if n_dims is None:
                n_dims = len(parts)
            if len(parts) != n_dims:
                raise DataError(f"{where}: {len(parts)} dimensions, the file declares {n_dims}")
            dims = []
            for d, text in enumerate(parts):
                try:
                    dims.append([float(v) for v in text.split(",")])
                except ValueError:
                    raise DataError(
                        f"{where}: dimension {d} holds a value that is not a number"
                    ) from None
            lengths = {len(v) for v in dims}
            if len(lengths) != 1:
                raise DataError(
                    f"{where}: dimensions have different lengths {sorted(lengths)} (ragged row)"
                )
            x = np.asarray(dims, dtype=np.float64).T
            if not np.isfinite(x).all():
                raise DataError(f"{where}: missing or non-finite values (NaN); fill them first")
            if label is not None:
                label = label.strip()
                if not label:
                    raise DataError(f"{where}: the sequence has no label")
                if classes and not regression and label not in classes:
                    raise DataError(f"{where}: label {label!r} is not one of @classLabel {classes}")
                labels.append(label)
            inputs.append(x)
    if not in_data or not inputs:
        raise DataError(f"{p}: no @data section with sequences")
    if regression:
        try:
            targets = [np.full((len(x), 1), float(v)) for x, v in zip(inputs, labels)]
        except ValueError:
            raise DataError(f"{p}: @targetLabel true but a target is not a number") from None
        return Sequences(p, inputs, targets=targets, meta=header)
    return Sequences(
        p,
        inputs,
        labels=labels if has_label else None,
        classes=classes or tuple(sorted(set(labels))),
        meta=header,
    )


def _column_index(names: list[str], col: str | int, where: str) -> int:
    if isinstance(col, int) and not isinstance(col, bool):
        if not 0 <= col < len(names):
            raise DataError(f"{where}: column {col} does not exist ({len(names)} columns)")
        return col
    if col not in names:
        raise DataError(f"{where}: no column {col!r}; columns are {names}")
    return names.index(col)


def read_csv(
    path: str | Path,
    *,
    inputs: Sequence[str | int] | None = None,
    sequence: str | None = "sequence",
    label: str | None = "label",
    target: Sequence[str] | None = None,
    group: str | None = "group",
) -> Sequences:
    """Read a long-form CSV (a header, then one row per step); see the module docstring.

    ``inputs`` default to every column not named as sequence, label, target,
    group or ``time``. A named ``sequence``/``label``/``group`` column that
    the header lacks is simply not used (an explicit ``target`` must exist).
    """
    p = Path(path)
    with p.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise DataError(f"{p}: empty file; expected a header row")
    names = [n.strip() for n in rows[0]]
    where = f"{p}:1"
    seq_i = names.index(sequence) if sequence in names else None
    lab_i = names.index(label) if label in names else None
    grp_i = names.index(group) if group in names else None
    tgt_i = [_column_index(names, c, where) for c in (target or [])]
    if lab_i is not None and tgt_i:
        raise DataError(f"{where}: both a label column {label!r} and target columns; pick one")
    used = {i for i in (seq_i, lab_i, grp_i) if i is not None} | set(tgt_i)
    if inputs is None:
        in_i = [i for i, n in enumerate(names) if i not in used and n != "time"]
    else:
        in_i = [_column_index(names, c, where) for c in inputs]
    if not in_i:
        raise DataError(f"{where}: no input columns left in {names}")
    order: list[str] = []
    steps: dict[str, list[list[float]]] = {}
    tsteps: dict[str, list[list[float]]] = {}
    labs: dict[str, str] = {}
    grps: dict[str, str] = {}
    for lineno, row in enumerate(rows[1:], 2):
        where = f"{p}:{lineno}"
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != len(names):
            raise DataError(f"{where}: {len(row)} fields, the header has {len(names)} (ragged row)")
        sid = row[seq_i].strip() if seq_i is not None else "0"
        if sid not in steps:
            order.append(sid)
            steps[sid], tsteps[sid] = [], []
        try:
            steps[sid].append([float(row[i]) for i in in_i])
            tsteps[sid].append([float(row[i]) for i in tgt_i])
        except ValueError:
            raise DataError(f"{where}: an input or target field is not a number") from None
        if not np.isfinite(steps[sid][-1] + tsteps[sid][-1]).all():
            raise DataError(f"{where}: an input or target is NaN or infinite")
        for idx, store, what in ((lab_i, labs, "label"), (grp_i, grps, "group")):
            if idx is None:
                continue
            v = row[idx].strip()
            if not v:
                raise DataError(f"{where}: sequence {sid!r} has no {what} on this row")
            if store.setdefault(sid, v) != v:
                raise DataError(
                    f"{where}: sequence {sid!r} changes {what} from {store[sid]!r} to {v!r}"
                )
    if not order:
        raise DataError(f"{p}: no data rows after the header")
    xs = [np.asarray(steps[s], dtype=np.float64) for s in order]
    return Sequences(
        p,
        xs,
        labels=[labs[s] for s in order] if lab_i is not None else None,
        targets=[np.asarray(tsteps[s], dtype=np.float64) for s in order] if tgt_i else None,
        groups=[grps[s] for s in order] if grp_i is not None else None,
        classes=tuple(sorted(set(labs.values()))),
        names=tuple(names[i] for i in in_i),
    )


def read_npz(path: str | Path) -> Sequences:
    """Read NumPy arrays (``inputs``, ``lengths``, ``labels``/``targets``, ``groups``)."""
    p = Path(path)
    with np.load(p, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if "inputs" not in arrays:
        raise DataError(f"{p}: no key 'inputs'; keys are {sorted(arrays)}")
    x = np.asarray(arrays["inputs"], dtype=np.float64)
    one = x.ndim == 2
    if one:
        x = x[None]
    if x.ndim != 3:
        raise DataError(f"{p}: key 'inputs' must be (N, T, D) or (T, D), got {x.shape}")
    n, t_max = x.shape[:2]
    lengths = np.asarray(arrays.get("lengths", np.full(n, t_max)))
    if lengths.shape != (n,) or (lengths < 1).any() or (lengths > t_max).any():
        raise DataError(f"{p}: key 'lengths' must be ({n},) values in 1..{t_max}")
    xs = [x[i, : int(lengths[i])] for i in range(n)]
    for i, xi in enumerate(xs):
        if not np.isfinite(xi).all():
            r = int(np.argwhere(~np.isfinite(xi))[0][0])
            raise DataError(f"{p}: key 'inputs'[{i}, {r}] is NaN or infinite")
    labels = targets = groups = None
    if "labels" in arrays:
        lab = arrays["labels"]
        if lab.shape != (n,):
            raise DataError(f"{p}: key 'labels' must be ({n},), one per sequence; got {lab.shape}")
        labels = [str(v) for v in lab.tolist()]
        if any(v in ("", "nan") for v in labels):
            i = next(i for i, v in enumerate(labels) if v in ("", "nan"))
            raise DataError(f"{p}: key 'labels'[{i}] is missing")
    elif "targets" in arrays:
        y = np.asarray(arrays["targets"], dtype=np.float64)
        y = y[None] if one else y
        if y.ndim == 2:
            y = y[..., None]
        if y.shape[:2] != (n, t_max):
            raise DataError(
                f"{p}: key 'targets' must be ({n}, {t_max}, K) like inputs, got {y.shape}"
            )
        targets = [y[i, : int(lengths[i])] for i in range(n)]
    if "groups" in arrays:
        g = arrays["groups"]
        if g.shape != (n,):
            raise DataError(f"{p}: key 'groups' must be ({n},), got {g.shape}")
        groups = [str(v) for v in g.tolist()]
    return Sequences(
        p,
        xs,
        labels=labels,
        targets=targets,
        groups=groups,
        classes=tuple(sorted(set(labels))) if labels else (),
    )
