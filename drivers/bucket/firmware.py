"""The bucket motor board's firmware behind a pty: what its pins output, on its clock.

:class:`BucketFirmware` is :class:`~physres.wire.firmware_runner.FirmwareProcess`
for ``firmware/bucket`` (described in ``firmware/bucket/firmware.toml``): it
keeps the ``PWM`` and ``STROBE`` lines the host build and the simavr harness
print, so tests can measure the watchdog on the MCU's clock and the tank
simulator can be driven by the duty the firmware actually outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from physres.wire.firmware_runner import FirmwareProcess, Target
from physres.wire.firmware_runner import simavr_missing as _simavr_missing

__all__ = ["FIRMWARE", "BucketFirmware", "PwmEdge", "simavr_missing"]

#: the firmware's folder and ``firmware.toml`` name
FIRMWARE = "bucket"


def simavr_missing() -> str | None:
    """Why the bucket firmware cannot run in simavr here, or None when it can."""
    return _simavr_missing(FIRMWARE)


@dataclass(frozen=True)
class PwmEdge:
    """One change of a motor's output duty, on the MCU clock."""

    t_ns: int
    motor: int
    duty: float


class BucketFirmware(FirmwareProcess):
    """The bucket firmware (``"simavr"`` or ``"host"``); ``port`` is the path a driver opens.

    Use as a context manager. ``stop()`` ends it with SIGTERM (clean), ``kill()``
    with SIGKILL (what an unplugged cable looks like to the host).
    """

    def __init__(self, target: Target, *, n_motors: int = 4, startup_timeout_s: float = 15.0):
        super().__init__(target, firmware=FIRMWARE, startup_timeout_s=startup_timeout_s)
        self.n_motors = n_motors
        self.pwm: list[PwmEdge] = []
        self.strobes: list[tuple[int, int]] = []

    def on_line(self, key: str, fields: dict[str, Any]) -> None:
        if key == "PWM":
            self.pwm.append(PwmEdge(fields["t_ns"], fields["motor"], fields["duty"]))
        elif key == "STROBE":
            self.strobes.append((fields["t_ns"], fields["level"]))

    def duty_now(self) -> np.ndarray:
        """The duty each motor's pin outputs now (last reported change)."""
        out = np.zeros(self.n_motors)
        with self._lock:
            for e in self.pwm:
                if e.motor < self.n_motors:
                    out[e.motor] = e.duty
        return out

    def duty_at(self, t_ns: np.ndarray) -> np.ndarray:
        """Duty of every motor at MCU times ``t_ns`` (T,) → (T, n_motors).

        For a simulator driven by the firmware: resample the pin edges onto its
        own time grid (the value holds from one edge to the next).
        """
        t = np.asarray(t_ns, dtype=np.int64)
        out = np.zeros((t.size, self.n_motors))
        with self._lock:
            edges = list(self.pwm)
        for m in range(self.n_motors):
            times = np.array([e.t_ns for e in edges if e.motor == m], dtype=np.int64)
            duty = np.array([e.duty for e in edges if e.motor == m])
            if times.size:
                idx = np.searchsorted(times, t, side="right") - 1
                out[:, m] = np.where(idx >= 0, duty[np.clip(idx, 0, None)], 0.0)
        return out
