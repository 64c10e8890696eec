"""What a recording holds, in one pass: topics, counts, layouts, time span, rates, damage.

This is what ``physres info FILE.mcap`` prints. It reads through
:func:`~physres.bus.record.read_recording`, so damage is counted the same way
everywhere and a damaged file still describes everything that survived.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from physres.bus.record import read_recording

__all__ = ["summarize"]


def _layout(msg: Any) -> dict[str, dict[str, Any]]:
    return {
        name: {"dtype": str(a.dtype), "shape": list(a.shape), "units": msg.units.get(name, "")}
        for name, a in msg.arrays.items()
    }


def summarize(path: str | Path) -> dict[str, Any]:
    """A JSON-able description of the recording at ``path`` (raises RecordingError if none)."""
    info, messages = read_recording(path)
    topics: dict[str, dict[str, Any]] = {}
    last_seq: dict[str, int] = {}
    for log_time, msg in messages:
        t = topics.get(msg.topic)
        if t is None:
            t = topics[msg.topic] = {
                "count": 0,
                "first_ns": log_time,
                "last_ns": log_time,
                "arrays": _layout(msg),
                "layout_changes": 0,
                "seq_gaps": 0,
            }
        elif _layout(msg) != t["arrays"]:
            t["layout_changes"] += 1
        t["count"] += 1
        t["first_ns"] = min(t["first_ns"], log_time)
        t["last_ns"] = max(t["last_ns"], log_time)
        prev = last_seq.get(msg.topic)
        if prev is not None and msg.seq > prev + 1:
            t["seq_gaps"] += msg.seq - prev - 1  # published but never recorded
        last_seq[msg.topic] = msg.seq
    for t in topics.values():
        span = (t["last_ns"] - t["first_ns"]) / 1e9
        t["rate_hz"] = (t["count"] - 1) / span if span > 0 else None
    start = min((t["first_ns"] for t in topics.values()), default=None)
    end = max((t["last_ns"] for t in topics.values()), default=None)
    return {
        "path": str(info.path),
        "bytes": info.path.stat().st_size,
        "messages": sum(t["count"] for t in topics.values()),
        "start_ns": start,
        "end_ns": end,
        "duration_s": (end - start) / 1e9 if start is not None and end is not None else 0.0,
        "topics": dict(sorted(topics.items())),
        "damaged": info.damaged,
        "damage": [asdict(d) for d in info.damage],
        "corrupt": info.corrupt,
        "lost": info.lost,
        "truncated": info.truncated,
        "end_reason": info.end_reason,
        "metadata": info.metadata,
    }
