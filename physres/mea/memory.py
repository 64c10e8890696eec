"""Fading memory of a stimulus: how long after a pulse the culture still says where it was.

Protocol (after Dranias, Ju, Rajaram & VanDongen 2013, J Neurosci 33:1940,
who decoded stimulus identity from cultured cortical networks for about a
second): trials of one pulse on one of two electrodes, chosen at random with
both equally often, then quiet; a linear classifier reads spike counts per
channel in a window starting ``lag`` after the pulse; cross-validated
accuracy per lag. Works on any MEA kind (it only applies ``stim`` and reads
``spikes``), so the no-culture control runs through the same code.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeClassifierCV
from sklearn.model_selection import StratifiedKFold, cross_val_score

from physres.device import Device
from physres.errors import DataError

__all__ = ["fading_memory"]


def fading_memory(
    device: Device,
    *,
    lags_s: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0),
    n_trials: int = 40,
    trial_s: float = 2.5,
    window_s: float = 0.1,
    amplitude_ua: float | None = None,
    seed: int = 0,
) -> dict[float, float]:
    """Accuracy (5-fold, chance 0.5) of telling the two stimulated electrodes apart, per lag.

    ``device`` must be connected and have at least two ``stim`` columns; the
    first two are used.
    """
    desc = device.describe()
    spec = desc.inputs.get("stim")
    if spec is None or spec.shape[0] < 2:
        raise DataError(f"fading_memory needs a device with 2+ stim electrodes, got {desc.name}")
    if max(lags_s) + window_s > trial_s:
        raise DataError(
            f"lags up to {max(lags_s)} s + window {window_s} s exceed trial {trial_s} s"
        )
    n_ch = int(desc.meta["n_channels"])
    step_s = 1.0 / spec.rate_hz
    amp = spec.limits.high if amplitude_ua is None else amplitude_ua
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n_trials) % 2)
    feats = np.zeros((n_trials, len(lags_s), n_ch))
    for i, lab in enumerate(labels):
        stim = np.zeros((round(trial_s / step_s), spec.shape[0]))
        stim[0, lab] = amp
        device.apply({"stim": stim})
        chunk = device.read()["spikes"]
        ev = chunk.data
        rel = (ev["t_ns"] - chunk.t_dev_ns) / 1e9
        for j, lag in enumerate(lags_s):
            sel = (rel >= lag) & (rel < lag + window_s)
            feats[i, j] = np.bincount(ev["channel"][sel], minlength=n_ch)
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    clf = RidgeClassifierCV(alphas=np.logspace(-2, 4, 7))
    return {
        lag: float(cross_val_score(clf, feats[:, j], labels, cv=folds).mean())
        for j, lag in enumerate(lags_s)
    }
