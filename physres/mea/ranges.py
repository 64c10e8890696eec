"""Published ranges for a dissociated cortical culture on an MEA, with their sources.

One table the README quotes and the realism tests check, against the
simulator and (the same functions) against a real recording. Ranges are
deliberately those most cultures of 2–5 weeks in vitro fall in, not one
culture's values: Wagenaar et al. (2006) show how widely cultures differ.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CULTURE_RANGES", "Range", "outside"]


@dataclass(frozen=True)
class Range:
    """``low ≤ value ≤ high`` for the :class:`~physres.mea.activity.ActivityStats` field ``key``."""

    key: str
    low: float
    high: float
    unit: str
    source: str


CULTURE_RANGES: tuple[Range, ...] = (
    Range(
        "rate_hz", 0.1, 10.0, "Hz",
        "Wagenaar et al. 2006 (BMC Neurosci 7:11); Chiappalone et al. 2006 (Brain Res "
        "1093:41): active electrodes fire at ~0.1 to a few Hz in mature cortical cultures",
    ),
    Range(
        "bursts_per_min", 1.0, 30.0, "/min",
        "Wagenaar et al. 2006: all but the sparsest cultures burst, from about one to a few "
        "tens of network bursts a minute; Chiappalone et al. 2006: 5–15/min at 3–5 weeks",
    ),
    Range(
        "burst_duration_ms", 100.0, 1000.0, "ms",
        "Wagenaar et al. 2006 and Chiappalone et al. 2006: network bursts last from ~100 ms "
        "to under a second (longer 'superbursts' aside)",
    ),
    Range(
        "burst_fraction", 0.5, 1.0, "of active electrodes",
        "Wagenaar et al. 2006: bursts are globally synchronised, recruiting most active "
        "electrodes",
    ),
    Range(
        "spikes_in_bursts", 0.5, 1.0, "of spikes",
        "Wagenaar et al. 2006 (burstiness index); Brewer et al. 2009 (J Neurosci Methods "
        "184:104): most spikes fall inside bursts",
    ),
    Range(
        "isi_short", 0.5, 1.0, "of ISIs < 100 ms",
        "Pasquale et al. 2010 (J Comput Neurosci 29:213); Selinger et al. 2007 (J Neurosci "
        "Methods 162:64): a bimodal log-ISI histogram, intra-burst peak below the ~100 ms "
        "burst threshold holding most intervals",
    ),
    Range(
        "isi_median_ms", 2.0, 100.0, "ms",
        "Pasquale et al. 2010: the intra-burst ISI peak lies at a few to tens of ms and the "
        "burst threshold near 100 ms; a median below it means most firing is in bursts",
    ),
    Range(
        "isi_cv", 1.0, 10.0, "",
        "Bursty firing: ISI coefficient of variation above a Poisson process's 1 "
        "(Selinger et al. 2007)",
    ),
)  # fmt: skip


def outside(stats: object) -> list[str]:
    """Every figure of ``stats`` outside its range, as ``"key = value (range)"``; [] if none."""
    out = []
    for r in CULTURE_RANGES:
        v = getattr(stats, r.key)
        if not r.low <= v <= r.high:  # NaN (no bursts at all) is outside too
            out.append(f"{r.key} = {v:.3g} {r.unit} (expected {r.low:g}–{r.high:g})")
    return out
