"""Stimulation vocabulary and the one safety check every MEA kind runs before sending.

A :class:`Pulse` is a list of phases (width µs, current µA) — a charge-balanced
biphasic pulse in the common case; a :class:`Burst` repeats it; a
:class:`Stimulation` puts a pulse (or burst) on a set of electrodes at a time.
:func:`check` refuses anything outside a device's :class:`StimLimits` with a
:class:`~physres.errors.SafetyError` whose message carries the value, the limit
and the unit; :class:`StimGuard` adds what needs history (pulse rate per
electrode across calls) and is what a device holds. The simulator and every
driver run their stimulation through it, so nothing a real culture would be
refused reaches the simulated one either.

Why these numbers (``CL1``): Cortical Labs' ``cl`` API bounds |I| at 11 µA,
phase widths on a 20 µs grid (cl-sdk 0.1.0's ``StimDesign``), 3 nC per phase
and bursts at ≤ 200 Hz (the later API's limits). Charge balance is required
because an unbalanced pulse leaves net charge on the electrode: it corrodes
the electrode and damages the cells next to it.

Sign convention (as ``cl``'s scalar stimulation): a pulse of amplitude ``a``
is ``(phase_us, -a), (phase_us, +a)``: positive ``a`` leads with the cathodic
(negative) phase.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from physres.errors import ConfigError, SafetyError

__all__ = [
    "CL1",
    "Burst",
    "Pulse",
    "StimGuard",
    "StimLimits",
    "Stimulation",
    "charge_nc",
    "check",
    "stimulations_from_row",
]

#: a phase: (width in µs, current in µA; the sign is the polarity)
Phase = tuple[float, float]


def charge_nc(width_us: float, current_ua: float) -> float:
    """Charge of one phase in nC (µA × µs = pC, so divide by 1,000)."""
    return abs(current_ua) * width_us * 1e-3


@dataclass(frozen=True)
class Pulse:
    """One stimulation pulse: its phases in order (2 = biphasic, 3 = triphasic)."""

    phases: tuple[Phase, ...]

    @classmethod
    def biphasic(cls, amplitude_ua: float, phase_us: float) -> Pulse:
        """Cathodic-first for a positive amplitude, anodic-first for a negative one."""
        return cls(((phase_us, -amplitude_ua), (phase_us, amplitude_ua)))

    @property
    def duration_us(self) -> float:
        return float(sum(w for w, _ in self.phases))

    @property
    def net_charge_nc(self) -> float:
        return float(sum(w * i for w, i in self.phases) * 1e-3)


@dataclass(frozen=True)
class Burst:
    """``count`` pulses at ``hz``; one pulse is ``Burst()`` (its rate is then moot)."""

    count: int = 1
    hz: float | None = None

    @property
    def span_ns(self) -> int:
        """From the first pulse's start to the last one's."""
        if self.count <= 1 or not self.hz:
            return 0
        return round((self.count - 1) * 1e9 / self.hz)


@dataclass(frozen=True)
class Stimulation:
    """A pulse (or burst of pulses) on electrodes, starting at device time ``t_ns``."""

    electrodes: tuple[int, ...]
    pulse: Pulse
    burst: Burst = field(default_factory=Burst)
    t_ns: int = 0


@dataclass(frozen=True, kw_only=True)
class StimLimits:
    """What a device may be asked to deliver; every field is a hard refusal.

    ``n_channels`` bounds electrode numbers; ``allowed`` (None: all) narrows them
    to the electrodes a config declared for stimulation.
    """

    name: str
    max_current_ua: float
    max_charge_nc: float
    phase_grid_us: float
    min_phase_us: float
    max_phases: int = 3
    #: per electrode, pulses of bursts and of successive calls alike
    max_pulse_rate_hz: float = 200.0
    max_burst_hz: float = 200.0
    max_burst_count: int = 1000
    #: net charge a pulse may leave, nC: rounding only, balance is required
    balance_tolerance_nc: float = 1e-6
    n_channels: int = 64

    def __post_init__(self) -> None:
        for name in (
            "max_current_ua",
            "max_charge_nc",
            "phase_grid_us",
            "min_phase_us",
            "max_pulse_rate_hz",
            "max_burst_hz",
            "balance_tolerance_nc",
        ):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"stimulation limits {self.name}: {name} = {v!r}, not >= 0")
        for name in ("max_phases", "max_burst_count", "n_channels"):
            v = getattr(self, name)
            if type(v) is not int or v < 1:
                raise ConfigError(f"stimulation limits {self.name}: {name} = {v!r}, not >= 1")

    @property
    def min_interval_ns(self) -> int:
        """Shortest start-to-start time between two pulses on one electrode."""
        return math.ceil(1e9 / self.max_pulse_rate_hz) if self.max_pulse_rate_hz else 0


#: Cortical Labs CL1 (and cl-sdk): the limits its API documents
CL1 = StimLimits(
    name="CL1",
    max_current_ua=11.0,
    max_charge_nc=3.0,
    phase_grid_us=20.0,
    min_phase_us=20.0,
)


def _num(value: object, what: str, where: str) -> float:
    """A real, finite number or a SafetyError (NaN compares False with every limit)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise SafetyError(f"{where}: {what} = {value!r} is not a number")
    v = float(value)
    if not math.isfinite(v):
        raise SafetyError(f"{where}: {what} = {v} is not finite")
    return v


def _check_pulse(pulse: Pulse, lim: StimLimits, where: str) -> None:
    phases = pulse.phases
    if not isinstance(phases, Sequence) or not 2 <= len(phases) <= lim.max_phases:
        n = len(phases) if isinstance(phases, Sequence) else phases
        raise SafetyError(
            f"{where}: a pulse has {n} phases; {lim.name} takes 2 to {lim.max_phases} "
            f"(a monophasic pulse cannot be charge-balanced)"
        )
    prev_sign = 0.0
    for k, phase in enumerate(phases, 1):
        if not isinstance(phase, Sequence) or len(phase) != 2:
            raise SafetyError(f"{where}: phase {k} is {phase!r}, not (width µs, current µA)")
        w = _num(phase[0], f"phase {k} width", where)
        i = _num(phase[1], f"phase {k} current", where)
        if w < lim.min_phase_us:
            raise SafetyError(
                f"{where}: phase {k} width {w:g} µs is below the minimum {lim.min_phase_us:g} µs"
            )
        if lim.phase_grid_us and math.fmod(w, lim.phase_grid_us) != 0.0:  # exact: the vendor's is
            raise SafetyError(
                f"{where}: phase {k} width {w:g} µs is not on {lim.name}'s "
                f"{lim.phase_grid_us:g} µs grid"
            )
        if i == 0:
            raise SafetyError(f"{where}: phase {k} has 0 µA; every phase must carry current")
        if abs(i) > lim.max_current_ua:
            raise SafetyError(
                f"{where}: phase {k} current {i:g} µA exceeds {lim.name}'s limit "
                f"±{lim.max_current_ua:g} µA"
            )
        q = charge_nc(w, i)
        if q > lim.max_charge_nc + 1e-12:
            raise SafetyError(
                f"{where}: phase {k} carries {q:g} nC ({abs(i):g} µA × {w:g} µs), above "
                f"{lim.name}'s {lim.max_charge_nc:g} nC per phase"
            )
        sign = math.copysign(1.0, i)
        if sign == prev_sign:
            raise SafetyError(
                f"{where}: phases {k - 1} and {k} have the same polarity; phases must alternate"
            )
        prev_sign = sign
    net = pulse.net_charge_nc
    if abs(net) > lim.balance_tolerance_nc:
        each = ", ".join(f"{w * i * 1e-3:+g}" for w, i in phases)
        raise SafetyError(
            f"{where}: pulse is not charge-balanced: net {net:+g} nC (phases {each} nC); "
            f"{lim.name} requires balance within {lim.balance_tolerance_nc:g} nC"
        )


def _check_burst(burst: Burst, pulse: Pulse, lim: StimLimits, where: str) -> None:
    n = burst.count
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise SafetyError(f"{where}: burst count {n!r} is not a whole number >= 1")
    if n > lim.max_burst_count:
        raise SafetyError(
            f"{where}: burst of {n} pulses exceeds {lim.name}'s {lim.max_burst_count} per burst"
        )
    if n == 1:
        return
    if burst.hz is None:
        raise SafetyError(f"{where}: a burst of {n} pulses needs a rate (hz)")
    hz = _num(burst.hz, "burst rate", where)
    if hz <= 0:
        raise SafetyError(f"{where}: burst rate {hz:g} Hz is not positive")
    top = min(lim.max_burst_hz, lim.max_pulse_rate_hz or math.inf)
    if hz > top:
        raise SafetyError(f"{where}: burst rate {hz:g} Hz exceeds {lim.name}'s {top:g} Hz")
    if 1e6 / hz < pulse.duration_us:
        raise SafetyError(
            f"{where}: burst at {hz:g} Hz leaves {1e6 / hz:g} µs per pulse, shorter than the "
            f"pulse's {pulse.duration_us:g} µs"
        )


def _check_electrodes(
    electrodes: Sequence[int], lim: StimLimits, allowed: Collection[int] | None, where: str
) -> None:
    if len(electrodes) == 0:
        raise SafetyError(f"{where}: no electrode named")
    for e in electrodes:
        if isinstance(e, bool) or not isinstance(e, int | np.integer):
            raise SafetyError(f"{where}: electrode {e!r} is not a whole number")
        if not 0 <= e < lim.n_channels:
            raise SafetyError(
                f"{where}: electrode {e} does not exist ({lim.name} has channels "
                f"0..{lim.n_channels - 1})"
            )
        if allowed is not None and e not in allowed:
            raise SafetyError(
                f"{where}: electrode {e} is not an allowed stimulation electrode "
                f"(allowed: {sorted(allowed)})"
            )
    if len(set(electrodes)) != len(electrodes):
        raise SafetyError(f"{where}: electrodes {list(electrodes)} name one twice")


def check(
    stims: Stimulation | Iterable[Stimulation],
    limits: StimLimits,
    *,
    allowed: Collection[int] | None = None,
    where: str = "stim",
) -> list[Stimulation]:
    """Refuse (SafetyError) anything outside ``limits``; returns the stimulations checked.

    Checks each stimulation on its own (electrodes, phases, charge, balance,
    burst) and, within this call, the pulse rate per electrode. History across
    calls is :class:`StimGuard`'s job.
    """
    items = [stims] if isinstance(stims, Stimulation) else list(stims)
    for n, s in enumerate(items):
        at = f"{where}[{n}]" if len(items) > 1 else where
        if not isinstance(s, Stimulation):
            raise SafetyError(f"{at}: {s!r} is not a Stimulation")
        _check_electrodes(s.electrodes, limits, allowed, at)
        _check_pulse(s.pulse, limits, at)
        _check_burst(s.burst, s.pulse, limits, at)
    _check_rate(items, limits, {}, where)
    return items


def _check_rate(
    items: Sequence[Stimulation], lim: StimLimits, last_ns: dict[int, int], where: str
) -> dict[int, int]:
    """Per electrode, pulses at least ``min_interval_ns`` apart; returns the new last times."""
    gap = lim.min_interval_ns
    last = dict(last_ns)
    for s in sorted(items, key=lambda s: s.t_ns):
        for e in s.electrodes:
            e = int(e)
            prev = last.get(e)
            if prev is not None and s.t_ns - prev < gap:
                dt_ms = (s.t_ns - prev) / 1e6
                raise SafetyError(
                    f"{where}: electrode {e} pulsed {dt_ms:g} ms after its previous pulse; "
                    f"{lim.name} allows at most {lim.max_pulse_rate_hz:g} Hz "
                    f"({gap / 1e6:g} ms apart)"
                )
            last[e] = s.t_ns + s.burst.span_ns
    return last


class StimGuard:
    """A device's gate: :func:`check` plus the pulse rate across calls.

    ``admit`` checks everything first and only then remembers the pulse
    times, so a refused call leaves the guard as it was (nothing was sent).
    """

    def __init__(self, limits: StimLimits, *, allowed: Collection[int] | None = None) -> None:
        self.limits = limits
        self.allowed = frozenset(int(e) for e in allowed) if allowed is not None else None
        self._last_ns: dict[int, int] = {}
        #: stimulations refused so far (what a run reports)
        self.refused = 0

    def admit(
        self, stims: Stimulation | Iterable[Stimulation], *, where: str = "stim"
    ) -> list[Stimulation]:
        """The stimulations if every one is safe now, else SafetyError (and nothing changes)."""
        try:
            items = check(stims, self.limits, allowed=self.allowed, where=where)
            last = _check_rate(items, self.limits, self._last_ns, where)
        except SafetyError:
            self.refused += 1
            raise
        self._last_ns = last
        return items

    def reset(self) -> None:
        """Forget pulse history (a new session: the device clock restarts)."""
        self._last_ns.clear()


def stimulations_from_row(
    amplitudes_ua: np.ndarray, electrodes: Sequence[int], phase_us: float, t_ns: int
) -> list[Stimulation]:
    """The MEA ``stim`` input row (µA per stim electrode, 0 = none) as stimulations.

    Electrodes with the same amplitude share one stimulation, so a driver sends
    them in one vendor call (one channel set) and they start together.
    """
    row = np.asarray(amplitudes_ua, dtype=np.float64).reshape(-1)
    if row.size != len(electrodes):
        raise SafetyError(
            f"stim row has {row.size} amplitudes for {len(electrodes)} stimulation electrodes"
        )
    if not np.isfinite(row).all():
        k = int(np.flatnonzero(~np.isfinite(row))[0])
        raise SafetyError(f"stim[{k}] (electrode {electrodes[k]}) = {row[k]} is not finite")
    groups: dict[float, list[int]] = {}
    for a, e in zip(row.tolist(), electrodes):
        if a != 0.0:
            groups.setdefault(a, []).append(int(e))
    return [
        Stimulation(tuple(es), Pulse.biphasic(a, phase_us), Burst(), t_ns)
        for a, es in sorted(groups.items())
    ]
