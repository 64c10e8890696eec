"""The generic in-memory backend for ``mock=True``, for kinds with no fake below them.

A driver whose transport has a fake (the servo-bus emulator behind
``servobus://``, the motor board's firmware built for the host on a pty) sets
``Device.mock_transport = True`` and opens that fake in its own ``_connect``
when ``self.mock`` is set; mock mode then runs the driver's *own*
``_apply``/``_read``, so it clips, refuses and latches faults exactly as the
real driver does. Every other kind gets :class:`MockBackend`, which does the
bare minimum quickly: it honours the description (shapes, dtypes, rates) and
the limits (the base class checks those before the backend sees anything).
Realism is the simulators' job.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from physres.device.spec import Chunk, Description, StreamSpec

__all__ = ["MockBackend"]


class MockBackend:
    """Produces plausible chunks for each declared stream whenever inputs arrive.

    Stepped devices produce samples in proportion to input samples (by the
    ratio of declared rates); wall-clock devices produce one sample per read
    even without input, as a live device would.
    """

    def __init__(self, desc: Description, seed: int | None = 0) -> None:
        self.desc = desc
        self.sent: list[dict[str, np.ndarray]] = []
        self.reset(seed)

    def reset(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)
        self._pending = 0.0
        self.now_ns = 0
        self.sent = []

    def apply(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.sent.append(inputs)
        n_in = max((a.shape[0] for a in inputs.values()), default=0)
        rate = next((s.rate_hz for s in self.desc.inputs.values() if s.rate_hz), None)
        self._pending += n_in
        if rate:
            self.now_ns += int(n_in * 1e9 / rate)
        return inputs

    def close(self) -> None:
        """Nothing to close: everything lives in memory."""

    def read(self) -> dict[str, Chunk]:
        n_in = int(self._pending)
        if self.desc.clock == "wall" and n_in == 0:
            n_in = 1
        self._pending -= min(self._pending, n_in)
        in_rate = next((s.rate_hz for s in self.desc.inputs.values() if s.rate_hz), None)
        out = {}
        for spec in self.desc.streams.values():
            n = n_in
            if spec.rate_hz and in_rate:
                n = round(n_in * spec.rate_hz / in_rate)
            out[spec.name] = Chunk(self._sample(spec, n), self.now_ns, {"mock": True})
        return out

    def _sample(self, spec: StreamSpec, n: int) -> np.ndarray:
        dt = spec.np_dtype
        if spec.carries == "events" or None in spec.shape:
            shape = tuple(0 if s is None else s for s in spec.shape)
            return np.zeros((0, *shape), dtype=dt)
        shape = (n, *spec.shape)
        if dt.fields:
            return np.zeros(shape, dtype=dt)
        if dt.kind == "u" and dt.itemsize == 1:
            return self._rng.integers(0, 256, size=shape, dtype=np.uint8)
        if dt.kind in "iu":
            return self._rng.integers(0, 8, size=shape).astype(dt)
        if dt.kind == "b":
            return np.zeros(shape, dtype=dt)
        return (self._rng.standard_normal(shape) * 0.1).astype(dt)

    def __repr__(self) -> str:
        return f"<MockBackend {self.desc.name!r} sent={len(self.sent)}>"

    def __getstate__(self) -> Any:  # pragma: no cover - never pickled on purpose
        raise TypeError("MockBackend is in-memory only")
