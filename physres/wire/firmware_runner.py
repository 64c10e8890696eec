"""Build and launch a physres firmware behind a pseudo-terminal, from its description.

Each firmware is described once, in ``firmware/<name>/firmware.toml`` (package
data of ``physres.firmware``, so an installed wheel builds and runs it as a
source checkout does): the ``make`` goals of each target, the command that
starts it, what the target needs, and the grammar of the lines it prints.
:class:`FirmwareSpec` reads that file; :class:`FirmwareProcess` builds, starts
and watches one target. Two targets answer on a pty with the same protocol:

* ``"simavr"``: the real MCU image running in simavr through the harness
  (libsimavr + ``uart_pty``);
* ``"host"``: the same protocol and control C code built with gcc, for
  machines without the AVR toolchain.

Both print what the "MCU" outputs on stdout, one keyword per line, on the MCU's
own clock; :class:`FirmwareProcess` parses those lines by the grammar in the
description and hands each to :meth:`FirmwareProcess.on_line`, where a board's
subclass keeps what it needs. A line that does not parse is counted
(``bad_lines``) and skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from physres.errors import ConfigError, DeviceError

__all__ = [
    "FirmwareBuildError",
    "FirmwareFallbackWarning",
    "FirmwareProcess",
    "FirmwareSpec",
    "Target",
    "build_firmware",
    "firmware_dir",
    "simavr_missing",
]

Target = Literal["simavr", "host"]
SIMAVR_INCLUDE = Path("/usr/include/simavr")
#: what a target may need, how to tell it is there, and how to install it
_NEEDS = {
    "avr-gcc": (
        lambda: shutil.which("avr-gcc") is not None,
        "avr-gcc (apt: gcc-avr avr-libc binutils-avr)",
    ),
    "simavr-headers": (
        lambda: (SIMAVR_INCLUDE / "sim_avr.h").is_file(),
        "simavr headers (apt: libsimavr-dev libsimavrparts1 simavr)",
    ),
}
_CASTS = {"int": int, "float": float, "str": str}


class FirmwareBuildError(DeviceError):
    """``make`` failed; the message carries the tail of its output."""


class FirmwareFallbackWarning(UserWarning):
    """simavr cannot run here, so the host build of the same firmware runs instead."""


def firmware_dir() -> Path:
    """Where the firmware sources are: ``$PHYSRES_FIRMWARE_DIR``, else the installed
    ``physres.firmware`` package data, else a source checkout's ``firmware/`` folder
    (an editable install made before the package existed)."""
    env = os.environ.get("PHYSRES_FIRMWARE_DIR")
    if env:
        path = Path(env)
    else:
        try:
            import physres.firmware as pkg

            path = Path(pkg.__file__).resolve().parent
        except ImportError:
            path = Path(__file__).resolve().parents[2] / "firmware"
    if not (path / "Makefile").is_file():
        raise FirmwareBuildError(
            f"no firmware sources at {path} (set PHYSRES_FIRMWARE_DIR to the firmware/ folder)"
        )
    return path


@dataclass(frozen=True)
class TargetSpec:
    """One way to run a firmware: ``make`` goals, the command line, what it needs."""

    make: tuple[str, ...]
    run: tuple[str, ...]
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class FirmwareSpec:
    """A firmware as its ``firmware.toml`` describes it (see ``firmware/bucket/``)."""

    name: str
    doc: str
    root: Path
    targets: dict[str, TargetSpec]
    lines: dict[str, tuple[tuple[str, str], ...]]

    @classmethod
    def load(cls, name: str) -> FirmwareSpec:
        """Read ``<firmware_dir>/<name>/firmware.toml``; a bad file is a one-line ConfigError."""
        root = firmware_dir()
        path = root / name / "firmware.toml"
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError as e:
            known = sorted(p.parent.name for p in root.glob("*/firmware.toml"))
            raise ConfigError(f"no firmware {name!r} in {root} (known: {known})") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from e
        try:
            targets = {
                t: TargetSpec(tuple(v["make"]), tuple(v["run"]), tuple(v.get("needs", ())))
                for t, v in raw["targets"].items()
            }
            lines = {
                k: tuple(tuple(f.split(":", 1)) for f in fields)  # type: ignore[misc]
                for k, fields in raw["lines"].items()
            }
            spec = cls(raw["name"], raw.get("doc", ""), root, targets, lines)
        except (KeyError, TypeError, AttributeError) as e:
            raise ConfigError(f"{path}: missing or malformed key {e}") from e
        for t in spec.targets.values():
            for need in t.needs:
                if need not in _NEEDS:
                    raise ConfigError(f"{path}: needs {need!r} is not one of {sorted(_NEEDS)}")
        for key, fields in spec.lines.items():
            for field in fields:
                if len(field) != 2 or field[1] not in (*_CASTS, "rest"):
                    raise ConfigError(
                        f"{path}: lines.{key} field {':'.join(field)!r} is not "
                        "name:int, name:float, name:str or name:rest"
                    )
        if "READY" not in spec.lines:
            raise ConfigError(f"{path}: lines.READY (the pty path) is missing")
        return spec

    def target(self, target: str) -> TargetSpec:
        if target not in self.targets:
            raise ValueError(
                f"firmware {self.name!r} has no target {target!r}; it has {sorted(self.targets)}"
            )
        return self.targets[target]

    def missing(self, target: str) -> str | None:
        """Why ``target`` cannot be built here, or None when it can."""
        gone = [
            hint for need in self.target(target).needs for ok, hint in [_NEEDS[need]] if not ok()
        ]
        return "missing " + ", ".join(gone) if gone else None

    @property
    def build_dir(self) -> Path:
        """``build/`` beside the sources of a checkout; a per-user cache for an installed
        package (``.../physres/firmware``, whose site-packages may be read-only or shared)."""
        installed = self.root.parent.name == "physres"
        if not installed and os.access(self.root, os.W_OK):
            return self.root / "build"
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:12]
        return cache / "physres" / "firmware" / digest

    def build(self, target: str) -> Path:
        """Run ``make`` for ``target`` (serialised by a file lock); return the build folder."""
        spec = self.target(target)
        if why := self.missing(target):
            raise FirmwareBuildError(f"cannot build the {target} target of {self.name!r}: {why}")
        build = self.build_dir
        build.mkdir(parents=True, exist_ok=True)
        cmd = ["make", "-s", "-C", str(self.root), f"BUILD={build}", *spec.make]
        with open(build / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            except FileNotFoundError as e:
                why = f"cannot build {' '.join(spec.make)}: no make on PATH ({e})"
                raise FirmwareBuildError(why) from e
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr)[-2000:]
            raise FirmwareBuildError(f"make {' '.join(spec.make)} in {self.root} failed:\n{tail}")
        return build

    def command(
        self, target: str, build: Path, link: str, fill: Mapping[str, str] | None = None
    ) -> list[str]:
        """The target's command line: ``{build}``, ``{link}``, ``{python}`` (this
        interpreter, for a firmware whose far side is a Python process) and a board's
        own placeholders (``fill``) filled in."""
        run = self.target(target).run
        keys = {**(fill or {}), "build": build, "link": link, "python": sys.executable}
        try:
            return [a.format(**keys) for a in run]
        except KeyError as e:
            raise ConfigError(
                f"firmware {self.name!r} target {target!r}: run names {{{e.args[0]}}}, which "
                f"nothing fills (known: {sorted(keys)})"
            ) from None

    def parse(self, line: str) -> tuple[str, dict[str, Any]] | None:
        """``(keyword, fields)`` of one output line; None for a blank line; ValueError if bad."""
        parts = line.split()
        if not parts:
            return None
        fields = self.lines.get(parts[0])
        if fields is None:
            raise ValueError(f"unknown keyword {parts[0]!r}")
        out: dict[str, Any] = {}
        for i, (name, kind) in enumerate(fields, 1):
            if kind == "rest":
                out[name] = " ".join(parts[i:])
                return parts[0], out
            if i >= len(parts):
                raise ValueError(f"{parts[0]} has {len(parts) - 1} fields, expected {len(fields)}")
            out[name] = _CASTS[kind](parts[i])
        if len(parts) != len(fields) + 1:
            raise ValueError(f"{parts[0]} has {len(parts) - 1} fields, expected {len(fields)}")
        return parts[0], out


def simavr_missing(firmware: str) -> str | None:
    """Why the simavr target cannot run here, or None when it can.

    ``PHYSRES_FIRMWARE_TARGET=host`` forces the host build (to test the fallback,
    or on a machine whose simavr misbehaves).
    """
    if os.environ.get("PHYSRES_FIRMWARE_TARGET", "").lower() == "host":
        return "disabled by PHYSRES_FIRMWARE_TARGET=host"
    return FirmwareSpec.load(firmware).missing("simavr")


def build_firmware(target: Target, firmware: str) -> Path:
    """Build ``target`` of ``firmware``; return its build folder."""
    spec = FirmwareSpec.load(firmware)
    if target == "simavr" and (why := simavr_missing(firmware)):
        raise FirmwareBuildError(f"cannot build the simavr target: {why}")
    return spec.build(target)


class FirmwareProcess:
    """The firmware running behind a pty; ``port`` is the path a driver opens.

    Use as a context manager. ``stop()`` ends it with SIGTERM (clean), ``kill()``
    with SIGKILL (what an unplugged cable looks like to the host).
    """

    def __init__(
        self,
        target: Target,
        *,
        firmware: str,
        startup_timeout_s: float = 15.0,
        extra_args: tuple[str, ...] = (),
        fill: Mapping[str, str] | None = None,
    ):
        if target not in ("simavr", "host"):
            raise ValueError(f"firmware target {target!r} is not one of 'simavr', 'host'")
        self.target = target
        self.spec = FirmwareSpec.load(firmware)
        self.spec.target(target)
        self.startup_timeout_s = startup_timeout_s
        #: appended to the target's command line (a board's options for this run)
        self.extra_args = tuple(extra_args)
        #: a board's own ``{placeholders}`` in its ``run`` line
        self.fill = dict(fill or {})
        self.port = ""
        self.link = ""
        self.exit_reason: str | None = None
        #: output lines that did not parse (counted and skipped), and the last one's reason
        self.bad_lines = 0
        self.last_bad_line = ""
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Condition()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> FirmwareProcess:
        build = build_firmware(self.target, self.spec.name)
        self._tmp = tempfile.TemporaryDirectory(prefix="physres-fw-")
        self.link = str(Path(self._tmp.name) / "uart")
        cmd = [*self.spec.command(self.target, build, self.link, self.fill), *self.extra_args]
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
                f"firmware {self.spec.name!r} target {self.target!r} did not report READY within "
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
        """One stdout line, by the grammar in ``firmware.toml``; a bad one is counted."""
        try:
            parsed = self.spec.parse(line)
        except ValueError as e:
            with self._lock:
                self.bad_lines += 1
                self.last_bad_line = f"{line.strip()[:80]!r}: {e}"
            return
        if parsed is None:
            return
        key, fields = parsed
        with self._lock:
            if key == "READY":
                self.port = fields["port"]
            elif key == "EXIT":
                self.exit_reason = fields["reason"]
            else:
                self.on_line(key, fields)
            self._lock.notify_all()

    def on_line(self, key: str, fields: dict[str, Any]) -> None:
        """A parsed output line other than READY/EXIT (called under the lock).

        Default: nothing. A board's subclass keeps what its lines report (pin
        duty, strobe edges...)."""

    # ------------------------------------------------------------- observing
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
