"""``physres run``: config → run folder with recording, metrics and provenance.

A run starts a broker in-process when none answers, puts every configured
device on the bus (one :class:`~physres.device.node.DeviceNode` each), records
their topics to ``recording.mcap``, drives the task through a
:class:`~physres.device.remote.RemoteDevice` proxy, fits and scores the
readout, and writes:

* ``config.yaml`` — the resolved config (defaults filled in);
* ``run.json`` — versions, seeds, host, start/stop times, drop and garbage
  counts, and how the run ended (``status``/``reason``);
* ``metrics.json`` — machine-readable results;
* ``recording.mcap`` — everything that crossed the bus for the run's topics.

Whatever happens, the recorder is stopped with the reason, so a run that
fails half-way keeps (and explains) everything recorded up to that moment.
"""

from __future__ import annotations

import json
import platform
import socket
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
import zmq
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from physres import __version__, registry
from physres.config import RunConfig
from physres.errors import ConfigError

__all__ = ["run_experiment", "versions"]


def versions() -> dict[str, str]:
    import scipy
    import sklearn

    return {
        "physres": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(),
        "platform": platform.platform(),
    }


def _device_params(cfg: RunConfig, name: str, n_inputs: int | None) -> dict[str, Any]:
    """Config params, plus the task's input count where the kind takes ``n_inputs``."""
    dev = cfg.devices[name]
    params = dict(dev.params)
    cls, _ = registry.resolve(dev.kind)
    if n_inputs is not None and "n_inputs" in getattr(cls.Params, "model_fields", {}):
        params.setdefault("n_inputs", n_inputs)
    return params


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return str(x)
    return x


def run_experiment(
    cfg: RunConfig,
    out: Path,
    *,
    config_path: Path | None = None,
    console: Console | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run ``cfg`` into folder ``out``; returns what ``metrics.json`` holds."""
    from physres import tasks
    from physres.bus import ensure_broker
    from physres.bus.record import Recorder
    from physres.device.node import DeviceNode
    from physres.device.remote import RemoteDevice
    from physres.experiments.protocol import run_protocol

    console = console or Console(quiet=not progress)
    if cfg.task is None:
        raise ConfigError(f"{config_path or 'config'}: `physres run` needs a task: section")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    task = tasks.create(cfg.task.kind, **cfg.task.params)
    if cfg.readout.alpha is not None:
        task = tasks.create(cfg.task.kind, **{**cfg.task.params, "alpha": cfg.readout.alpha})
    target = cfg.task.device or next(iter(cfg.devices))
    data = task.generate(cfg.seed)
    run_info: dict[str, Any] = {
        "name": cfg.name,
        "config": str(config_path) if config_path else None,
        "seed": cfg.seed,
        "host": socket.gethostname(),
        "argv": sys.argv,
        "versions": versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "task": cfg.task.kind,
        "device": target,
        "via": cfg.drive.via,
        "status": "running",
    }
    (out / "run.json").write_text(json.dumps(run_info, indent=2))
    result: dict[str, Any] = {"status": "failed"}
    ctx = zmq.Context()
    broker = nodes = recorder = proxy = None
    t0 = time.perf_counter()
    try:
        devices = {
            name: registry.create(dc.kind, name, _device_params(cfg, name, data.n_inputs))
            for name, dc in cfg.devices.items()
        }
        if cfg.drive.via == "bus":
            broker = ensure_broker(cfg.bus, ctx)
            nodes = [DeviceNode(d, cfg.bus, ctx).start() for d in devices.values()]
            if cfg.record.enabled:
                topics = cfg.record.topics or [f"{n}/" for n in devices]
                recorder = Recorder(
                    out / "recording.mcap",
                    topics,
                    cfg.bus,
                    ctx,
                    flush_s=cfg.record.flush_s,
                    metadata={"run": cfg.name, "seed": str(cfg.seed)},
                ).start()
            # a stepped device's outputs may take as long as its chunk takes in real time
            # (firmware in the loop runs at wall-clock pace): wait at least drive.timeout_s
            proxy = RemoteDevice(
                target, cfg=cfg.bus, ctx=ctx, timeout_s=max(30.0, cfg.drive.timeout_s)
            ).connect()
            device = proxy
        else:
            device = devices[target].connect()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not progress,
        ) as bar:
            bars: dict[str, Any] = {}

            def on_progress(split: str, i: int, n: int) -> None:
                if split not in bars:
                    bars[split] = bar.add_task(f"{cfg.task.kind} on {target}: {split}", total=n)
                bar.update(bars[split], completed=i)

            res = run_protocol(
                device,
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
        result = {
            "status": "ok",
            "task": cfg.task.kind,
            "device": target,
            "kind": cfg.devices[target].kind,
            "metric": task.metric,
            "value": float(res.metrics[task.metric]),
            "metrics": res.metrics,
            "timing_s": {**res.timing_s, "total_s": time.perf_counter() - t0},
            "n_train": len(data.train),
            "n_test": len(data.test),
            **res.counts,
        }
        if cfg.reference is not None:
            ref_kind = cfg.reference.kind
            ref_params = dict(cfg.reference.params)
            cls, _ = registry.resolve(ref_kind)
            if "n_inputs" in getattr(cls.Params, "model_fields", {}):
                ref_params.setdefault("n_inputs", data.n_inputs)
            with registry.create(ref_kind, "reference", ref_params) as ref:
                ref_res = run_protocol(ref, task, data, seed=cfg.seed, control=False)
            result["reference"] = {"kind": ref_kind, "metrics": ref_res.metrics}
            result["metrics"][f"reference_{ref_kind}_{task.metric}"] = ref_res.metrics[task.metric]
        _plot(out, res, data, task, devices[target].describe())
        run_info["status"], run_info["reason"] = "ok", "completed"
    except BaseException as e:
        run_info["status"] = "failed"
        run_info["reason"] = f"{type(e).__name__}: {e}"
        result = {"status": "failed", "reason": run_info["reason"]}
        raise
    finally:
        if proxy is not None:
            proxy.disconnect()
        if recorder is not None:
            recorder.stop(run_info.get("reason", "stopped"))
            run_info["recording"] = {"file": "recording.mcap", **_jsonable(recorder.stats)}
        if cfg.drive.via == "local":
            for d in devices.values() if "devices" in locals() else []:
                d.disconnect()
        for n in nodes or []:
            n.stop()
        if broker is not None:
            broker.stop()
        ctx.destroy(linger=0)
        run_info["stopped"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        (out / "run.json").write_text(json.dumps(_jsonable(run_info), indent=2))
        (out / "metrics.json").write_text(json.dumps(_jsonable(result), indent=2))
    _summary(console, cfg, result, out, run_info)
    return result


def _plot(out: Path, res: Any, data: Any, task: Any, desc: Any) -> None:
    """What a person checks first: state traces, frames (if any), readout vs target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from physres.experiments.drive import select_stream

    first = res.states_test[0]  # plotted as the readout's input rows (after feature stages)
    x = np.asarray(res.readout[:-1].transform([first])[0] if len(res.readout) > 1 else first)
    n = min(300, len(x))
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot(x[:n, : min(8, x.shape[1])], lw=0.8)
    ax.set(xlabel="test step", ylabel="feature", title="state features (first 8)")
    fig.tight_layout()
    fig.savefig(out / "states.png", dpi=100)
    plt.close(fig)
    spec = select_stream(desc)
    if spec.kind == "frame" and len(spec.shape) == 2 and x.shape[1] == np.prod(spec.shape):
        frames = x.reshape(len(x), *spec.shape)[: min(8, len(x))]
        fig, axes = plt.subplots(1, len(frames), figsize=(2 * len(frames), 2.2))
        for i, (a, f) in enumerate(zip(np.atleast_1d(axes), frames)):
            a.imshow(f, cmap="gray")
            a.set_axis_off()
            a.set_title(f"step {i}", fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "frames.png", dpi=100)
        plt.close(fig)
    pred = task.predict(res.readout, res.states_test)
    fig, ax = plt.subplots(figsize=(9, 3))
    if data.kind == "regression":
        y = np.asarray(data.test[0].y).reshape(len(data.test[0].y), -1)
        p = np.asarray(pred[0]).reshape(len(y), -1)
        m = min(300, len(y))
        ax.plot(y[:m, 0], "k", lw=1.2, label="target")
        ax.plot(p[:m, 0], "r--", lw=1.0, label="readout")
        ax.set_xlabel("test step")
    else:
        true = [ep.label for ep in data.test]
        ax.plot(true, "ko", ms=6, label="true class")
        ax.plot(np.asarray(pred), "rx", ms=6, label="readout")
        ax.set_xlabel("test episode")
    ax.legend(loc="upper right")
    ax.set_title("readout vs target (test)")
    fig.tight_layout()
    fig.savefig(out / "readout.png", dpi=100)
    plt.close(fig)


def _summary(
    console: Console, cfg: RunConfig, result: dict[str, Any], out: Path, run_info: dict[str, Any]
) -> None:
    table = Table(title=f"physres run {cfg.name}", show_header=False)
    table.add_row("task", str(result.get("task")))
    table.add_row("device", f"{result.get('device')} ({result.get('kind')})")
    for k, v in sorted((result.get("metrics") or {}).items()):
        if not k.startswith("r2_"):
            table.add_row(k, f"{v:.6g}" if isinstance(v, float) else str(v))
    rec = run_info.get("recording") or {}
    if rec:
        table.add_row(
            "recorded", f"{rec.get('messages', 0)} messages, {rec.get('dropped', 0)} dropped"
        )
    table.add_row("run folder", str(out))
    console.print(table)
