"""The experiment protocol shared by ``physres run`` and ``physres bench``.

Drive the training episodes, then the test episodes, fit the task's readout
on the training states only and score it on the test states; closed-loop
tasks (Mackey–Glass) add a free run. The device can be local or a bus proxy:
the protocol only sees the Device contract.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from physres.experiments.drive import collect_states

if TYPE_CHECKING:
    from physres.device.base import Device
    from physres.tasks.base import Task, TaskData

__all__ = ["ProtocolResult", "raw_input_control", "run_protocol"]


@dataclass
class ProtocolResult:
    metrics: dict[str, float]
    states_train: list[np.ndarray]
    states_test: list[np.ndarray]
    readout: Any
    timing_s: dict[str, float] = field(default_factory=dict)


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
) -> ProtocolResult:
    """Drive → fit on train → score on test (→ free run) on a connected device.

    One long regression series is driven continuously (train then test, no
    reset, as a recording would be); classification episodes reset the
    device before each episode unless ``reset_between`` says otherwise.
    ``progress(phase, done, total)`` follows the drive in task steps; phases
    of unknown length (fit, free run) start with ``total=None``.
    """
    if reset_between is None:
        reset_between = data.kind == "classification"
    t0 = time.perf_counter()
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
    }
    s_train = collect_states(device, data.train, task, progress=prog("train"), **kw)
    s_test = collect_states(device, data.test, task, progress=prog("test"), **kw)
    t_drive = time.perf_counter() - t0
    phase("fit + score", False)
    metrics = task.evaluate(s_train, data.train, s_test, data.test, data)
    readout = task.fit_readout(s_train, data.train, data)
    phase("fit + score", True)
    timing = {"drive_s": t_drive, "fit_score_s": time.perf_counter() - t0 - t_drive}
    if data.closed_loop and hasattr(task, "free_run_score"):
        t1 = time.perf_counter()
        phase("free run", False)
        free = task.free_run_score(device, readout, data, seed=seed)
        phase("free run", True)
        metrics.update({k: float(v) for k, v in free.items()})
        timing["free_run_s"] = time.perf_counter() - t1
    if control:
        metrics.update(raw_input_control(task, data))
    return ProtocolResult(metrics, s_train, s_test, readout, timing)


def raw_input_control(task: Task, data: TaskData) -> dict[str, float]:
    """The same readout on the task's raw inputs, at the same time resolution.

    This is the control that shows the substrate is doing the work: a linear
    readout of the inputs themselves cannot compute XOR or remember the past,
    so the substrate's score must beat this one to claim any computation.
    """
    m = task.evaluate(
        [ep.u for ep in data.train], data.train, [ep.u for ep in data.test], data.test, data
    )
    return {f"control_raw_input_{task.metric}": float(m[task.metric])}
