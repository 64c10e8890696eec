"""What a device declares about itself: streams it publishes, inputs it accepts, limits.

A :class:`Description` is plain data: it is built without any I/O, travels in
heartbeats on the bus (``to_dict``/``from_dict``) and drives mock mode, safety
checks and the conformance checker.

Shapes are per *sample*; data on the wire and from ``read()`` carry a leading
time axis ``(T, *shape)``. ``None`` in a shape means "any length" (an event list,
a variable number of spikes). Event streams use a structured dtype, e.g.
``[("t_ns", "<i8"), ("channel", "<i2")]`` for spikes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from physres.bus.dtypes import dtype_from_wire, dtype_to_wire
from physres.errors import ConfigError, SafetyError

__all__ = [
    "Carries",
    "Chunk",
    "CommandSpec",
    "Description",
    "InputSpec",
    "Limits",
    "PendingChunk",
    "StreamSpec",
    "dtype_from_wire",
    "dtype_to_wire",
    "slew_limit",
]

#: What a stream carries (``StreamSpec.carries``); consumers pick features by it
#: (frame → image features, events → spike counts...). Not a ``kind``: that word
#: is kept for registered names (device kind, task, pipeline stage).
Carries = Literal["continuous", "frame", "events", "state", "text"]
_CARRIES = ("continuous", "frame", "events", "state", "text")


def _finite_or_none(value: float | None, what: str) -> float | None:
    if value is None:
        return None
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"{what} must be a finite number, got {value!r}")
    return v


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Bounds enforced before a value leaves the host.

    ``low``/``high`` bound every element; ``max_step`` bounds the change between
    consecutive samples (a slew limit: motor duty, stimulation ramp, joint speed);
    ``max_abs_sum`` bounds the sum of magnitudes in one sample (e.g. total charge).
    NaN or infinite limits are a config error: a limit that cannot be compared
    protects nothing.
    """

    low: float | None = None
    high: float | None = None
    max_step: float | None = None
    max_abs_sum: float | None = None

    def __post_init__(self) -> None:
        for name in ("low", "high", "max_step", "max_abs_sum"):
            object.__setattr__(self, name, _finite_or_none(getattr(self, name), f"limit {name}"))
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ConfigError(f"limit low={self.low} is above high={self.high}")
        for name in ("max_step", "max_abs_sum"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ConfigError(f"limit {name} must be >= 0, got {v}")

    def check(
        self, values: np.ndarray, *, where: str, unit: str, previous: np.ndarray | None = None
    ) -> None:
        """Raise :class:`SafetyError` naming the first offending value, the limit and unit."""
        v = np.asarray(values)
        if v.dtype.kind in "fc" and not np.isfinite(v).all():
            idx = tuple(int(i) for i in np.argwhere(~np.isfinite(v))[0])
            raise SafetyError(f"{where}{list(idx)} = {v[idx]} is not a finite value")
        if self.low is not None and (v < self.low).any():
            idx = tuple(int(i) for i in np.argwhere(v < self.low)[0])
            raise SafetyError(
                f"{where}{list(idx)} = {v[idx]:g} {unit} is below the limit {self.low:g} {unit}"
            )
        if self.high is not None and (v > self.high).any():
            idx = tuple(int(i) for i in np.argwhere(v > self.high)[0])
            raise SafetyError(
                f"{where}{list(idx)} = {v[idx]:g} {unit} is above the limit {self.high:g} {unit}"
            )
        if self.max_abs_sum is not None and v.ndim >= 1:
            per_sample = np.abs(v.reshape(v.shape[0], -1)).sum(axis=1)
            bad = np.flatnonzero(per_sample > self.max_abs_sum)
            if bad.size:
                raise SafetyError(
                    f"{where}[{int(bad[0])}] sums to {per_sample[bad[0]]:g} {unit}, above the "
                    f"limit {self.max_abs_sum:g} {unit}"
                )
        if self.max_step is not None and v.ndim >= 1 and v.shape[0] > 0:
            seq = v if previous is None else np.concatenate([np.asarray(previous)[None], v])
            if seq.shape[0] > 1:
                steps = np.abs(np.diff(seq.astype(np.float64), axis=0))
                if (steps > self.max_step).any():
                    idx = tuple(int(i) for i in np.argwhere(steps > self.max_step)[0])
                    raise SafetyError(
                        f"{where}: step {idx[0]} changes by {steps[idx]:g} {unit}, above the "
                        f"slew limit {self.max_step:g} {unit} per sample"
                    )


@dataclass(frozen=True, kw_only=True)
class StreamSpec:
    """One observation stream a device publishes (``<node>/<name>`` on the bus)."""

    name: str
    dtype: str | list = "<f8"
    shape: tuple[int | None, ...] = ()
    units: str = ""
    rate_hz: float | None = None
    carries: Carries = "continuous"
    doc: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", dtype_to_wire(dtype_from_wire(self.dtype)))
        object.__setattr__(self, "shape", tuple(self.shape))
        if self.carries not in _CARRIES:
            raise ConfigError(
                f"stream {self.name!r}: carries {self.carries!r}, not one of {_CARRIES}"
            )
        _finite_or_none(self.rate_hz, f"stream {self.name!r} rate_hz")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StreamSpec:
        """The inverse of ``asdict``; also reads the pre-rename key ``kind`` for ``carries``.

        Descriptions recorded before the rename (heartbeats, run folders) still load.
        """
        d = dict(d)
        if "kind" in d:
            old = d.pop("kind")
            if d.setdefault("carries", old) != old:
                raise ConfigError(
                    f"stream {d.get('name')!r}: both carries {d['carries']!r} and the old "
                    f"key kind {old!r}; give carries only"
                )
        return cls(**d)

    @classmethod
    def events(cls, name: str, dtype: np.dtype, *, doc: str) -> StreamSpec:
        """An event stream: one record per event (``t_ns``, ``channel``, ...), as spiking
        simulators and boards publish them (``sim.lsm``, ``sim.neuromorphic``)."""
        return cls(name=name, dtype=np.dtype(dtype).descr, shape=(), carries="events", doc=doc)

    @property
    def np_dtype(self) -> np.dtype:
        return dtype_from_wire(self.dtype)

    def matches(self, data: np.ndarray) -> bool:
        """True when ``data`` is a chunk ``(T, *shape)`` of this stream."""
        if data.dtype != self.np_dtype or data.ndim != len(self.shape) + 1:
            return False
        return all(s is None or s == d for s, d in zip(self.shape, data.shape[1:]))


@dataclass(frozen=True, kw_only=True)
class InputSpec:
    """One actuation/stimulation channel a device accepts (``apply({name: ...})``)."""

    name: str
    dtype: str | list = "<f8"
    shape: tuple[int | None, ...] = ()
    units: str = ""
    rate_hz: float | None = None
    limits: Limits = field(default_factory=Limits)
    doc: str = ""
    #: most samples one message may carry: a node applies inputs one at a time, so a
    #: huge one (16 MB took an ESN node 13 s) would leave it deaf to everything else
    max_len: int = 65_536

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", dtype_to_wire(dtype_from_wire(self.dtype)))
        object.__setattr__(self, "shape", tuple(self.shape))
        if isinstance(self.limits, Mapping):
            object.__setattr__(self, "limits", Limits(**self.limits))
        _finite_or_none(self.rate_hz, f"input {self.name!r} rate_hz")
        if type(self.max_len) is not int or self.max_len < 1:
            raise ConfigError(
                f"input {self.name!r}: max_len must be a whole number of samples >= 1, "
                f"got {self.max_len!r}"
            )

    def check_len(self, device: str, data: Any) -> None:
        """Refuse a message with more than ``max_len`` samples, before any of it is applied."""
        shape = getattr(data, "shape", ())
        n = shape[0] if len(shape) > len(self.shape) else 1
        if n > self.max_len:
            raise SafetyError(
                f"{device}.{self.name}: {n} samples in one message, over the declared "
                f"max_len {self.max_len}; send it in smaller chunks"
            )

    @classmethod
    def analog(cls, n: int, *, rate_hz: float, limit: float, doc: str) -> InputSpec:
        """The reservoir simulators' input ``u``: ``n`` float channels in [-limit, limit].

        One declaration for every stepped simulator driven by an analog signal
        (``sim.esn``, ``sim.lsm``), so the drive loop finds the same input in each.
        """
        return cls(
            name="u",
            dtype="<f8",
            shape=(n,),
            rate_hz=rate_hz,
            units="a.u.",
            limits=Limits(low=-limit, high=limit),
            doc=doc,
        )

    @property
    def np_dtype(self) -> np.dtype:
        return dtype_from_wire(self.dtype)


@dataclass(frozen=True, kw_only=True)
class CommandSpec:
    """A named command a device answers over the bus (``physres ls`` lists them)."""

    name: str
    doc: str = ""
    params: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Description:
    """Everything a consumer needs to know about a device before talking to it.

    ``clock`` is ``"stepped"`` for simulators that advance only when driven
    (faster than real time) and ``"wall"`` for devices that stream in real time.
    """

    kind: str
    name: str
    clock: Literal["stepped", "wall"]
    streams: Mapping[str, StreamSpec]
    inputs: Mapping[str, InputSpec]
    commands: Mapping[str, CommandSpec] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """msgpack/JSON-able form (heartbeats, run folders)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "clock": self.clock,
            "streams": {k: asdict(v) for k, v in self.streams.items()},
            "inputs": {k: asdict(v) for k, v in self.inputs.items()},
            "commands": {k: asdict(v) for k, v in self.commands.items()},
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Description:
        return cls(
            kind=d["kind"],
            name=d["name"],
            clock=d["clock"],
            streams={k: StreamSpec.from_dict(v) for k, v in d["streams"].items()},
            inputs={k: InputSpec(**v) for k, v in d["inputs"].items()},
            commands={
                k: CommandSpec(**{**v, "params": tuple(v.get("params", ()))})
                for k, v in d.get("commands", {}).items()
            },
            meta=dict(d.get("meta", {})),
        )


@dataclass(frozen=True)
class Chunk:
    """A block of samples from one stream: ``data`` is ``(T, *shape)``.

    ``t_dev_ns`` is the device time of the first sample (the device's own time
    base: simulated time for stepped devices); ``meta`` holds small extras
    (a text prompt, a frame's exposure, a fault reason).
    """

    data: np.ndarray
    t_dev_ns: int
    meta: Mapping[str, Any] = field(default_factory=dict)


class PendingChunk:
    """What a stepped simulator produced since the last ``read()``, handed out as one Chunk.

    A simulator computes on ``apply()`` and delivers on ``read()``; the chunk is
    stamped with the device time of its first sample, and an empty read with
    the time now (one home for this bookkeeping in every stepped simulator).
    """

    def __init__(self, empty: np.ndarray) -> None:
        self._empty = empty
        self._parts: list[np.ndarray] = []
        self._t0_ns = 0

    def add(self, data: np.ndarray, t0_ns: int) -> None:
        """Samples computed by one apply, the first at device time ``t0_ns``."""
        if not self._parts:
            self._t0_ns = t0_ns
        self._parts.append(data)

    def take(self, now_ns: int) -> Chunk:
        """Everything added since the last take (empty at ``now_ns`` if nothing)."""
        if not self._parts:
            return Chunk(self._empty, now_ns)
        data = np.concatenate(self._parts) if len(self._parts) > 1 else self._parts[0]
        self._parts = []
        return Chunk(data, self._t0_ns)

    def clear(self) -> None:
        """Forget what was not read (a reset)."""
        self._parts = []


def slew_limit(
    x: np.ndarray, max_step: float, previous: np.ndarray | None, *, margin: float = 1e-3
) -> np.ndarray:
    """Rate-limit ``x`` (T, C): each sample moves at most ``max_step`` from the one before.

    The one ramp planner for every slew-limited input (motor duty, stimulation,
    joints), next to the :class:`Limits` check it must pass. ``previous`` is the
    value the device holds now (a motor at rest: zeros); None leaves ``x[0]``
    free. Ramps use ``margin`` (0.1 %) less than the limit: a device reports back
    what it actually sent (quantised to its DAC/PWM resolution), and a ramp
    planned exactly at the limit from the unquantised value could then exceed it
    by one quantum.
    """
    max_step = max_step * (1 - margin)
    diffs = np.abs(np.diff(x, axis=0))
    first_ok = previous is None or (np.abs(x[0] - previous) <= max_step).all()
    if first_ok and not (diffs > max_step).any():
        return x
    out = np.empty_like(x, dtype=np.float64)
    y = x[0].astype(np.float64) if previous is None else previous.astype(np.float64).copy()
    for t in range(len(x)):
        d = x[t] - y
        new = y + np.sign(d) * max_step
        # rounding may make the step one ulp longer than the limit: pull it back
        new = np.where(np.abs(new - y) > max_step, np.nextafter(new, y), new)
        y = np.where(np.abs(d) <= max_step, x[t], new)
        out[t] = y
    return out
