"""One topic of a recording as one table with timestamps: a NumPy ``.npy`` or a CSV file.

This is ``physres export topic``. The ``.npy`` holds a structured array, one row per
message: ``log_time``, ``t_host``, ``t_dev`` (ns) and ``seq``, then one field per
array in the message with the array's own dtype and shape (``np.load`` needs no
pickle). The CSV has the same columns with each array flattened
(``state[0]``, ``state[1]``...), times as exact integers. Damaged records are
skipped by the reader and the result says how many; the output is written to
a temporary name and renamed, so a half-written export never looks complete.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from physres.bus.record import Recording, read_recording
from physres.errors import ConfigError, RecordingError

__all__ = ["FORMATS", "Exported", "export"]

FORMATS = (".npy", ".csv")
_TIMES = (("log_time", "<i8"), ("t_host", "<i8"), ("t_dev", "<i8"), ("seq", "<i8"))


@dataclass
class Exported:
    """What :func:`export` wrote and what it had to leave out."""

    out: Path
    rows: int
    #: messages on the topic whose arrays differ in name, dtype or shape from the first's
    mismatched: int
    info: Recording


def _topics(path: Path) -> list[str]:
    _, messages = read_recording(path, raw=True)
    return sorted({bytes(frames[0]).decode(errors="replace") for _, frames in messages})


def _no_rows(info: Recording, topic: str) -> RecordingError:
    known = _topics(info.path)
    damage = f"; the file is {info.end_reason}" if info.is_damaged else ""
    if topic in known:  # its messages are there but none decodes
        return RecordingError(f"{info.path}: no intact message on {topic!r}{damage}")
    near = difflib.get_close_matches(topic, known, n=1, cutoff=0.5)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    listing = (", ".join(known[:20]) + (" ..." if len(known) > 20 else "")) or "none"
    return RecordingError(f"{info.path} has no topic {topic!r}{hint} (topics: {listing}){damage}")


def export(path: str | Path, topic: str, out: str | Path) -> Exported:
    """Write every good message on ``topic`` (exact name) to ``out`` (.npy or .csv)."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ConfigError(f"export to {out}: expected a file ending in {' or '.join(FORMATS)}")
    info, messages = read_recording(path, [topic])
    rows: list[tuple[Any, ...]] = []
    layout: list[tuple[str, np.dtype, tuple[int, ...]]] | None = None
    mismatched = 0
    for log_time, msg in messages:
        if msg.topic != topic:
            continue  # a longer topic that shares the prefix
        here = [(n, a.dtype, a.shape) for n, a in msg.arrays.items()]
        if layout is None:
            layout = here
        elif here != layout:
            mismatched += 1
            continue
        rows.append((log_time, msg.t_host, msg.t_dev, msg.seq, *msg.arrays.values()))
    if layout is None:
        raise _no_rows(info, topic)
    if out.is_dir():
        raise RecordingError(f"export to {out}: is a directory; name the file to write")
    tmp = out.with_name(f".{out.name}.partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".npy":
            _write_npy(tmp, rows, layout)
        else:
            _write_csv(tmp, rows, layout)
        os.replace(tmp, out)
    except OSError as e:
        raise RecordingError(f"export to {out}: cannot write it: {e.strerror or e}") from None
    finally:
        with contextlib.suppress(OSError):  # absent, or its folder could not be made
            tmp.unlink()
    return Exported(out, len(rows), mismatched, info)


def _write_npy(
    tmp: Path, rows: list[tuple[Any, ...]], layout: list[tuple[str, np.dtype, tuple[int, ...]]]
) -> None:
    names = {n for n, _, _ in layout}
    clash = names & {n for n, _ in _TIMES}
    if clash:
        raise RecordingError(f"array names {sorted(clash)} clash with the time columns")
    dt = np.dtype([*_TIMES, *((n, d, s) for n, d, s in layout)])
    table = np.zeros(len(rows), dt)
    for i, row in enumerate(rows):
        table[i] = row
    with open(tmp, "wb") as f:
        np.save(f, table, allow_pickle=False)


def _write_csv(
    tmp: Path, rows: list[tuple[Any, ...]], layout: list[tuple[str, np.dtype, tuple[int, ...]]]
) -> None:
    head = [n for n, _ in _TIMES]
    for name, _, shape in layout:
        n = int(np.prod(shape))
        head += [name] if shape == () else [f"{name}[{j}]" for j in range(n)]
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(head)
        for row in rows:
            cells: list[Any] = list(row[:4])
            for a in row[4:]:
                cells += np.asarray(a).reshape(-1).tolist()
            w.writerow(cells)
