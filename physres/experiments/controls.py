"""The strongest cheap baseline on the raw inputs, and a substrate's margin over it.

The raw-input control (:func:`~physres.experiments.protocol.raw_input_control`)
is the same per-step readout on the inputs: it shows the substrate computes
*something*, but a referee asks whether a cheap model of the inputs does as
well. :func:`baseline_control` fits the strongest cheap one we know, with its
ridge penalty chosen by cross-validation **on the training split only**:

* regression (per-step targets): a delay-embedded linear model,
  ``[u_t, u_{t-1}, ..., u_{t-D+1}]`` → ridge, with ``D`` from
  :data:`DELAYS` (at most the washout + 1, so every scored step has its full
  history) and alpha from :func:`~physres.readout.cv.default_alphas`, both by
  blocked 5-fold CV (contiguous blocks: a time series is never shuffled);
* sequence classification: pooled statistics of each sequence's raw inputs
  (mean, std, first and last row per channel, standardised on train) →
  one-hot ridge, alpha by stratified 5-fold CV accuracy.

:func:`margin` is the substrate's score minus the baseline's, signed so that
positive means the substrate is better (for NRMSE, baseline − substrate),
with a 95 % **paired percentile bootstrap** interval: test sequences are
resampled for classification, contiguous blocks of scored test steps for
regression (the same resample scores both models, so the interval is that of
the difference, not of two independent scores).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from physres.errors import DataError
from physres.readout.cv import RidgeCVReadout, default_alphas
from physres.readout.stages import DelayFeatures

if TYPE_CHECKING:
    from physres.tasks.base import Episode, Task, TaskData

__all__ = ["DELAYS", "Baseline", "baseline_control", "margin", "pooled_statistics"]

#: delay-line lengths tried by the regression baseline (capped by the washout)
DELAYS: tuple[int, ...] = (1, 2, 3, 5, 10, 20, 50)
#: bootstrap resamples of the margin's interval (fewer, down to 200, for regression
#: targets over 2,000 values wide: memory capacity rescores 200 delays per resample)
N_BOOT = 1000
#: contiguous blocks the scored test steps of a regression task are cut into
N_BLOCKS = 50


@dataclasses.dataclass
class Baseline:
    """A fitted baseline: its metrics, its test predictions (as ``task.predict`` gives) and how."""

    metrics: dict[str, float]
    predictions: Any
    model: str
    alpha: float
    delays: int | None = None


def pooled_statistics(episodes: Sequence[Episode]) -> np.ndarray:
    """One row per sequence: mean, std, first and last input row, side by side."""
    return np.stack([np.concatenate([e.u.mean(0), e.u.std(0), e.u[0], e.u[-1]]) for e in episodes])


def baseline_control(task: Task, data: TaskData, *, seed: int = 0) -> Baseline:
    """Fit the strongest cheap baseline on ``data.train``'s raw inputs, score ``data.test``."""
    if data.problem == "classification":
        return _pooled_classifier(task, data, seed=seed)
    return _delay_ridge(task, data)


def _delay_ridge(task: Task, data: TaskData) -> Baseline:
    w = data.washout
    grid = [d for d in DELAYS if d <= w + 1] or [1]
    # one target width for every D, so CV errors compare like with like (memory
    # capacity asks for 2 × features delays)
    width = max(grid) * data.n_inputs
    y_train = task.targets(data.train, data, width)
    raw_train = [ep.u for ep in data.train]
    best: tuple[float, int, RidgeCVReadout] | None = None
    for d in grid:
        z = DelayFeatures(d).transform(raw_train)
        r = RidgeCVReadout(washout=w).fit(z, y_train)
        if best is None or r.best_mse_ < best[0]:
            best = (r.best_mse_, d, r)
    assert best is not None
    _, d, readout = best
    preds = task.predict(readout, DelayFeatures(d).transform([ep.u for ep in data.test]))
    return Baseline(
        task.score(preds, data.test, data),
        preds,
        f"delay-embedded ridge (D={d})",
        readout.alpha_,
        d,
    )


def _ridge_path(X: np.ndarray, Y: np.ndarray, Xt: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Centred ridge predictions of ``Xt`` for every alpha: (n_alphas, n_test, n_targets)."""
    mx, my = X.mean(0), Y.mean(0)
    U, s, Vt = np.linalg.svd(X - mx, full_matrices=False)
    uy = U.T @ (Y - my)
    f = s[None, :] / (s[None, :] ** 2 + alphas[:, None])  # (A, r)
    W = np.einsum("rp,ar,rq->apq", Vt, f, uy)
    return (Xt - mx)[None] @ W + my


def _stratified_folds(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    fold = np.empty(len(labels), dtype=int)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        fold[idx] = np.arange(len(idx)) % k
    return fold


def _pooled_classifier(task: Task, data: TaskData, *, seed: int) -> Baseline:
    X, Xt = pooled_statistics(data.train), pooled_statistics(data.test)
    mu, sd = X.mean(0), X.std(0)
    sd[sd == 0] = 1.0
    X, Xt = (X - mu) / sd, (Xt - mu) / sd
    labels = np.asarray(task.targets(data.train, data, X.shape[1]))
    classes = np.unique(labels)
    Y = (labels[:, None] == classes[None, :]).astype(np.float64)
    alphas = default_alphas()
    k = int(min(5, np.bincount(np.searchsorted(classes, labels)).min()))
    if k >= 2:
        fold = _stratified_folds(labels, k, np.random.default_rng(seed))
        hits = np.zeros(alphas.size)
        for f in range(k):
            tr, te = fold != f, fold == f
            P = _ridge_path(X[tr], Y[tr], X[te], alphas)
            hits += (classes[P.argmax(-1)] == labels[te][None]).sum(1)
        # ties go to the largest penalty (the simplest model that does as well)
        best = int(alphas.size - 1 - np.argmax(hits[::-1]))
    else:  # a class with one training sequence: no CV possible, a middling penalty
        best = int(np.searchsorted(alphas, 1.0))
    alpha = float(alphas[best])
    preds = classes[_ridge_path(X, Y, Xt, np.array([alpha]))[0].argmax(-1)]
    return Baseline(
        task.score(preds, data.test, data), preds, "pooled-statistics ridge classifier", alpha
    )


def _signed(task: Task, a: float, b: float) -> float:
    """``a`` better than ``b`` by how much (positive: ``a`` is better)."""
    return float(a - b) if task.higher_is_better else float(b - a)


def margin(
    task: Task,
    data: TaskData,
    predictions: Any,
    baseline: Baseline,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> dict[str, Any]:
    """The substrate's margin over ``baseline`` on the test split, with its 95 % interval.

    ``predictions`` are the substrate's test predictions as ``task.predict``
    gives them. Returns ``margin_over_baseline``, ``margin_ci95`` ([low,
    high]), ``margin_ci_method`` (what was resampled, how many times) and
    ``<metric>_ci95``, the substrate's own score's interval from the same resamples.
    """
    metric = task.metric
    ours = task.score(predictions, data.test, data)[metric]
    base = baseline.metrics[metric]
    rng = np.random.default_rng(seed)
    if data.problem == "classification":
        true = np.asarray([ep.label for ep in data.test])
        p1, p0 = np.asarray(predictions), np.asarray(baseline.predictions)
        if metric == "accuracy":  # per-sequence hits: resampling needs no rescoring
            h1, h0 = (p1 == true).astype(float), (p0 == true).astype(float)
            idx = rng.integers(0, len(true), size=(n_boot, len(true)))
            pairs = list(zip(h1[idx].mean(1), h0[idx].mean(1)))
        else:
            pairs = []
            for i in rng.integers(0, len(true), size=(n_boot, len(true))):
                eps = [data.test[j] for j in i]
                pairs.append(
                    (task.score(p1[i], eps, data)[metric], task.score(p0[i], eps, data)[metric])
                )
        method = f"paired bootstrap over {len(true)} test sequences ({n_boot} resamples)"
    else:
        pairs, n_blocks, n_boot = _block_bootstrap(
            task, data, predictions, baseline.predictions, rng, n_boot
        )
        method = (
            f"paired block bootstrap over {n_blocks} contiguous blocks of scored test steps "
            f"({n_boot} resamples)"
        )
    both = np.asarray(pairs, dtype=np.float64)
    diffs = both[:, 0] - both[:, 1] if task.higher_is_better else both[:, 1] - both[:, 0]

    def ci(x: np.ndarray) -> list[float]:
        return [float(v) for v in np.percentile(x, [2.5, 97.5])]

    return {
        "margin_over_baseline": _signed(task, ours, base),
        "margin_ci95": ci(diffs),
        "margin_ci_method": method,
        f"{metric}_ci95": ci(both[:, 0]),
    }


def _block_bootstrap(
    task: Task,
    data: TaskData,
    p_sub: Sequence[np.ndarray],
    p_base: Sequence[np.ndarray],
    rng: np.random.Generator,
    n_boot: int,
) -> tuple[list[tuple[float, float]], int, int]:
    from physres.tasks.base import Episode

    w, metric = data.washout, task.metric
    y = np.concatenate([np.asarray(ep.y)[w:] for ep in data.test])
    a = np.concatenate([np.asarray(p)[w:] for p in p_sub])
    b = np.concatenate([np.asarray(p)[w:] for p in p_base])
    n = len(y)
    if n < 2:
        raise DataError(f"margin: {n} scored test steps; a bootstrap needs at least 2")
    blocks = np.array_split(np.arange(n), min(N_BLOCKS, n))
    n_boot = max(min(n_boot, 200), min(n_boot, 2_000_000 // y.size))
    flat = dataclasses.replace(data, washout=0, closed_loop=[])
    pairs: list[tuple[float, float]] = []
    for pick in rng.integers(0, len(blocks), size=(n_boot, len(blocks))):
        rows = np.concatenate([blocks[j] for j in pick])
        ep = Episode(np.zeros((len(rows), data.n_inputs)), y[rows])
        if np.ptp(ep.y, axis=0).min() == 0:  # a constant target column: NRMSE undefined
            continue
        one = dataclasses.replace(flat, train=[ep], test=[ep])
        pairs.append(
            (task.score([a[rows]], [ep], one)[metric], task.score([b[rows]], [ep], one)[metric])
        )
    if not pairs:
        raise DataError("margin: every bootstrap resample had a constant target")
    return pairs, len(blocks), n_boot
