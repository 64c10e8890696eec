"""One characterisation from a config (drive the device) or a recording: metrics, plots.

:func:`collect` drives a config's device through the one drive loop
(:func:`~physres.experiments.drive.collect_states`) with the inputs every
metric needs (i.i.d. uniform, a sine, distinct and noisy-repeated streams);
:func:`load_recording` reads the drive and the states a ``physres run``
recorded (``<device>/sent`` and ``<device>/state``). :func:`characterise`
checks everything it was given before computing anything, then
:func:`write_report` writes ``metrics.json``, ``ipc.png`` and
``nonlinear_memory.png``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from physres.characterise._fit import check_inputs, check_rows
from physres.characterise.ipc import IPCResult, ipc
from physres.characterise.nlt import nlt, sine_drive, sinx
from physres.characterise.nonlinear import NU, TAU, NonlinearMemory, nonlinear_memory
from physres.characterise.rank import effective_rank, rank_inputs
from physres.errors import ConfigError, DataError, RecordingError

__all__ = [
    "DEFAULT_DELAYS",
    "Drive",
    "characterise",
    "collect",
    "collect_kind",
    "load_recording",
    "to_unit",
    "write_report",
]

#: largest delay per total degree: memory reaches far, degree-3 products rarely do
DEFAULT_DELAYS = {1: 40, 2: 15, 3: 8}


#: what each figure in metrics.json is, so files from different labs compare
DEFINITIONS = {
    "ipc": "Dambre et al. 2012: in-sample 1-NMSE of ridge readouts for products of "
    "unit-variance Legendre polynomials of the input mapped to [-1, 1], delays from 0, "
    "targets Gram-Schmidt orthonormalised on the scored rows, values below "
    "chi2_{1-1e-4}(N)/T set to 0",
    "kernel_rank": "singular values above 1e-3 of the largest, final states after distinct "
    "inputs (or all states of a recording)",
    "generalisation_rank": "as kernel_rank, final states after noisy repeats of one input",
    "nonlinear_memory": "max(0, 1-NMSE) of sin(nu*u(t-tau)), last 20% of rows held out",
    "nlt_nmse": "NMSE on the last 20% of rows; sine drive; square wave, Hilbert quadrature, "
    "squared sine",
    "sinx_nmse": "NMSE of sin(2*pi*(u-min)/(max-min)), last 20% of rows held out",
    "ridge": "1e-9 x mean diagonal of the states' centred Gram matrix",
}


@dataclass
class Drive:
    """What a characterisation is computed from; ``source`` names it in every error."""

    source: str
    u: np.ndarray  # i.i.d. drive, any range (rescaled to [−1, 1])
    X: np.ndarray
    sine: tuple[np.ndarray, np.ndarray] | None = None  # (u, X) for the NLT tasks
    distinct: np.ndarray | None = None  # final states after distinct streams
    repeats: np.ndarray | None = None  # final states after noisy repeats of one stream


def to_unit(u: np.ndarray) -> np.ndarray:
    """``u`` mapped linearly onto [−1, 1] by its own range (the Legendre basis's domain)."""
    lo, hi = float(np.min(u)), float(np.max(u))
    return (2.0 * (u - lo) / (hi - lo) - 1.0) if hi > lo else np.zeros_like(u)


def characterise(
    d: Drive,
    *,
    max_delay: int | Mapping[int, int] = DEFAULT_DELAYS,
    max_degree: int = 3,
    washout: int = 100,
    taus: tuple[int, ...] = TAU,
    nus: tuple[float, ...] = NU,
) -> tuple[dict[str, Any], IPCResult, NonlinearMemory]:
    """Every metric for ``d``: ``(metrics, ipc result, nonlinear-memory map)``.

    All inputs are checked first (NaN, lengths, enough rows for the delays),
    so a bad one fails in a line before any fit runs.
    """
    dmax = max(max_delay.values()) if isinstance(max_delay, Mapping) else int(max_delay)
    u, X = check_inputs(d.u, d.X, source=d.source, washout=washout, max_delay=max(dmax, max(taus)))
    if d.sine is not None:
        check_inputs(*d.sine, source=d.source, washout=washout, max_delay=0, u_name="sine drive")
    for name, S in (("distinct-input states", d.distinct), ("repeated-input states", d.repeats)):
        if S is not None and not np.isfinite(S).all():
            r, c = np.argwhere(~np.isfinite(np.atleast_2d(S)))[0]
            raise DataError(f"{d.source}: NaN or inf in {name} at row {r}, column {c}")
    if np.ptp(u) == 0:
        raise DataError(f"{d.source}: the input is constant; nothing to characterise")
    uu = to_unit(u)
    res = ipc(uu, X, max_delay=max_delay, max_degree=max_degree, washout=washout, source=d.source)
    nlm = nonlinear_memory(uu, X, taus=taus, nus=nus, washout=washout, source=d.source)
    metrics: dict[str, Any] = {
        "source": d.source,
        "definitions": DEFINITIONS,
        "samples": len(u),
        "features": X.shape[1],
        "washout": washout,
        "ipc": res.as_dict(),
        "nonlinear_memory": nlm.as_dict(),
        "sinx_nmse": sinx(uu, X, washout=washout, source=d.source),
        "kernel_rank": effective_rank(
            X[washout:] if d.distinct is None else d.distinct, source=d.source
        ),
        "kernel_rank_from": "states" if d.distinct is None else "final states, distinct inputs",
        "generalisation_rank": None
        if d.repeats is None
        else effective_rank(d.repeats, source=d.source),
    }
    if d.repeats is None:
        metrics["generalisation_rank_missing"] = "needs noisy repeats of one input (config only)"
    if d.sine is not None:
        metrics["nlt_nmse"] = nlt(*d.sine, washout=washout, source=d.source)
    else:
        metrics["nlt_missing"] = "needs a sine drive (config only)"
    return metrics, res, nlm


def load_recording(path: str | Path, device: str | None = None) -> Drive:
    """The drive (``<device>/sent``, array ``u``) and states (``<device>/state``) of a recording.

    Messages are concatenated in the order recorded; k states per input
    sample are averaged, an input held for k samples per state is thinned
    (the last of each k). A recording without the two topics, or whose
    lengths are not in a whole ratio, is refused.
    """
    from physres.bus.record import read_recording

    p = Path(path)
    _, messages = read_recording(p)
    sent: dict[str, list[np.ndarray]] = {}
    state: dict[str, list[np.ndarray]] = {}
    topics: set[str] = set()
    for _, m in messages:
        topics.add(m.topic)
        src, _, stream = m.topic.rpartition("/")
        if stream == "sent" and "u" in m.arrays:
            sent.setdefault(src, []).append(np.asarray(m.arrays["u"], np.float64))
        elif stream == "state" and "state" in m.arrays:
            a = np.asarray(m.arrays["state"], np.float64)
            state.setdefault(src, []).append(a.reshape(len(a), -1))
    both = sorted(set(sent) & set(state))
    listing = ", ".join(sorted(topics)) or "none"
    if device is not None:
        both = [s for s in both if s == device]
    if not both:
        want = f"{device or '<device>'}/sent (array u) and {device or '<device>'}/state"
        raise RecordingError(f"{p}: characterise needs topics {want}; the file has: {listing}")
    if len(both) > 1:
        raise RecordingError(f"{p}: several devices recorded ({', '.join(both)}); pass --device")
    src = both[0]
    u = np.concatenate(sent[src])
    X = np.concatenate(state[src])
    u = u.reshape(len(u), -1)
    u, X = _align(u, X, f"{p}: {src}/sent has {len(u)} samples and {src}/state {len(X)}")
    moving = [c for c in range(u.shape[1]) if np.ptp(u[:, c]) > 0] or [0]
    if len(moving) > 1:
        raise RecordingError(
            f"{p}: {src}/sent drives {len(moving)} channels ({moving}); "
            "characterise needs a one-channel drive"
        )
    return Drive(source=f"{p} ({src}/sent, {src}/state)", u=u[:, moving[0]], X=X)


def _align(u: np.ndarray, X: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """One state row per input value: states pooled (mean) or held inputs thinned by k."""
    if len(u) == len(X):
        return u, X
    if len(u) and len(X) % len(u) == 0:  # k states per input sample (a faster stream)
        k = len(X) // len(u)
        return u, X.reshape(len(u), k, -1).mean(axis=1)
    if len(X) and len(u) % len(X) == 0:  # each state after k held input samples
        k = len(u) // len(X)
        return u[k - 1 :: k], X
    raise RecordingError(f"{what}; characterise needs a whole number of one per the other")


def collect(
    config: str | Path,
    *,
    samples: int = 6000,
    seed: int = 0,
    rank_length: int = 100,
    washout: int = 100,
    max_delay: int | Mapping[int, int] = DEFAULT_DELAYS,
) -> Drive:
    """Drive the config's device (the task's, else the first) with every metric's inputs.

    ``washout`` and ``max_delay`` are checked against ``samples`` and the
    device's declared state size before anything is driven.
    """
    from physres.config import load_config

    cfg = load_config(config)
    name = (cfg.task.device if cfg.task is not None else None) or next(iter(cfg.devices))
    dc = cfg.devices[name]
    return collect_kind(
        dc.kind,
        dict(dc.params),
        name=name,
        source=str(config),
        samples=samples,
        seed=seed,
        rank_length=rank_length,
        washout=washout,
        max_delay=max_delay,
    )


def collect_kind(
    kind: str,
    params: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    source: str | None = None,
    samples: int = 6000,
    seed: int = 0,
    rank_length: int = 100,
    washout: int = 100,
    max_delay: int | Mapping[int, int] = DEFAULT_DELAYS,
) -> Drive:
    """:func:`collect` for a device kind and its params (``physres bench report`` uses it)."""
    from physres import registry
    from physres.experiments.drive import collect_states, select_stream
    from physres.tasks.base import Episode
    from physres.tasks.registry import create

    source = source or kind
    params = registry.bind_task(kind, dict(params or {}), 1)
    task = create("memory_capacity")  # its encode maps one task input onto the device input
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1, 1, samples)
    sine = sine_drive(samples)
    device = registry.create(kind, name=name, params=params)
    desc = device.describe()
    spec = select_stream(desc)
    if spec.carries == "events":  # spike counts per sample and channel, as the readout sees
        n_features = int(desc.meta.get("n_channels", 1))
    else:
        n_features = int(np.prod(spec.shape))
    dmax = max(max_delay.values()) if isinstance(max_delay, Mapping) else int(max_delay)
    check_rows(samples, n_features, source=source, washout=washout, max_delay=max(dmax, max(TAU)))

    def ep(x: np.ndarray) -> Episode:
        return Episode(x[:, None], x[:, None], {})

    with device:
        X, Xs = _rows(collect_states(device, [ep(u), ep(sine)], task, seed=seed))
        n = min(2 * X.reshape(len(X), -1).shape[1], 400)
        distinct, repeats = rank_inputs(n, rank_length, seed=seed)
        finals = _rows(
            collect_states(device, [ep(s) for s in (*distinct, *repeats)], task, seed=seed)
        )
    last = np.stack([f.reshape(len(f), -1)[-1] for f in finals])
    return Drive(
        source=source,
        u=u,
        X=X.reshape(len(X), -1),
        sine=(sine, Xs.reshape(len(Xs), -1)),
        distinct=last[:n],
        repeats=last[n:],
    )


def _rows(states: list[Any]) -> list[Any]:
    """Event windows binned into counts per sample and channel; other states as they came."""
    from physres.readout.features import EventWindow
    from physres.readout.stages import EventFeatures

    if states and isinstance(states[0], EventWindow):
        return EventFeatures().fit(states).transform(states)
    return states


def write_report(out: Path, metrics: dict[str, Any], res: IPCResult, nlm: NonlinearMemory) -> None:
    """``metrics.json``, ``ipc.png`` (stacked bars) and ``nonlinear_memory.png`` into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")

    degrees = sorted(res.by_degree)
    dmax = max(max(t for t, _ in k) for k in res.keys)
    per = np.zeros((len(degrees), dmax + 1))  # capacity by (degree, largest delay)
    for key, c in zip(res.keys, res.capacities):
        per[degrees.index(sum(d for _, d in key)), max(t for t, _ in key)] += c
    fig, (a1, a2) = plt.subplots(
        1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1, 4]}, layout="constrained"
    )
    bottom, bottom_d = 0.0, np.zeros(dmax + 1)
    for i, deg in enumerate(degrees):
        a1.bar(0, res.by_degree[deg], bottom=bottom, color=f"C{i}", label=f"degree {deg}")
        a2.bar(np.arange(dmax + 1), per[i], bottom=bottom_d, color=f"C{i}")
        bottom += res.by_degree[deg]
        bottom_d += per[i]
    a1.axhline(res.n_features, color="k", ls="--", lw=1, label=f"N = {res.n_features}")
    a1.set_xticks([0], ["total"])
    a1.set_ylabel("capacity")
    a1.legend(fontsize=8)
    a2.set_xlabel("largest delay in the target")
    a2.set_title(f"information processing capacity: {res.total:.2f} of {res.n_features}")
    fig.savefig(out / "ipc.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    im = ax.imshow(nlm.capacity, origin="lower", aspect="auto", vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(nlm.nus)), [f"{v:g}" for v in nlm.nus])
    ax.set_yticks(range(len(nlm.taus)), [str(t) for t in nlm.taus])
    ax.set_xlabel("ν (nonlinearity)")
    ax.set_ylabel("τ (delay)")
    ax.set_title("nonlinear memory: capacity for sin(ν·u(t−τ))")
    fig.colorbar(im, ax=ax, label="capacity")
    fig.savefig(out / "nonlinear_memory.png", dpi=100)
    plt.close(fig)


def parse_delays(text: str) -> int | dict[int, int]:
    """``"40"`` or ``"1=40,2=15,3=8"`` (largest delay per total degree)."""
    try:
        if "=" not in text:
            return int(text)
        return {int(k): int(v) for k, v in (part.split("=") for part in text.split(","))}
    except ValueError as e:
        raise ConfigError(f"--max-delay {text!r}: expected N or degree=N,... (1=40,2=15)") from e
