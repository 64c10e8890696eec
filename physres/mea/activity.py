"""Culture statistics from spike events: firing, network bursts, inter-spike intervals.

Works on any MEA kind's ``spikes`` events (``(t_ns, channel)`` records), so
the same figures describe the simulated culture and a real recording, and the
README's ranges for dissociated cortical cultures can be checked on both.
Per-channel statistics use Elephant (``mean_firing_rate``, ``isi``, ``cv``,
``lv``) on plain arrays in seconds.

Network bursts follow the array-wide approach of Wagenaar et al. (2006) and
Chiappalone et al. (2006): a burst is a stretch where at least
``min_fraction`` of the *active* channels (≥ ``active_hz``, Wagenaar's 0.02 Hz
is too low for short runs; 0.1 Hz here) spike within ``window_ms`` of each
other; stretches closer than ``merge_ms`` are one burst; its duration runs
from its first to its last spike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from elephant.statistics import cv, isi, lv, mean_firing_rate

from physres.errors import DataError

__all__ = ["ActivityStats", "Burst", "activity_stats", "network_bursts"]


@dataclass(frozen=True)
class Burst:
    """One network burst: start and end (s), spikes in it, fraction of active channels in it."""

    start_s: float
    end_s: float
    n_spikes: int
    fraction: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class ActivityStats:
    """The figures the README's culture ranges are stated in."""

    duration_s: float
    active_channels: int
    #: mean firing rate of active channels (Hz), median over channels
    rate_hz: float
    bursts_per_min: float
    burst_duration_ms: float  # median
    burst_fraction: float  # median fraction of active channels taking part
    #: fraction of all spikes that fall inside network bursts
    spikes_in_bursts: float
    isi_median_ms: float
    #: fraction of inter-spike intervals under 100 ms (within-burst firing)
    isi_short: float
    isi_cv: float  # median over active channels (Poisson: 1)
    isi_lv: float  # local variation (Poisson: 1; bursty: > 1)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _times(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    names = events.dtype.names or ()
    if "t_ns" not in names or "channel" not in names:
        raise DataError(f"spike events need 't_ns' and 'channel' fields, got dtype {events.dtype}")
    return events["t_ns"].astype(np.int64), events["channel"].astype(np.int64)


def network_bursts(
    events: np.ndarray,
    active: np.ndarray,
    *,
    t0_ns: int = 0,
    window_ms: float = 25.0,
    min_fraction: float = 0.25,
    merge_ms: float = 100.0,
) -> list[Burst]:
    """Network bursts of ``events`` among the ``active`` channels (a bool mask per channel)."""
    t, ch = _times(events)
    n_active = int(active.sum())
    if n_active == 0 or not len(t):
        return []
    keep = active[ch]
    t, ch = t[keep], ch[keep]
    order = np.argsort(t, kind="stable")
    t, ch = t[order], ch[order]
    win = round(window_ms * 1e6)
    bins = (t - t0_ns) // win
    # distinct active channels per window: (bin, channel) pairs, deduplicated
    pairs = np.unique(bins * len(active) + ch)
    per_bin = np.bincount(pairs // len(active))
    # a window and its right neighbour together: a burst front that straddles a bin edge counts
    both = per_bin.copy()
    both[:-1] = np.maximum(both[:-1], _distinct_pairs(pairs, len(active), len(per_bin)))
    hot = np.flatnonzero(both >= min_fraction * n_active)
    if not len(hot):
        return []
    merge = max(1, round(merge_ms / window_ms))
    groups = np.split(hot, np.flatnonzero(np.diff(hot) > merge) + 1)
    out = []
    for g in groups:
        lo_ns = t0_ns + g[0] * win
        hi_ns = t0_ns + (g[-1] + 2) * win
        a, b = np.searchsorted(t, [lo_ns, hi_ns])
        if b - a < 2:
            continue
        out.append(
            Burst(
                start_s=t[a] / 1e9,
                end_s=t[b - 1] / 1e9,
                n_spikes=int(b - a),
                fraction=len(np.unique(ch[a:b])) / n_active,
            )
        )
    return out


def _distinct_pairs(pairs: np.ndarray, n_ch: int, n_bins: int) -> np.ndarray:
    """Distinct channels in each pair of neighbouring windows (bins i and i + 1)."""
    b, c = pairs // n_ch, pairs % n_ch
    merged = np.unique(np.concatenate([b, b - 1]) * n_ch + np.concatenate([c, c]))
    merged = merged[merged >= 0]
    counts = np.bincount(merged // n_ch, minlength=n_bins)
    return counts[: n_bins - 1]


def activity_stats(
    events: np.ndarray,
    n_channels: int,
    duration_s: float,
    *,
    t0_ns: int = 0,
    active_hz: float = 0.1,
    **burst_options: float,
) -> ActivityStats:
    """Firing, bursting and ISI figures of ``duration_s`` seconds of events from ``t0_ns``."""
    if duration_s <= 0:
        raise DataError(f"activity_stats: duration_s must be > 0, got {duration_s}")
    t, ch = _times(events)
    if len(ch) and (ch.min() < 0 or ch.max() >= n_channels):
        raise DataError(f"activity_stats: channel {ch.max()} outside 0..{n_channels - 1}")
    sec = (t - t0_ns) / 1e9
    trains = [np.sort(sec[ch == c]) for c in range(n_channels)]
    rates = np.array(
        [mean_firing_rate(s, t_start=0.0, t_stop=duration_s) if len(s) else 0.0 for s in trains]
    )
    active = rates >= active_hz
    bursts = network_bursts(events, active, t0_ns=t0_ns, **burst_options)
    isis = [isi(s) for s, a in zip(trains, active) if a and len(s) > 2]
    all_isi = np.concatenate(isis) if isis else np.zeros(0)
    in_burst = sum(b.n_spikes for b in bursts)
    n_active_spikes = int(sum(len(s) for s, a in zip(trains, active) if a))
    nan = float("nan")
    return ActivityStats(
        duration_s=duration_s,
        active_channels=int(active.sum()),
        rate_hz=float(np.median(rates[active])) if active.any() else 0.0,
        bursts_per_min=len(bursts) * 60.0 / duration_s,
        burst_duration_ms=float(np.median([b.duration_s for b in bursts]) * 1e3) if bursts else nan,
        burst_fraction=float(np.median([b.fraction for b in bursts])) if bursts else nan,
        spikes_in_bursts=in_burst / n_active_spikes if n_active_spikes else nan,
        isi_median_ms=float(np.median(all_isi) * 1e3) if len(all_isi) else nan,
        isi_short=float((all_isi < 0.1).mean()) if len(all_isi) else nan,
        isi_cv=float(np.median([cv(x) for x in isis])) if isis else nan,
        isi_lv=float(np.median([lv(x) for x in isis if len(x) > 1])) if isis else nan,
    )
