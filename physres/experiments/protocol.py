"""The experiment protocol shared by ``physres run`` and ``physres bench``.

Drive the training episodes, then the test episodes, fit the run's pipeline
(feature stages and readout; by default the task's readout alone) once on
the training states and score it on the test states; closed-loop tasks
(Mackey–Glass) add a free run. The device can be local or a bus proxy: the
protocol only sees the Device contract.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from physres.errors import DataError
from physres.experiments.controls import baseline_control, margin
from physres.experiments.drive import collect_states
from physres.experiments.substrate_control import substrate_control

if TYPE_CHECKING:
    from physres.device.base import Device
    from physres.tasks.base import Episode, Task, TaskData

__all__ = ["ProtocolResult", "baseline_metrics", "counts", "raw_input_control", "run_protocol"]


@dataclass
class ProtocolResult:
    """What a run produced: metrics, the states driven, the fitted pipeline, what was counted.

    ``readout`` is the fitted :class:`sklearn.pipeline.Pipeline` (its last
    step is the readout). ``counts`` holds ``n_{train,test}_sequences``
    (episodes) and ``n_{train,test}_samples`` (task steps after each
    episode's washout: the rows fitted and scored).
    """

    metrics: dict[str, Any]
    states_train: list[Any]
    states_test: list[Any]
    readout: Any
    timing_s: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def counts(data: TaskData) -> dict[str, int]:
    """What the readout saw, by name: sequences (episodes) and samples (task steps).

    A 4,000-step NARMA series is one sequence of 4,000 samples; a spoken-digit
    set is hundreds of short sequences. ``*_scored_samples`` drop each
    sequence's washout.
    """
    out: dict[str, int] = {}
    for split, eps in (("train", data.train), ("test", data.test)):
        steps = [ep.n_steps for ep in eps]
        out[f"n_{split}_sequences"] = len(eps)
        out[f"n_{split}_samples"] = int(sum(steps))
        out[f"n_{split}_scored_samples"] = int(sum(max(0, s - data.washout) for s in steps))
    out["washout_samples"] = int(data.washout)
    return out


def run_protocol(
    device: Device,
    task: Task,
    data: TaskData,
    *,
    seed: int = 0,
    reset_between: bool | None = None,
    chunk: int | None = None,
    input_rate_hz: float | None = None,
    timeout_s: float = 5.0,
    control: bool = True,
    progress: Callable[[str, int, int | None], None] | None = None,
    features: Sequence[Any] = (),
    readout: Any = None,
) -> ProtocolResult:
    """Drive → fit on train → score on test (→ free run) on a connected device.

    One long regression series is driven continuously (train then test, no
    reset, as a recording would be); classification episodes reset the
    device before each episode unless ``reset_between`` says otherwise.
    ``progress(phase, done, total)`` follows the drive in task steps; phases
    of unknown length (fit, free run) start with ``total=None``. ``features``
    and ``readout`` are stage specs (``kind`` + ``params``) for
    :func:`physres.readout.pipeline.build_pipeline`; by default the task's
    readout reads the device's state rows.
    """
    if reset_between is None:  # a living culture cannot be reset: its tasks say "continuous"
        reset_between = data.problem == "classification" and not data.meta.get("continuous")
    t0, c0 = time.perf_counter(), time.process_time()
    device.reset(seed)

    def prog(split: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda i, n: progress(split, i, n))

    def phase(name: str, done: bool) -> None:
        if progress is not None:
            progress(name, int(done), 1 if done else None)

    kw: dict[str, Any] = {
        "reset_between": reset_between,
        "seed": seed,
        "chunk": chunk,
        "input_rate_hz": input_rate_hz,
        "timeout_s": timeout_s,
        "flatten": False,
    }
    s_train = collect_states(device, data.train, task, progress=prog("train"), **kw)
    s_test = collect_states(device, data.test, task, progress=prog("test"), **kw)
    t_drive, c_drive = time.perf_counter() - t0, time.process_time() - c0
    phase("fit + score", False)
    pipe = task.pipeline(data, s_train, features=features, readout=readout)
    metrics = task.evaluate(s_train, data.train, s_test, data.test, data, pipeline=pipe)
    phase("fit + score", True)
    timing = {
        "drive_s": t_drive,
        "drive_cpu_s": c_drive,
        "fit_score_s": time.perf_counter() - t0 - t_drive,
    }
    timing.update(_device_time(device, task, data, input_rate_hz))
    events = bool(s_train) and hasattr(s_train[0], "events")
    if data.closed_loop and hasattr(task, "free_run_score") and events:
        # a free run feeds each prediction back as the next input; events are binned per
        # episode, not per step: the one-step score stands, the free run is said skipped
        metrics["free_run_skipped"] = "the device's state is an event stream"
    elif data.closed_loop and hasattr(task, "free_run_score"):
        t1 = time.perf_counter()
        phase("free run", False)
        free = task.free_run_score(device, pipe, data, seed=seed)
        phase("free run", True)
        metrics.update({k: float(v) for k, v in free.items()})
        timing["free_run_s"] = time.perf_counter() - t1
    if control:
        metrics.update(raw_input_control(task, data, features=features, readout=readout))
        metrics.update(baseline_metrics(task, data, task.predict(pipe, s_test), seed=seed))
        metrics.update(
            substrate_control(device, task, data, features=features, readout=readout, **kw)
        )
    n = counts(data)
    if s_train and hasattr(s_train[0], "events"):  # event windows: what the device reported
        n["n_device_events"] = sum(len(w.events) for w in (*s_train, *s_test))
    return ProtocolResult(metrics, s_train, s_test, pipe, timing, n)


def _device_time(
    device: Device, task: Task, data: TaskData, input_rate_hz: float | None
) -> dict[str, float]:
    """``device_s``: seconds of device time the train and test drive covered (rate known)."""
    from physres.experiments.drive import select_input

    try:
        rate = select_input(device.describe()).rate_hz or input_rate_hz
    except DataError:  # a device with several inputs: the drive named one; no cost figure
        return {}
    if not rate:
        return {}
    steps = sum(ep.n_steps for ep in (*data.train, *data.test))
    return {"device_s": steps * task.params.hold / rate}


def raw_input_control(
    task: Task, data: TaskData, *, features: Sequence[Any] = (), readout: Any = None
) -> dict[str, float]:
    """The same readout on the task's raw inputs, at the same time resolution.

    This is the control that shows the substrate is doing the work: a linear
    readout of the inputs themselves cannot compute XOR or remember the past,
    so the substrate's score must beat this one to claim any computation. It
    is a weak control; :func:`baseline_metrics` adds the strongest cheap one.
    Feature stages that read plain rows (delays, pooling) are kept, so the
    control gets whatever they contribute on their own; stages for frames or
    events are dropped.
    """

    def raw(eps: Sequence[Episode]) -> list[Any]:
        return [ep.u for ep in eps]

    pipe = task.pipeline(data, features=features, readout=readout, rows_only=True)
    m = task.evaluate(raw(data.train), data.train, raw(data.test), data.test, data, pipeline=pipe)
    return {f"control_raw_input_{task.metric}": float(m[task.metric])}


def baseline_metrics(
    task: Task, data: TaskData, predictions: Any, *, seed: int = 0
) -> dict[str, Any]:
    """The strongest cheap baseline on the raw inputs and the substrate's margin over it.

    ``control_baseline_<metric>`` is the baseline's score
    (:func:`physres.experiments.controls.baseline_control`: delay-embedded
    ridge for per-step tasks, pooled statistics for sequence labels, alpha by
    CV on train); ``control_baseline_model`` and ``control_baseline_alpha``
    say what it was. ``margin_over_baseline`` (positive: the substrate is
    better) carries ``margin_ci95`` and ``margin_ci_method``. Where the
    training split is too small to cross-validate, ``control_baseline_error``
    says why and the run goes on.
    """
    try:
        base = baseline_control(task, data, seed=seed)
    except DataError as e:  # too little data to cross-validate: say so, keep the run
        return {"control_baseline_error": str(e)}
    out: dict[str, Any] = {
        f"control_baseline_{task.metric}": float(base.metrics[task.metric]),
        "control_baseline_model": base.model,
        "control_baseline_alpha": base.alpha,
    }
    out.update(margin(task, data, predictions, base, seed=seed))
    return out
