"""Electrode layouts of multi-electrode arrays, by name: positions in µm and channel labels.

Every MEA kind (the simulator, the CL1 and Open Ephys drivers) names its
array by one of these, so a culture simulated on ``grid8x8`` and a recording
from a CL1 put channel ``i`` at the same place. Positions are centred on the
array (µm, x to the right, y up); channel ``i`` is row ``i`` of ``positions``.

* ``grid8x8``: 8 × 8 at 200 µm pitch, 64 channels (the CL1's count);
  labels ``"11"`` … ``"88"`` (column, row; the MCS convention).
* ``mcs60``: Multi Channel Systems' 60MEA200/30: the 8 × 8 grid at 200 µm
  without its four corners (60 channels), labelled the same way (``"12"`` …
  ``"87"``); electrode ``"15"`` is the internal reference on real arrays but
  is kept here as a channel (recording systems still stream it).
* ``hdmea1024``: a 32 × 32 block at 17.5 µm pitch, the size of a readout
  subset of a CMOS HD-MEA (MaxWell MaxOne: 26,400 electrodes at 17.5 µm, of
  which 1,024 are routed to amplifiers at a time; Brainoware used such a
  chip); labels ``"e0000"`` … ``"e1023"`` row-major.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache

import numpy as np

from physres.errors import ConfigError

__all__ = ["LAYOUT_NAMES", "Layout", "layout"]


@dataclass(frozen=True, eq=False)
class Layout:
    """One array: ``positions`` (n, 2) µm, one label per channel, the pitch in µm."""

    name: str
    positions: np.ndarray
    labels: tuple[str, ...]
    pitch_um: float

    @property
    def n_channels(self) -> int:
        return len(self.labels)

    @property
    def extent_um(self) -> float:
        """Width of the square the electrodes span, centre to centre (µm)."""
        return float(np.ptp(self.positions[:, 0])) if self.n_channels else 0.0

    def channel(self, label: str) -> int:
        """Channel index of an electrode label (``"23"``); a wrong label names the nearest."""
        try:
            return self.labels.index(label)
        except ValueError:
            near = difflib.get_close_matches(str(label), self.labels, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ConfigError(
                f"layout {self.name!r} has no electrode {label!r} "
                f"(labels {self.labels[0]}…{self.labels[-1]}){hint}"
            ) from None

    def check_channels(self, channels: list[int] | tuple[int, ...], what: str) -> None:
        """Refuse a channel outside the array or listed twice, naming ``what`` and the value."""
        seen: set[int] = set()
        for c in channels:
            if not 0 <= c < self.n_channels:
                raise ConfigError(
                    f"{what}: electrode {c} is not on layout {self.name!r} "
                    f"(channels 0..{self.n_channels - 1})"
                )
            if c in seen:
                raise ConfigError(f"{what}: electrode {c} is listed twice")
            seen.add(c)


def _grid(name: str, side: int, pitch: float, *, corners: bool, mcs_labels: bool) -> Layout:
    """A square grid, row-major from the top-left; optionally without its four corners."""
    pos, labels = [], []
    half = (side - 1) / 2
    for row in range(side):
        for col in range(side):
            corner = row in (0, side - 1) and col in (0, side - 1)
            if corner and not corners:
                continue
            pos.append(((col - half) * pitch, (half - row) * pitch))
            labels.append(f"{col + 1}{row + 1}" if mcs_labels else f"e{row * side + col:04d}")
    positions = np.asarray(pos, np.float64)
    positions.setflags(write=False)
    return Layout(name, positions, tuple(labels), pitch)


_BUILDERS = {
    "grid8x8": lambda: _grid("grid8x8", 8, 200.0, corners=True, mcs_labels=True),
    "mcs60": lambda: _grid("mcs60", 8, 200.0, corners=False, mcs_labels=True),
    "hdmea1024": lambda: _grid("hdmea1024", 32, 17.5, corners=True, mcs_labels=False),
}

#: the layouts a config may name
LAYOUT_NAMES: tuple[str, ...] = tuple(_BUILDERS)


@cache
def layout(name: str) -> Layout:
    """The layout called ``name``; an unknown name lists the known ones and the nearest."""
    builder = _BUILDERS.get(name) if isinstance(name, str) else None
    if builder is None:
        near = difflib.get_close_matches(str(name), LAYOUT_NAMES, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ConfigError(
            f"unknown electrode layout {name!r}; known layouts: {', '.join(LAYOUT_NAMES)}{hint}"
        )
    return builder()
