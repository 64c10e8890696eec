"""``physres run``: config → run folder with recording, metrics, plots and provenance.

The run is three parts, each with one home: the folder and its files
(:mod:`physres.experiments.artifacts`), what is held open while driving —
bus, device nodes, recorder — (:mod:`physres.experiments.lifecycle`), and the
protocol that drives, fits and scores (:mod:`physres.experiments.protocol`).
This module only orders them. The folder gets:

* ``config.yaml`` — the resolved config (defaults filled in);
* ``run.json`` — versions, seeds, host, start/stop times, recording counts,
  and how the run ended (``status`` ok / failed / interrupted, ``reason``),
  written before the drive starts and again however the run ends;
* ``metrics.json`` — machine-readable results (``status`` too);
* ``recording.mcap`` — everything that crossed the bus for the run's topics;
* plots (:mod:`physres.experiments.plots`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from physres import registry, tasks
from physres.config import RunConfig
from physres.errors import ConfigError
from physres.experiments.artifacts import (
    RunRecord,
    outcome,
    prepare_run_folder,
    versions,
    write_config,
    write_metrics,
)
from physres.experiments.lifecycle import RunSession, device_params
from physres.experiments.protocol import counts as sample_counts
from physres.progress import PhaseBars, progress_bar

__all__ = ["run_experiment", "sample_counts", "versions"]


def run_experiment(
    cfg: RunConfig,
    out: Path,
    *,
    config_path: Path | None = None,
    console: Console | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run ``cfg`` into folder ``out``; returns what ``metrics.json`` holds.

    Config mistakes raise before the folder is touched; from then on the run
    always leaves ``run.json`` saying how it ended, and re-raises what ended
    it (KeyboardInterrupt included).
    """
    console = console or Console(quiet=not progress)
    if cfg.task is None:
        raise ConfigError(f"{config_path or 'config'}: `physres run` needs a task: section")
    task_params = dict(cfg.task.params)
    if cfg.readout.alpha is not None:
        task_params["alpha"] = cfg.readout.alpha
    task = tasks.create(cfg.task.kind, **task_params)
    target = cfg.task.device or next(iter(cfg.devices))
    _check_stages(cfg, target)
    prepare_run_folder(out, overwrite=overwrite)
    write_config(out, cfg)
    record = RunRecord(
        out,
        name=cfg.name,
        config=str(config_path) if config_path else None,
        seed=cfg.seed,
        task=cfg.task.kind,
        device=target,
        via=cfg.drive.via,
    )
    result: dict[str, Any] = {"status": "running"}
    t0 = time.perf_counter()
    session: RunSession | None = None
    try:
        data = task.generate(cfg.seed)
        recording = out / "recording.mcap" if cfg.record.enabled else None
        session = RunSession(
            cfg,
            target,
            bus=cfg.bus,
            n_inputs=data.n_inputs,
            recording=recording,
            say=console.print,
        )
        with session, progress_bar(console, disable=not progress) as bars:
            on_progress = PhaseBars(bars, f"{cfg.task.kind} on {target}")
            res = _protocol(session, task, data, cfg, on_progress)
            trace = (
                None
                if "free_run_skipped" in res.metrics
                else _free_run_trace(session, task, res.readout, data, cfg.seed)
            )
        result = {
            "status": "ok",
            "task": cfg.task.kind,
            "device": target,
            "kind": cfg.devices[target].kind,
            "metric": task.metric,
            "value": float(res.metrics[task.metric]),
            "metrics": res.metrics,
            "timing_s": {**res.timing_s, "total_s": time.perf_counter() - t0},
            **res.counts,
        }
        if cfg.reference is not None:
            ref = result["reference"] = _reference(cfg, task, data)
            result["metrics"][f"reference_{ref['kind']}_{task.metric}"] = ref["metrics"][
                task.metric
            ]
        _write_plots(out, result, task, data, res, session, trace)
    except BaseException as e:
        result = {**result, "status": outcome(e)[0], "reason": outcome(e)[1]}
        _finish(out, record, session, result, e)
        raise
    _finish(out, record, session, result, None)
    _summary(console, cfg, result, out, record.info)
    return result


def _check_stages(cfg: RunConfig, target: str) -> None:
    """The configured feature stages can read the stream the run will read (no I/O)."""
    from physres.experiments.drive import _events, select_stream
    from physres.readout.pipeline import check_stream

    if not cfg.features:
        return
    dc = cfg.devices[target]
    try:
        desc = registry.create(dc.kind, target, device_params(dc.kind, dc.params, None)).describe()
        spec = select_stream(desc)
    except Exception:  # the run itself reports a device it cannot build
        return
    events = _events(spec)
    ndim = 1 + len(spec.shape) if not events else 2
    try:
        check_stream(cfg.features, spec.name, events=events, sample_ndim=ndim)
    except ConfigError as e:
        raise ConfigError(f"{cfg.name}: features: {e}") from e


def _protocol(
    session: RunSession, task: Any, data: Any, cfg: RunConfig, on_progress: PhaseBars
) -> Any:
    """The run's one call into the protocol (drive → fit → score → controls)."""
    from physres.experiments.protocol import run_protocol

    assert session.device is not None
    return run_protocol(
        session.device,
        task,
        data,
        seed=cfg.seed,
        chunk=cfg.drive.chunk,
        input_rate_hz=cfg.drive.rate_hz,
        timeout_s=cfg.drive.timeout_s,
        progress=on_progress,
        features=cfg.features,
        readout=cfg.readout,
    )


def _free_run_trace(
    session: RunSession, task: Any, readout: Any, data: Any, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """One closed-loop trial again, for its plot: (driven warm-up, truth, free-run prediction).

    The protocol scores every trial but keeps no trajectory; this repeats the
    first trial with the same seed, so it is the one the score starts from.
    """
    horizon = getattr(task.params, "horizon", None)
    if not data.closed_loop or horizon is None:
        return None
    from physres.experiments.drive import free_run

    ep = data.closed_loop[0]
    warm, truth = ep.u[: ep.n_steps - horizon], ep.u[ep.n_steps - horizon :]
    assert session.device is not None
    pred = free_run(session.device, task, readout, warm, horizon=horizon, seed=seed)
    return warm, truth, pred


def _reference(cfg: RunConfig, task: Any, data: Any) -> dict[str, Any]:
    """The reference substrate on the same data (local, not recorded)."""
    from physres.experiments.protocol import run_protocol

    assert cfg.reference is not None
    kind = cfg.reference.kind
    params = device_params(kind, dict(cfg.reference.params), data.n_inputs)
    with registry.create(kind, "reference", params) as ref:
        ref_res = run_protocol(ref, task, data, seed=cfg.seed, control=False)
    return {"kind": kind, "metrics": ref_res.metrics}


def _write_plots(
    out: Path,
    result: dict[str, Any],
    task: Any,
    data: Any,
    res: Any,
    session: RunSession,
    trace: Any,
) -> None:
    from physres.experiments.drive import select_stream
    from physres.experiments.plots import write_plots

    assert session.description is not None
    spec = select_stream(session.description)
    frame_shape = tuple(spec.shape) if spec.carries == "frame" and len(spec.shape) == 2 else None
    paths = write_plots(
        out,
        result=result,
        task=task,
        data=data,
        states_test=res.states_test,
        readout=res.readout,
        frame_shape=frame_shape,
        free_run=trace,
    )
    result["plots"] = {k: p.name for k, p in paths.items()}


def _finish(
    out: Path,
    record: RunRecord,
    session: RunSession | None,
    result: dict[str, Any],
    exc: BaseException | None,
) -> None:
    """``run.json`` and ``metrics.json`` as the run ended (called exactly once)."""
    if session is not None and session.recording_stats is not None:
        record.info["recording"] = session.recording_stats
    record.finish(exc)
    write_metrics(out, result)
    if session is not None and session.recording_stats is not None:
        _export_nwb(out, record, session.cfg.devices[session.target].kind)


def _export_nwb(out: Path, record: RunRecord, kind: str) -> None:
    """An MEA run also leaves ``recording.nwb`` (what was recorded, however the run ended)."""
    from physres.mea.nwb import export_after_run, is_mea_kind

    if is_mea_kind(kind) and (out / "recording.mcap").is_file():
        record.info["nwb"] = export_after_run(out)
        record.write()


def _summary(
    console: Console, cfg: RunConfig, result: dict[str, Any], out: Path, run_info: dict[str, Any]
) -> None:
    table = Table(title=f"physres run {cfg.name}", show_header=False)
    table.add_row("task", str(result.get("task")))
    table.add_row("device", f"{result.get('device')} ({result.get('kind')})")
    for k, v in sorted((result.get("metrics") or {}).items()):
        if not k.startswith("r2_"):
            table.add_row(k, f"{v:.6g}" if isinstance(v, float) else str(v))
    table.add_row(
        "data",
        f"train {result['n_train_sequences']} sequences / {result['n_train_samples']} samples, "
        f"test {result['n_test_sequences']} / {result['n_test_samples']}",
    )
    rec = run_info.get("recording") or {}
    if rec:
        table.add_row(
            "recorded", f"{rec.get('messages', 0)} messages, {rec.get('dropped', 0)} dropped"
        )
    table.add_row("run folder", str(out))
    console.print(table)
