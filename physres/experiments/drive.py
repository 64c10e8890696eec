"""The one drive loop: task episodes in, per-task-step state matrices out.

Every substrate (a simulator, a mock, real hardware, or a bus proxy with the
same :class:`~physres.device.Device` API) is driven the same way:

1. ``task.encode`` turns an episode's task inputs into the device's input
   array (channel mapping, gain/offset into the limits, ``hold`` device
   samples per task step);
2. the array goes to ``device.apply`` in chunks; after each chunk
   ``device.read`` collects the chosen state stream;
3. the samples are aligned to task steps from the declared rates (a stream
   at rate r_s driven by an input at rate r_i yields ``hold * r_s / r_i``
   samples per task step), pooled per step (mean or last) and flattened
   (a frame or an array becomes one feature row) unless ``flatten=False``
   keeps their shape for a frame feature stage;
4. an event stream (spikes, address events: ``(t_ns, channel)`` records) is
   not pooled: each episode becomes an
   :class:`~physres.readout.features.EventWindow` holding its events and the
   task-step grid (start time, step length), and the ``events`` feature
   stage bins them.

Stepped simulators return their samples on the read that follows the apply;
wall-clock devices are polled until the episode's samples have arrived (the
alignment assumes the stream's samples start with the first apply, which is
why each episode starts by discarding anything already buffered).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from physres.device.spec import Description, InputSpec, StreamSpec
from physres.errors import DataError, DeviceTimeout
from physres.readout.features import EventWindow

if TYPE_CHECKING:
    from physres.device.base import Device
    from physres.tasks.base import Episode, Task

__all__ = ["collect_states", "free_run", "select_input", "select_stream", "steps_to_samples"]

Pool = Literal["mean", "last"]
_STREAM_PREFERENCE = ("state", "frame", "continuous")


def _numeric(spec: StreamSpec) -> bool:
    """Fixed-size plain-number samples (not events, not structured records)."""
    return not spec.np_dtype.fields and all(s is not None for s in spec.shape)


def _events(spec: StreamSpec) -> bool:
    """An event stream: records with ``t_ns`` and ``channel`` fields."""
    names = spec.np_dtype.names or ()
    return spec.carries == "events" and "t_ns" in names and "channel" in names


def select_stream(desc: Description, stream: str | None = None) -> StreamSpec:
    """The stream read as reservoir state: ``stream`` if given, else the first
    numeric fixed-shape stream carrying "state", else "frame", else "continuous",
    else an event stream (``t_ns``/``channel`` records)."""
    if stream is not None:
        if stream not in desc.streams:
            raise DataError(
                f"device {desc.name!r} has no stream {stream!r}; its streams are "
                f"{sorted(desc.streams)}"
            )
        spec = desc.streams[stream]
    else:
        spec = next(
            (
                s
                for carries in _STREAM_PREFERENCE
                for s in desc.streams.values()
                if s.carries == carries and _numeric(s)
            ),
            None,
        )
        if spec is None:
            spec = next((s for s in desc.streams.values() if _events(s)), None)
        if spec is None:
            raise DataError(
                f"device {desc.name!r} has no stream carrying {'/'.join(_STREAM_PREFERENCE)} "
                f"or events; name one with stream= (streams: {sorted(desc.streams)})"
            )
    if not _numeric(spec) and not _events(spec):
        raise DataError(
            f"stream {desc.name}/{spec.name} ({spec.carries}, dtype {spec.np_dtype}, shape "
            f"{spec.shape}) is neither a fixed-size numeric sample nor events with t_ns and "
            "channel fields"
        )
    return spec


def select_input(desc: Description, input_name: str | None = None) -> InputSpec:
    """The input the task drives: ``input_name`` if given, else the device's only input,
    else its only fixed-size numeric one (a chip's ``u`` beside its event input)."""
    if input_name is not None:
        if input_name not in desc.inputs:
            raise DataError(
                f"device {desc.name!r} has no input {input_name!r}; its inputs are "
                f"{sorted(desc.inputs)}"
            )
        return desc.inputs[input_name]
    if len(desc.inputs) == 1:
        return next(iter(desc.inputs.values()))
    # tasks drive fixed-size plain-number inputs only: an event input is never the task's
    plain = [s for s in desc.inputs.values() if _plain_input(s)]
    if len(plain) != 1:
        raise DataError(
            f"device {desc.name!r} has inputs {sorted(desc.inputs)}; name the one to drive "
            "with input_name="
        )
    return plain[0]


def _plain_input(spec: InputSpec) -> bool:
    return not spec.np_dtype.fields and all(s is not None for s in spec.shape)


def steps_to_samples(
    spec_in: InputSpec, spec_out: StreamSpec, hold: int, input_rate_hz: float | None = None
) -> float:
    """Stream samples per task step: ``hold`` times the stream/input rate ratio (1 if unknown)."""
    rate_in = spec_in.rate_hz or input_rate_hz
    if rate_in and spec_out.rate_hz:
        return hold * spec_out.rate_hz / rate_in
    return float(hold)


def _pool(samples: np.ndarray, n_steps: int, per_step: float, pool: Pool) -> np.ndarray:
    """Pool ``samples`` (n, F) into ``n_steps`` rows; a step with no sample of its own
    takes the latest sample before its end (sample-and-hold of a slow stream)."""
    edges = np.floor(np.arange(n_steps + 1) * per_step + 1e-9).astype(np.int64)
    starts, ends = edges[:-1], edges[1:]
    last = np.clip(ends - 1, 0, len(samples) - 1)
    if pool == "last":
        return samples[last]
    empty = ends <= starts
    if not empty.any():
        return np.add.reduceat(samples, starts, axis=0) / (ends - starts)[:, None]
    out = samples[last].copy()
    full = ~empty
    if full.any():
        sums = np.add.reduceat(samples, np.minimum(starts, len(samples) - 1), axis=0)
        out[full] = sums[full] / (ends - starts)[full, None]
    return out


@dataclass(frozen=True)
class _Plan:
    """What one drive loop needs to know, resolved once from the description."""

    spec_in: InputSpec
    spec_out: StreamSpec
    wall: bool
    chunk: int
    pool: Pool
    timeout_s: float
    input_rate_hz: float | None
    flatten: bool = True
    n_channels: int | None = None

    @property
    def events(self) -> bool:
        return _events(self.spec_out)


def _plan(
    device: Device,
    *,
    chunk: int | None,
    pool: str,
    stream: str | None,
    input_name: str | None,
    timeout_s: float,
    input_rate_hz: float | None,
    flatten: bool = True,
) -> _Plan:
    if pool not in ("mean", "last"):
        raise DataError(f"pool must be 'mean' or 'last', got {pool!r}")
    desc = device.describe()
    wall = desc.clock == "wall"
    chunk = chunk if chunk is not None else (1 if wall else 1000)
    if chunk < 1:
        raise DataError(f"chunk must be >= 1 task step, got {chunk}")
    spec_in = select_input(desc, input_name)
    rate = spec_in.rate_hz or input_rate_hz
    if wall and not rate:
        raise DataError(
            f"{desc.name}.{spec_in.name} declares no rate_hz; a wall-clock device needs "
            "input_rate_hz= (device input samples per second) to pace the task"
        )
    return _Plan(
        spec_in,
        select_stream(desc, stream),
        wall,
        chunk,
        pool,  # type: ignore[arg-type]
        timeout_s,
        rate,
        flatten,
        desc.meta.get("n_channels"),
    )


def _last_sent(device: Device, spec: InputSpec) -> np.ndarray | None:
    """The last value the device was sent on ``spec`` (needed to ramp slew-limited inputs)."""
    if spec.limits.max_step is None:
        return None
    sent = device.status().get("last_sent", {}).get(spec.name)
    return None if sent is None else np.asarray(sent, dtype=np.float64)


def _drive(
    device: Device,
    u: np.ndarray,
    task: Task,
    plan: _Plan,
    on_chunk: Callable[[int], None] | None = None,
) -> Any:
    """Drive task inputs ``u`` (T, n_in) through the device; states per task step.

    Rows (T, F), samples (T, *shape) when ``plan.flatten`` is off, or an
    :class:`EventWindow` for an event stream. ``on_chunk(steps)`` is told how
    many task steps each apply covered.
    """
    hold = task.params.hold
    spec_in, spec_out = plan.spec_in, plan.spec_out
    enc = task.encode(u, spec_in, previous=_last_sent(device, spec_in))
    if plan.events:
        return _drive_events(device, enc, u.shape[0], hold, plan)
    per_step = steps_to_samples(spec_in, spec_out, hold, plan.input_rate_hz)
    need = math.floor(u.shape[0] * per_step + 1e-9)
    if need == 0:
        raise DataError(
            f"{device.name}/{spec_out.name}: {u.shape[0]} task steps give no samples "
            f"({per_step:g} per step); raise hold"
        )
    got: list[np.ndarray] = []
    n_got = 0

    def take(chunks: Mapping[str, Any]) -> None:
        nonlocal n_got
        c = chunks.get(spec_out.name)
        if c is not None and len(c.data):
            got.append(c.data)
            n_got += len(c.data)

    step = plan.chunk * hold
    t0 = time.monotonic()
    for start in range(0, len(enc), step):
        if plan.wall:  # pace a real-time device: sample k goes out at t0 + k / rate
            assert plan.input_rate_hz
            delay = t0 + start / plan.input_rate_hz - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        device.apply({spec_in.name: enc[start : start + step]})
        take(device.read())
        if on_chunk is not None:
            on_chunk(min(plan.chunk, u.shape[0] - start // hold))
    if plan.wall:
        deadline = time.monotonic() + plan.timeout_s
        while n_got < need and time.monotonic() < deadline:
            time.sleep(0.001)
            take(device.read())
    if n_got < need:
        err = DeviceTimeout if plan.wall else DataError
        raise err(
            f"{device.name}/{spec_out.name} gave {n_got} samples for {u.shape[0]} task steps; "
            f"expected {need} ({per_step:g} per step from hold {hold} and the declared rates)"
        )
    data = np.concatenate(got)[:need]
    feats = data.reshape(need, -1).astype(np.float64, copy=False)
    rows = _pool(feats, u.shape[0], per_step, plan.pool)
    return rows if plan.flatten else rows.reshape(len(rows), *data.shape[1:])


def _drive_events(device: Device, enc: np.ndarray, n_steps: int, hold: int, plan: _Plan) -> Any:
    """Apply an episode and keep its events with the task-step grid they fall on.

    The grid starts at the device time of the episode's first input (the
    first chunk's ``t_dev_ns``); a step lasts ``hold`` input samples. A
    wall-clock device (a chip behind a bridge) is paced like any real-time
    device, then read until its clock (``now_ns()``) has passed the episode's
    last step, or ``timeout_s``.
    """
    spec_in, spec_out = plan.spec_in, plan.spec_out
    if not plan.input_rate_hz:
        raise DataError(
            f"{device.name}/{spec_out.name}: event streams are binned on the input's time grid; "
            f"input {spec_in.name!r} must declare rate_hz"
        )
    step_ns = round(hold * 1e9 / plan.input_rate_hz)
    events: list[np.ndarray] = []
    t0: int | None = None
    step = plan.chunk * hold

    def take() -> None:
        nonlocal t0
        c = device.read().get(spec_out.name)
        if c is None:
            raise DataError(f"{device.name}: read() gave no {spec_out.name!r} chunk after apply")
        if t0 is None:
            t0 = int(c.t_dev_ns)
        if len(c.data):
            events.append(c.data)

    start_s = time.monotonic()
    for start in range(0, len(enc), step):
        if plan.wall:  # pace a real-time device: sample k goes out at t0 + k / rate
            delay = start_s + start / plan.input_rate_hz - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        device.apply({spec_in.name: enc[start : start + step]})
        take()
    assert t0 is not None
    if plan.wall:
        deadline = time.monotonic() + plan.timeout_s
        while device.now_ns() < t0 + n_steps * step_ns and time.monotonic() < deadline:
            time.sleep(0.001)
            take()
    ev = np.concatenate(events) if events else np.zeros(0, dtype=spec_out.np_dtype)
    return EventWindow(ev, t0, step_ns, n_steps, plan.n_channels)


def collect_states(
    device: Device,
    episodes: Sequence[Episode],
    task: Task,
    *,
    chunk: int | None = None,
    pool: Pool = "mean",
    reset_between: bool = True,
    seed: int | None = None,
    stream: str | None = None,
    input_name: str | None = None,
    input_rate_hz: float | None = None,
    timeout_s: float = 5.0,
    progress: Callable[[int, int], None] | None = None,
    flatten: bool = True,
) -> list[Any]:
    """Drive each episode through a connected ``device``; one ``(T, F)`` array per episode.

    ``chunk`` task steps go to each ``apply`` call, then one ``read``
    (default 1000 for stepped simulators, 1 for wall-clock devices, which
    are paced in real time at the input's rate, or ``input_rate_hz`` where
    the input declares none). ``reset_between`` resets the device (with
    ``seed``) before every episode; without it the device carries on from
    the previous episode, as one long recording would. ``stream`` and
    ``input_name`` override the automatic choice (:func:`select_stream`,
    :func:`select_input`). Wall-clock devices get ``timeout_s`` after the
    last apply to deliver the episode's samples. ``progress(done, total)``
    counts task steps over all episodes and is called after every chunk, so
    one long series moves as smoothly as many short episodes. ``flatten=False``
    keeps each sample's shape (``(T, H, W)`` frames for a frame feature stage);
    an event stream gives one :class:`EventWindow` per episode.
    """
    plan = _plan(
        device,
        chunk=chunk,
        pool=pool,
        stream=stream,
        input_name=input_name,
        timeout_s=timeout_s,
        input_rate_hz=input_rate_hz,
        flatten=flatten,
    )
    out: list[Any] = []
    total = sum(ep.n_steps for ep in episodes)
    done = 0

    def on_chunk(steps: int) -> None:
        nonlocal done
        done += steps
        if progress is not None:
            progress(done, total)

    on_chunk(0)  # the clock starts with the first chunk, not after it

    for ep in episodes:
        if reset_between:
            device.reset(seed)
        device.read()  # drop anything buffered before this episode's first input
        out.append(_drive(device, ep.u, task, plan, on_chunk))
    return out


def free_run(
    device: Device,
    task: Task,
    readout: Any,
    warmup: np.ndarray,
    *,
    horizon: int,
    pool: Pool = "mean",
    reset: bool = True,
    seed: int | None = None,
    stream: str | None = None,
    input_name: str | None = None,
    input_rate_hz: float | None = None,
    timeout_s: float = 5.0,
) -> np.ndarray:
    """Closed loop: drive ``warmup`` (T, n_in), then feed the readout's predictions back.

    The readout (fitted by ``task.fit_readout`` to predict the next input
    from the current state) predicts step by step; each prediction is encoded
    and applied as the next input. Returns the ``horizon`` predictions
    ``(horizon, n_out)`` in task units; the first is made from the last
    warm-up state.
    """
    plan = _plan(
        device,
        chunk=None,
        pool=pool,
        stream=stream,
        input_name=input_name,
        timeout_s=timeout_s,
        input_rate_hz=input_rate_hz,
    )
    if plan.events:
        raise DataError(
            f"{device.name}/{plan.spec_out.name}: a free run feeds predictions back step by "
            "step; it needs a numeric state stream, not events"
        )
    warmup = np.asarray(warmup, dtype=np.float64).reshape(len(warmup), -1)
    if reset:
        device.reset(seed)
    device.read()
    x = _drive(device, warmup, task, plan)[-1:]
    preds = []
    for k in range(horizon):
        p = np.asarray(task.predict(readout, [x])[0]).reshape(1, -1)
        if p.shape[1] != warmup.shape[1]:
            raise DataError(
                f"free run feeds predictions back as input: the readout gives {p.shape[1]} "
                f"outputs for {warmup.shape[1]} inputs"
            )
        preds.append(p[0])
        if k < horizon - 1:
            x = _drive(device, p, task, plan)
    return np.asarray(preds)
