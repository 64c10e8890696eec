"""Writing a culture's activity as a cl-sdk replay recording (an H5 file ``cl`` reads).

cl-sdk, Cortical Labs' simulator of the CL1, replays a recording open-loop:
its samples and spikes come back through ``neurons.read``, ``neurons.loop``
and recordings exactly as a CL1 would deliver them. Its own fallback is
Poisson noise. Writing physres's simulated culture in that format gives the
``drivers.cl1`` tests, and a CL1 user's own ``cl`` scripts, a culture with
network bursts and extracellular spike shapes instead. The file is written by
cl-sdk's own ``cl.recording.Recording`` (what ``neurons.record`` uses), so it
is the vendor's format by construction, not a copy of it.

What replay cannot do: it is open-loop. Stimulation is accepted, checked
and logged (``stims`` in recordings, ``tick.analysis.stims``) but does not
change the activity that follows; closed-loop experiments need the culture
itself (``sim.mea``) or a CL1.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from physres.drivers.mea.cl_api import load_cl
from physres.errors import ConfigError, DataError

__all__ = [
    "CL_CHANNELS",
    "CL_FPS",
    "SPIKE_AFTER",
    "SPIKE_BEFORE",
    "UV_PER_UNIT",
    "Replay",
    "write_replay",
]

#: a CL1 frame: 64 channels sampled at 25 kHz, int16 at 0.195 µV per unit
CL_CHANNELS = 64
CL_FPS = 25_000
UV_PER_UNIT = 0.195
#: a spike row holds 25 samples before the peak and 50 from it (75 in all)
SPIKE_BEFORE = 25
SPIKE_AFTER = 50


@dataclass(frozen=True)
class Replay:
    """What :func:`write_replay` wrote and what it had to leave out."""

    path: Path
    frames: int
    spikes: int
    #: spikes too close to either end for their 75-sample window (cl-sdk drops them too)
    spikes_at_edges: int
    #: samples beyond int16's range at 0.195 µV per unit, clipped
    clipped: int

    @property
    def seconds(self) -> float:
        return self.frames / CL_FPS


class _Clock:
    """The frame clock ``Recording`` asks a ``Neurons`` for (cl-sdk's own generator
    passes the same shape of object)."""

    def __init__(self) -> None:
        self._timestamp = 0
        self._read_timestamp = 0
        self._recordings: list[Any] = []

    def timestamp(self) -> int:
        return self._timestamp

    def get_frames_per_second(self) -> int:
        return CL_FPS

    def advance(self, frames: int) -> None:
        self._timestamp += frames
        self._read_timestamp = self._timestamp


def _to_units(raw_uv: np.ndarray) -> tuple[np.ndarray, int]:
    """µV → int16 units of 0.195 µV, clipping (and counting) what does not fit."""
    units = np.rint(raw_uv.astype(np.float64) / UV_PER_UNIT)
    info = np.iinfo(np.int16)
    clipped = int(np.count_nonzero((units < info.min) | (units > info.max)))
    return np.clip(units, info.min, info.max).astype(np.int16), clipped


def _check_inputs(raw_uv: np.ndarray, spikes: np.ndarray) -> None:
    if raw_uv.ndim != 2 or raw_uv.shape[1] != CL_CHANNELS:
        raise DataError(
            f"replay samples: expected (frames, {CL_CHANNELS}) µV, got shape {raw_uv.shape} "
            f"(cl-sdk replays the CL1's {CL_CHANNELS} channels)"
        )
    if raw_uv.shape[0] < SPIKE_BEFORE + SPIKE_AFTER:
        raise DataError(
            f"replay samples: {raw_uv.shape[0]} frames; at least "
            f"{SPIKE_BEFORE + SPIKE_AFTER} (one spike window) needed"
        )
    if raw_uv.dtype.kind not in "fiu":
        raise DataError(f"replay samples: expected numbers (µV), got dtype {raw_uv.dtype}")
    if raw_uv.dtype.kind == "f" and not np.isfinite(raw_uv).all():
        k = np.argwhere(~np.isfinite(raw_uv))[0]
        raise DataError(f"replay samples: frame {k[0]} channel {k[1]} is {raw_uv[tuple(k)]}")
    names = spikes.dtype.names or ()
    if "t_ns" not in names or "channel" not in names:
        raise DataError(
            f"replay spikes: expected (t_ns, channel) records, got dtype {spikes.dtype}"
        )
    bad = (spikes["channel"] < 0) | (spikes["channel"] >= CL_CHANNELS)
    if bad.any():
        raise DataError(
            f"replay spikes: channel {int(spikes['channel'][bad][0])} is not one of the "
            f"{CL_CHANNELS}"
        )


def write_replay(
    path: str | Path,
    raw_uv: np.ndarray,
    spikes: np.ndarray,
    *,
    attributes: dict[str, Any] | None = None,
) -> Replay:
    """Write ``raw_uv`` (frames × 64 µV at 25 kHz) and ``spikes`` as a cl-sdk recording.

    ``spikes`` are ``(t_ns, channel)`` records, times from the first frame;
    each becomes a cl ``Spike`` with the 75 samples around it (minus the
    channel's mean, in µV, as a CL1 stores them). ``attributes`` go into the
    file's ``application`` attribute (provenance). The file appears at
    ``path`` only once complete (written beside it, then renamed).
    """
    raw_uv = np.asarray(raw_uv)
    spikes = np.asarray(spikes)
    _check_inputs(raw_uv, spikes)
    out = Path(path)
    if out.suffix.lower() not in (".h5", ".hdf5"):
        raise ConfigError(f"replay file {out}: expected a name ending in .h5")
    if out.is_dir():
        raise ConfigError(f"replay file {out} is a directory; name the file to write")
    load_cl()  # cl-sdk's import needs a replay path chosen first
    from cl import Spike
    from cl.recording import Recording

    units, clipped = _to_units(raw_uv)
    n = units.shape[0]
    mean = units.mean(axis=0)
    frames = np.rint(spikes["t_ns"].astype(np.float64) * CL_FPS / 1e9).astype(np.int64)
    keep = (frames >= SPIKE_BEFORE) & (frames <= n - SPIKE_AFTER)
    order = np.argsort(frames[keep], kind="stable")
    rows: list[Any] = []
    for f, ch in zip(frames[keep][order].tolist(), spikes["channel"][keep][order].tolist()):
        window = (units[f - SPIKE_BEFORE : f + SPIKE_AFTER, ch] - mean[ch]) * UV_PER_UNIT
        rows.append(
            Spike(
                timestamp=f,
                channel=ch,
                channel_mean_sample=float(mean[ch]),
                samples=window.astype(np.float32),
            )
        )
    written = len(rows)  # Recording.stop() empties the list it was handed
    clock = _Clock()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        rec = Recording(
            _neurons=clock,
            _channel_count=CL_CHANNELS,
            _sampling_frequency=CL_FPS,
            _frames_per_second=CL_FPS,
            _uV_per_sample_unit=UV_PER_UNIT,
            _recording_spikes=rows,
            _recording_stims=[],
            _recording_samples=[units],
            _data_streams={},
            file_location=tmp,
            attributes=dict(attributes or {}),
        )
        clock.advance(n)
        try:
            rec.stop()
        except BaseException:
            rec.status = "stopped"  # its __del__ would try again
            raise
        os.replace(rec.file["path"], out)
    return Replay(out, n, written, int((~keep).sum()), clipped)
