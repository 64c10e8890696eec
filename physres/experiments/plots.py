"""The figures a run leaves in its folder, one function per kind.

Each figure's title carries the run's headline number and its raw-input
control, so a PNG seen alone still says whether the substrate did the work.
Functions build a :class:`~matplotlib.figure.Figure` without pyplot (no
global state, safe from any thread); :func:`write_plots` picks the kinds
that fit a run and saves them. Legends sit outside the axes, never on data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = [
    "confusion_figure",
    "figures",
    "frames_figure",
    "free_run_figure",
    "headline",
    "memory_figure",
    "readout_figure",
    "states_figure",
    "write_plots",
]

_SHOW_STEPS = 300  # test steps shown in time plots: enough to see the dynamics, not a smear


def headline(result: dict[str, Any]) -> str:
    """``xor on bucket (sim.bucket): accuracy 1 · raw-input control 0.52 · baseline 0.51 (margin
    +0.49 [0.47, 0.51])``: the strongest-baseline control and the margin's 95 % interval."""
    metric = result.get("metric", "score")
    metrics = result.get("metrics") or {}
    text = (
        f"{result.get('task')} on {result.get('device')} ({result.get('kind')}): "
        f"{metric} {_num(result.get('value'))}"
    )
    control = metrics.get(f"control_raw_input_{metric}")
    if control is not None:
        text += f" · raw-input control {_num(control)}"
    baseline = metrics.get(f"control_baseline_{metric}")
    if baseline is not None:
        text += f" · baseline {_num(baseline)}"
        lo_hi = metrics.get("margin_ci95") or ()
        if "margin_over_baseline" in metrics and len(lo_hi) == 2:
            lo, hi = lo_hi
            text += f" (margin {metrics['margin_over_baseline']:+.3g} [{lo:.3g}, {hi:.3g}])"
    ref = result.get("reference")
    if ref and metric in ref.get("metrics", {}):
        text += f" · {ref['kind']} reference {_num(ref['metrics'][metric])}"
    return text


def _num(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, (int, float)) else str(v)


def _figure(title: str, width: float = 9.0, height: float = 3.6) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.suptitle(title, fontsize=10)
    return fig


def states_figure(states: np.ndarray, title: str, *, what: str = "test") -> Figure:
    """Every state feature over the first steps of ``what`` as a heat-map (feature × step).

    Each feature is shown as its deviation from its own mean: a camera's
    pixels sit on a large, uneven baseline that would otherwise hide the
    waves that carry the computation.
    """
    x = np.asarray(states, dtype=np.float64)
    x = x.reshape(len(x), -1)[:_SHOW_STEPS]
    dev = x - x.mean(axis=0)
    lim = float(np.percentile(np.abs(dev), 99)) or 1.0
    fig = _figure(title)
    ax = fig.add_subplot()
    im = ax.imshow(
        dev.T, aspect="auto", interpolation="nearest", cmap="RdBu_r", vmin=-lim, vmax=lim
    )
    ax.set(
        xlabel="test step",
        ylabel=f"state feature (of {x.shape[1]})",
        title=f"reservoir states, {what}: first {len(x)} steps",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.colorbar(im, ax=ax, label="state − its mean", extend="both")
    return fig


def readout_figure(target: np.ndarray, prediction: np.ndarray, title: str) -> Figure:
    """Readout against target on the first test steps (first output)."""
    y = np.asarray(target, dtype=np.float64).reshape(len(target), -1)[:_SHOW_STEPS, 0]
    p_all = np.asarray(prediction, dtype=np.float64).reshape(len(prediction), -1)
    p = p_all[:_SHOW_STEPS, 0]
    which = f", output 1 of {p_all.shape[1]}" if p_all.shape[1] > 1 else ""
    fig = _figure(title)
    ax = fig.add_subplot()
    ax.plot(y, "k", lw=1.2, label="target")
    ax.plot(p, "r--", lw=1.0, label="readout")
    ax.set(
        xlabel="test step (after washout)",
        ylabel="output",
        title=f"readout vs target (test{which})",
    )
    fig.legend(loc="outside right upper")
    return fig


def memory_figure(r2: Sequence[float], n_features: int, title: str) -> Figure:
    """r² per delay and the capacity summed up to each delay, against the bound MC ≤ N."""
    r2 = np.asarray(r2, dtype=np.float64)
    k = np.arange(1, len(r2) + 1)
    fig = _figure(title, height=5.0)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.bar(k, r2, width=1.0, color="tab:blue")
    top.set(ylabel="r² (recall)", ylim=(0, 1.05), title="memory curve: recall of u(t−k)")
    bottom.plot(k, np.cumsum(r2), "tab:blue", lw=1.5, label="MC up to delay k")
    bottom.axhline(n_features, color="k", ls="--", lw=1, label=f"bound N = {n_features}")
    bottom.set(xlabel="delay k [task steps]", ylabel="cumulative MC", ylim=(0, n_features * 1.1))
    fig.legend(loc="outside right upper")
    return fig


def free_run_figure(
    warmup: np.ndarray, truth: np.ndarray, prediction: np.ndarray, title: str, score: str = ""
) -> Figure:
    """The closed loop: true series, then the readout's own predictions fed back."""
    warm = np.asarray(warmup, dtype=np.float64).reshape(len(warmup), -1)[:, 0]
    true = np.asarray(truth, dtype=np.float64).reshape(len(truth), -1)[:, 0]
    pred = np.asarray(prediction, dtype=np.float64).reshape(len(prediction), -1)[:, 0]
    shown = min(len(warm), 2 * len(true))  # enough driven context to judge the hand-over
    t_warm = np.arange(-shown, 0)
    t_free = np.arange(len(true))
    fig = _figure(title)
    ax = fig.add_subplot()
    ax.plot(t_warm, warm[len(warm) - shown :], color="0.5", lw=1.0, label="driven (true input)")
    ax.plot(t_free, true, "k", lw=1.2, label="true continuation")
    ax.plot(t_free, pred, "r--", lw=1.2, label="free run (fed back)")
    ax.axvline(0, color="k", lw=0.6, ls=":")
    ax.set(
        xlabel="step (0 = feedback starts)",
        ylabel="series",
        title=f"free run: {len(true)} steps of the readout's own predictions{score}",
    )
    fig.legend(loc="outside right upper")
    return fig


def confusion_figure(
    true: Sequence[int],
    predicted: Sequence[int],
    classes: Sequence[str],
    title: str,
    *,
    unit: str = "test sequences",
) -> Figure:
    """Counts of true × predicted class on the test set, with the counts written in."""
    true, predicted = np.asarray(true, int), np.asarray(predicted, int)
    n = max(len(classes), int(max(true.max(), predicted.max())) + 1)
    names = list(classes) + [str(i) for i in range(len(classes), n)]
    m = np.zeros((n, n), dtype=int)
    np.add.at(m, (true, predicted), 1)
    fig = _figure(title, width=max(4.5, 0.5 * n + 3), height=max(4.0, 0.5 * n + 2))
    ax = fig.add_subplot()
    im = ax.imshow(m, cmap="Blues")
    ticks = np.arange(n)
    ax.set_xticks(ticks, names, rotation=45 if n > 4 else 0)
    ax.set_yticks(ticks, names)
    ax.set(xlabel="predicted", ylabel="true", title=f"confusion matrix ({len(true)} {unit})")
    if n <= 20:
        for i, j in np.ndindex(m.shape):
            dark = m[i, j] > m.max() / 2
            ax.text(
                j,
                i,
                str(m[i, j]),
                ha="center",
                va="center",
                color="white" if dark else "black",
                fontsize=8,
            )
    fig.colorbar(im, ax=ax, label="count")
    return fig


def frames_figure(
    frames: np.ndarray, labels: Sequence[str], title: str, *, columns: int = 4
) -> Figure:
    """Camera frames (one per task step), each titled with its input; one colour scale."""
    frames = np.asarray(frames, dtype=np.float64)
    rows = -(-len(frames) // columns)
    fig = _figure(title, width=2.3 * columns + 1.2, height=2.3 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    lo, hi = float(frames.min()), float(frames.max())
    im = None
    for ax, f, label in zip(axes, frames, labels):
        im = ax.imshow(f, cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(frames) :]:
        ax.set_axis_off()
    if im is not None:
        fig.colorbar(im, ax=list(axes), label="brightness (state feature)", shrink=0.8)
    return fig


def _step_label(i: int, u: np.ndarray, y: Any) -> str:
    """``step 3: in (1, -1) → 1``: the task input a frame answers, and its target."""
    ins = ", ".join(f"{v:g}" for v in np.ravel(u))
    tgt = y if isinstance(y, str) else ", ".join(f"{v:g}" for v in np.ravel(y))
    return f"step {i}: in ({ins}) → {tgt}"


def _readout_rows(readout: Any, states: Any) -> np.ndarray:
    """What the readout reads for one sequence: the states after the feature stages.

    An event stream or a frame sequence is not a matrix until its stages
    (binning, traces, frame features) have run; a plain state matrix is.
    """
    steps = getattr(readout, "steps", None)
    if steps is not None and len(steps) > 1:
        return np.asarray(readout[:-1].transform([states])[0], dtype=np.float64)
    return np.asarray(states, dtype=np.float64)


def figures(
    *,
    result: dict[str, Any],
    task: Any,
    data: Any,
    states_test: Sequence[np.ndarray],
    readout: Any,
    frame_shape: tuple[int, ...] | None = None,
    free_run: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> dict[str, Figure]:
    """Every figure that fits this run, by kind (the file stem it is saved under).

    ``frame_shape`` is the 2-D shape of a camera stream read as state (frames
    are plotted); ``free_run`` is ``(warm-up, truth, prediction)`` of one
    closed-loop trial.
    """
    title = headline(result)
    first = states_test[0]
    x = _readout_rows(readout, first)
    ep = data.test[0]
    what = "test series" if len(data.test) == 1 else f"test sequence 1 of {len(data.test)}"
    figs: dict[str, Figure] = {"states": states_figure(x, title, what=what)}
    if frame_shape is not None:
        n = min(8, len(x))
        if isinstance(ep.y, int):  # one label for the whole sequence
            name = data.classes[ep.y] if ep.y < len(data.classes) else str(ep.y)
            labels = [_step_label(i, ep.u[i], name) for i in range(n)]
        else:
            labels = [_step_label(i, ep.u[i], ep.y[i]) for i in range(n)]
        raw = np.asarray(first)
        figs["frames"] = frames_figure(raw[:n].reshape(n, *frame_shape), labels, title)
    pred = task.predict(readout, states_test)
    metrics = result.get("metrics") or {}
    if data.problem == "classification":
        true = [e.label for e in data.test]
        figs["confusion"] = confusion_figure(true, np.asarray(pred), data.classes, title)
    else:
        y = np.asarray(ep.y).reshape(ep.n_steps, -1)
        p = np.asarray(pred[0]).reshape(ep.n_steps, -1)
        figs["readout"] = readout_figure(y[data.washout :], p[data.washout :], title)
        if task.metric == "accuracy":  # a per-step decision, thresholded as the task scores it
            w = data.washout
            figs["confusion"] = confusion_figure(
                (y[w:, 0] > 0.5).astype(int),
                (p[w:, 0] > 0.5).astype(int),
                ("0", "1"),
                title,
                unit="test steps",
            )
    if "r2_1" in metrics:
        r2 = [metrics[f"r2_{k}"] for k in range(1, int(metrics.get("delays_scored", 0)) + 1)]
        figs["memory"] = memory_figure(r2, x.reshape(len(x), -1).shape[1], title)
    if free_run is not None:
        score = (
            f" (nrmse_free {_num(metrics['nrmse_free'])} over {_num(metrics.get('trials'))} trials)"
            if "nrmse_free" in metrics
            else ""
        )
        figs["free_run"] = free_run_figure(*free_run, title, score)
    return figs


def write_plots(out: Path, **run: Any) -> dict[str, Path]:
    """Save :func:`figures` (same keywords) into ``out`` as ``<kind>.png``; ``{kind: path}``."""
    paths = {}
    for kind, fig in figures(**run).items():
        paths[kind] = out / f"{kind}.png"
        fig.savefig(paths[kind], dpi=100)
    return paths
