"""``check_device``: the conformance suite every registered kind must pass.

One checker, run over every implementation (Gymnasium's ``check_env`` is the
model), so a new driver, simulator or mock proves the contract the bus, the
drive loop and the readouts rely on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from physres.device.base import Device
from physres.device.spec import Description, InputSpec, StreamSpec
from physres.errors import NotConnectedError, PhysresError, SafetyError

__all__ = ["CheckReport", "ConformanceError", "check_device", "same_as_sent", "valid_input"]


class ConformanceError(PhysresError, AssertionError):
    """A device broke the contract; the message lists every failed check."""


@dataclass
class CheckReport:
    device: str
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def valid_input(spec: InputSpec, n: int = 4) -> np.ndarray:
    """``n`` constant samples in the middle of the declared range (slew-safe)."""
    lim = spec.limits
    lo = lim.low if lim.low is not None else (0.0 if lim.high is None else min(0.0, lim.high))
    hi = lim.high if lim.high is not None else max(lo, 0.0)
    value = (lo + hi) / 2
    shape = tuple(1 if s is None else s for s in spec.shape)
    arr = np.full((n, *shape), value)
    if lim.max_abs_sum is not None and shape:
        per = np.abs(arr[0]).sum()
        if per > lim.max_abs_sum and per > 0:
            arr *= lim.max_abs_sum / per
    dt = spec.np_dtype
    return np.round(arr).astype(dt) if dt.kind in "iub" else arr.astype(dt)


def _bad_input(spec: InputSpec) -> np.ndarray | None:
    lim = spec.limits
    shape = tuple(1 if s is None else s for s in spec.shape)
    if lim.high is not None:
        bad = lim.high + max(1.0, abs(lim.high))
    elif lim.low is not None:
        bad = lim.low - max(1.0, abs(lim.low))
    else:
        return None
    dt = spec.np_dtype
    info = np.iinfo(dt) if dt.kind in "iu" else None
    if info is not None and not (info.min <= bad <= info.max):
        return None  # the dtype itself cannot express an out-of-range value
    return np.full((1, *shape), bad).astype(dt)


def _sent_changed(device: Device, before: dict[str, np.ndarray]) -> bool:
    """Whether what the device last sent differs from ``before`` (a refusal must not)."""
    now = device._last_sent
    return now.keys() != before.keys() or any(not np.array_equal(now[k], before[k]) for k in before)


def _check_chunk(spec: StreamSpec, data: np.ndarray) -> str | None:
    if not isinstance(data, np.ndarray):
        return f"stream {spec.name!r}: read() gave {type(data).__name__}, expected ndarray"
    if not spec.matches(data):
        return (
            f"stream {spec.name!r}: read() gave dtype {data.dtype} shape {data.shape}, "
            f"declared {spec.np_dtype} (T, *{spec.shape})"
        )
    return None


def same_as_sent(device: Device, reference: Device) -> str | None:
    """Apply the same inputs to two *disconnected* devices (a mock and its real or
    simulated kind) and compare what each reports as sent; None when they agree.

    Each input's valid value goes in one row at a time; a wall-clock device first
    waits one control period, so a speed limit over time grants both the same step.
    """
    desc = device.describe()
    with device, reference:
        for name, spec in desc.inputs.items():
            x = valid_input(spec, 1)
            sent = []
            for dev in (device, reference):
                if dev.clock == "wall" and spec.rate_hz:
                    time.sleep(1.0 / spec.rate_hz)
                sent.append(dev.apply({name: x}))
            mine, theirs = sent
            if mine.keys() != theirs.keys():
                return f"input {name!r}: sent {sorted(mine)}, the reference sent {sorted(theirs)}"
            for k in mine:
                a, b = np.asarray(mine[k]), np.asarray(theirs[k])
                if a.shape != b.shape or not np.allclose(a, b, atol=1e-9, equal_nan=True):
                    return f"input {name!r}: sent {k} = {a.tolist()}, the reference {b.tolist()}"
    return None


def check_device(
    device: Device, *, raise_on_failure: bool = True, reference: Device | None = None
) -> CheckReport:
    """Run every contract check on a *disconnected* device; leaves it disconnected.

    With ``reference`` (a disconnected device of the kind ``device`` mocks), also
    check that both report the same as sent for the same inputs (:func:`same_as_sent`).
    """
    rep = CheckReport(device=f"{device.kind}:{device.name}")

    def check(name: str, fn: Callable[[], str | None]) -> None:
        try:
            problem = fn()
        except Exception as e:  # a crash is a failure of that check, not of the checker
            problem = f"raised {type(e).__name__}: {e}"
        (rep.failed if problem else rep.passed).append(f"{name}: {problem}" if problem else name)

    desc_holder: list[Description] = []

    def describe_offline() -> str | None:
        if device.connected:
            return "check_device needs a disconnected device"
        desc = device.describe()
        desc_holder.append(desc)
        if Description.from_dict(desc.to_dict()) != desc:
            return "describe() does not survive to_dict/from_dict"
        if not desc.streams:
            return "describe() declares no streams"
        return None

    check("describe works while disconnected", describe_offline)
    if not desc_holder:
        return _finish(rep, raise_on_failure)
    desc = desc_holder[0]

    def not_connected() -> str | None:
        try:
            device.read()
        except NotConnectedError:
            return None
        return "read() before connect() did not raise NotConnectedError"

    check("use before connect is refused", not_connected)
    device.connect()
    try:

        def shapes() -> str | None:
            for name, spec in desc.inputs.items():
                device.apply({name: valid_input(spec)})
            chunks = device.read()
            missing = set(desc.streams) - set(chunks)
            if desc.clock == "stepped" and missing:
                return f"read() after input lacks streams {sorted(missing)}"
            for name, chunk in chunks.items():
                if name not in desc.streams:
                    return f"read() returned undeclared stream {name!r}"
                if p := _check_chunk(desc.streams[name], chunk.data):
                    return p
            return None

        check("read() matches declared streams", shapes)

        def limits() -> str | None:
            for name, spec in desc.inputs.items():
                bad = _bad_input(spec)
                if bad is None:
                    continue
                before = dict(device._last_sent)
                try:
                    device.apply({name: bad})
                except SafetyError:
                    pass
                else:
                    return f"input {name!r} = {bad.ravel()[0]} beyond {spec.limits} was accepted"
                if _sent_changed(device, before):
                    return f"input {name!r}: a refused value changed what was sent"
                try:
                    device.apply({name: np.full_like(bad, np.nan, dtype=float)})
                except (SafetyError, ValueError):
                    pass
                else:
                    return f"input {name!r}: NaN was accepted"
            return None

        check("limits are enforced before sending", limits)

        def malformed() -> str | None:
            for name, spec in desc.inputs.items():
                good = valid_input(spec, 2)
                records = np.zeros(good.shape, dtype=[("a", "<f4"), ("b", "<i4")])
                wrong = [("records", records), ("text", np.full(good.shape, "1"))]
                if spec.np_dtype.fields is None:
                    wrong.append(("an extra axis", good[..., None, None]))
                before = dict(device._last_sent)
                for what, bad in wrong:
                    try:
                        device.apply({name: bad})
                    except (ValueError, SafetyError):
                        continue
                    return f"input {name!r}: {what} ({bad.dtype}, {bad.shape}) was accepted"
                if _sent_changed(device, before):
                    return f"input {name!r}: a refused input changed what was sent"
            return None

        check("inputs of the wrong dtype or shape are refused", malformed)

        if desc.clock == "stepped":

            def determinism() -> str | None:
                runs = []
                for _ in range(2):
                    device.reset(seed=1234)
                    for name, spec in desc.inputs.items():
                        x = valid_input(spec, 8)
                        device.apply({name: x})
                    runs.append({k: c.data.copy() for k, c in device.read().items()})
                for k in runs[0]:
                    a, b = runs[0][k], runs[1][k]
                    if a.shape != b.shape or not np.array_equal(a, b):
                        return f"stream {k!r} differs after reset(seed=1234) with the same inputs"
                return None

            check("reset(seed) is deterministic", determinism)
    finally:

        def disconnect() -> str | None:
            device.disconnect()
            device.disconnect()
            if device.connected:
                return "still connected after disconnect()"
            try:
                device.read()
            except NotConnectedError:
                return None
            return "read() after disconnect() did not raise NotConnectedError"

        check("disconnect is clean and idempotent", disconnect)
    if reference is not None:
        check(
            f"sends what {reference.kind}:{reference.name} sends",
            lambda: same_as_sent(device, reference),
        )
    return _finish(rep, raise_on_failure)


def _finish(rep: CheckReport, raise_on_failure: bool) -> CheckReport:
    if raise_on_failure and rep.failed:
        raise ConformanceError(
            f"{rep.device} fails the device contract:\n  " + "\n  ".join(rep.failed)
        )
    return rep
