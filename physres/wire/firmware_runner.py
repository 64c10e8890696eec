"""Build and launch the bucket firmware behind a pseudo-terminal.

Two targets answer on a pty with the same protocol:

* ``"simavr"``: the real ATmega328P ELF (avr-gcc) running in simavr through
  ``firmware/harness/simavr_harness`` (libsimavr + ``uart_pty``);
* ``"host"``: the same protocol and control C code built with gcc
  (``bucket_host``), for machines without the AVR toolchain.

Both print what the "MCU" outputs on stdout (``PWM t_ns motor duty`` and
``STROBE t_ns level``, on the MCU's own clock); :class:`FirmwareProcess`
collects those lines so tests can measure the watchdog and the wave-tank
simulator can be driven by the duty the firmware actually outputs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from physres.errors import DeviceError

__all__ = [
    "FirmwareBuildError",
    "FirmwareFallbackWarning",
    "FirmwareProcess",
    "PwmEdge",
    "Target",
    "build_firmware",
    "firmware_dir",
    "simavr_missing",
]

Target = Literal["simavr", "host"]
SIMAVR_INCLUDE = Path("/usr/include/simavr")
_BINARIES: dict[str, tuple[str, ...]] = {
    "host": ("build/bucket_host",),
    "simavr": ("build/bucket.elf", "build/simavr_harness"),
}


class FirmwareBuildError(DeviceError):
    """``make`` failed; the message carries the tail of its output."""


class FirmwareFallbackWarning(UserWarning):
    """simavr cannot run here, so the host build of the same firmware runs instead."""


def firmware_dir() -> Path:
    """``$PHYSRES_FIRMWARE_DIR`` or the repository's ``firmware/`` folder."""
    env = os.environ.get("PHYSRES_FIRMWARE_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "firmware"
    if not (path / "Makefile").is_file():
        raise FirmwareBuildError(
            f"no firmware sources at {path} (set PHYSRES_FIRMWARE_DIR to the firmware/ folder)"
        )
    return path


def simavr_missing() -> str | None:
    """Why the simavr target cannot run here, or None when it can.

    ``PHYSRES_FIRMWARE_TARGET=host`` forces the host build (to test the fallback,
    or on a machine whose simavr misbehaves).
    """
    if os.environ.get("PHYSRES_FIRMWARE_TARGET", "").lower() == "host":
        return "disabled by PHYSRES_FIRMWARE_TARGET=host"
    missing = []
    if shutil.which("avr-gcc") is None:
        missing.append("avr-gcc (apt: gcc-avr avr-libc binutils-avr)")
    if not (SIMAVR_INCLUDE / "sim_avr.h").is_file():
        missing.append("simavr headers (apt: libsimavr-dev libsimavrparts1 simavr)")
    return "missing " + ", ".join(missing) if missing else None


def build_firmware(target: Target) -> list[Path]:
    """Run ``make`` for ``target`` (serialised by a file lock); return its binaries."""
    fw = firmware_dir()
    if target == "simavr" and (why := simavr_missing()):
        raise FirmwareBuildError(f"cannot build the simavr target: {why}")
    goals = ["host"] if target == "host" else ["avr", "harness"]
    (fw / "build").mkdir(exist_ok=True)
    with open(fw / "build" / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            proc = subprocess.run(
                ["make", "-s", "-C", str(fw), *goals], capture_output=True, text=True, check=False
            )
        except FileNotFoundError as e:
            why = f"cannot build {' '.join(goals)}: no make on PATH ({e})"
            raise FirmwareBuildError(why) from e
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise FirmwareBuildError(f"make {' '.join(goals)} in {fw} failed:\n{tail}")
    return [fw / b for b in _BINARIES[target]]


@dataclass(frozen=True)
class PwmEdge:
    """One change of a motor's output duty, on the MCU clock."""

    t_ns: int
    motor: int
    duty: float


class FirmwareProcess:
    """The firmware running behind a pty; ``port`` is the path a driver opens.

    Use as a context manager. ``stop()`` ends it with SIGTERM (clean), ``kill()``
    with SIGKILL (what an unplugged cable looks like to the host).
    """

    def __init__(self, target: Target, *, n_motors: int = 4, startup_timeout_s: float = 15.0):
        if target not in ("simavr", "host"):
            raise ValueError(f"firmware target {target!r} is not one of 'simavr', 'host'")
        self.target = target
        self.n_motors = n_motors
        self.startup_timeout_s = startup_timeout_s
        self.port = ""
        self.link = ""
        self.pwm: list[PwmEdge] = []
        self.strobes: list[tuple[int, int]] = []
        self.exit_reason: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Condition()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> FirmwareProcess:
        bins = build_firmware(self.target)
        self._tmp = tempfile.TemporaryDirectory(prefix="physres-fw-")
        self.link = str(Path(self._tmp.name) / "uart")
        if self.target == "host":
            cmd = [str(bins[0]), "--link", self.link]
        else:
            cmd = [str(bins[1]), str(bins[0]), "--link", self.link]
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        self._reader = threading.Thread(
            target=self._read_stdout, daemon=True, name=f"firmware-{self.target}"
        )
        self._reader.start()
        deadline = time.monotonic() + self.startup_timeout_s
        with self._lock:
            while not self.port and self._proc.poll() is None:
                if not self._lock.wait(max(0.0, deadline - time.monotonic())):
                    break
        if not self.port:
            err = self._proc.stderr.read() if self._proc.poll() is not None else ""  # type: ignore[union-attr]
            self.stop()
            raise DeviceError(
                f"firmware target {self.target!r} did not report READY within "
                f"{self.startup_timeout_s} s: {err.strip() or 'no output'}"
            )
        return self

    def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):  # pipe closed under us at stop()
            for line in self._proc.stdout:
                self._parse_line(line)
        with self._lock:
            self._lock.notify_all()

    def _parse_line(self, line: str) -> None:
        """One stdout line of the harness / host build (unknown lines are ignored)."""
        parts = line.split()
        if not parts:
            return
        with self._lock:
            if parts[0] == "PWM" and len(parts) == 4:
                self.pwm.append(PwmEdge(int(parts[1]), int(parts[2]), float(parts[3])))
            elif parts[0] == "STROBE" and len(parts) == 3:
                self.strobes.append((int(parts[1]), int(parts[2])))
            elif parts[0] == "READY" and len(parts) == 2:
                self.port = parts[1]
            elif parts[0] == "EXIT":
                self.exit_reason = " ".join(parts[1:])
            self._lock.notify_all()

    # ------------------------------------------------------------- observing
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

    def wait_for(self, predicate: object, timeout_s: float) -> bool:
        """Wait until ``predicate(self)`` is true (re-checked on every output line)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not predicate(self):  # type: ignore[operator]
                left = deadline - time.monotonic()
                if left <= 0 or not self._lock.wait(left):
                    return bool(predicate(self))  # type: ignore[operator]
        return True

    @property
    def pid(self) -> int:
        """Process id (SIGSTOP it to emulate a board that hangs)."""
        if self._proc is None:
            raise DeviceError(f"firmware target {self.target!r} is not running: call start()")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -------------------------------------------------------------- stopping
    def stop(self, sig: int = signal.SIGTERM) -> None:
        """End the process (SIGTERM: clean exit) and remove the temp folder."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
        if self._reader is not None:
            self._reader.join(timeout=2)  # the process is gone: its stdout is at EOF
        if proc is not None:
            for f in (proc.stdout, proc.stderr):
                with contextlib.suppress(Exception):
                    f.close()  # type: ignore[union-attr]
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def kill(self) -> None:
        """SIGKILL: the pty vanishes mid-run, as when a USB cable is pulled."""
        self.stop(signal.SIGKILL)

    def __enter__(self) -> FirmwareProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
