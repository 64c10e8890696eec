"""Pong in closed loop with an MEA, in the spirit of DishBrain (Kagan et al. 2022).

Every step (10 ms, the MEA interface's ``step_ms``) the loop reads the spikes
of the last step, moves the paddle by the activity of two motor regions
(up minus down, each against its own running mean), advances the game (:mod:`physres.tasks.pong`)
and stimulates:

* **sensory coding**, as in DishBrain: the ball's height picks one of 8
  sensory electrodes (place code) and its distance from the paddle sets the
  pulse rate on it, 4 Hz far away to 40 Hz at the paddle (rate code);
* **predictable feedback on a hit**: a pulse on every sensory electrode every
  step for 100 ms (100 Hz);
* **unpredictable feedback on a miss**: 4 s of pulses on random sensory
  electrodes at random times (5 Hz each), the game paused meanwhile.

The **no-feedback control** plays the same game on a fresh device with the
same seed, sensory coding alone, and the same 4 s pause after a miss in
silence. Rally statistics (hits per rally, aces, long rallies; per minute of
play) are reported for both, with the loop's latency (read → decide → apply,
per step) and, with ``realtime: true`` (each step due at t0 + k · step),
its period jitter (|period − median period|), p50 and p99, and how far it
fell behind the schedule at worst.

Any device of the MEA interface plays: ``sim.mea``, ``drivers.cl1``; a
device whose every stimulation is refused (``drivers.openephys``) cannot.
``physres pong CONFIG --out DIR`` runs it.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from physres import registry
from physres.errors import ConfigError
from physres.tasks.pong import PongParams, serve, step

__all__ = ["PongConfig", "PongRun", "play", "register", "run_pong"]


class DeviceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str = "sim.mea"
    params: dict[str, Any] = Field(default_factory=dict)


class PongConfig(BaseModel):
    """A Pong experiment: the device, the game, the coding, the feedback, how long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "mea_pong"
    seed: int = 0
    device: DeviceConfig = DeviceConfig()
    game: PongParams = PongParams()
    #: minutes of game time per condition (feedback, no feedback)
    minutes: float = Field(2.0, gt=0, le=600, allow_inf_nan=False)
    #: the 8 sensory electrodes, top of the field first; they must be the device's
    #: ``stim_electrodes`` (the stim input's columns), in this order
    sensory: list[int] = Field(default_factory=lambda: [1, 9, 17, 25, 33, 41, 49, 57])
    #: electrodes whose spikes move the paddle up, and down
    motor_up: list[int] = Field(default_factory=lambda: [5, 6, 7, 13, 14, 15, 21, 22, 23])
    motor_down: list[int] = Field(default_factory=lambda: [37, 38, 39, 45, 46, 47, 53, 54, 55])
    #: sensory pulse rate from far (x = 1) to at the paddle (x = 0), Hz
    rate_hz: tuple[float, float] = (4.0, 40.0)
    #: sensory and feedback pulse amplitude (µA); the device's limits still apply
    amplitude_ua: float = Field(6.0, gt=0, allow_inf_nan=False)
    #: predictable feedback: a pulse on every sensory electrode every step for this long
    predictable_ms: float = Field(100.0, ge=0, le=10_000, allow_inf_nan=False)
    #: unpredictable feedback: this long, each sensory electrode at this mean rate
    unpredictable_s: float = Field(4.0, ge=0, le=60, allow_inf_nan=False)
    unpredictable_hz: float = Field(5.0, ge=0, le=100, allow_inf_nan=False)
    #: paddle speed per unit of motor difference (a − b) / (a + b + 1), a and b each region's
    #: spike count over its running mean
    gain: float = Field(4.0, gt=0, le=1_000, allow_inf_nan=False)
    #: pace the loop in real time (each step due at t0 + k · step); False: as fast as it goes
    realtime: bool = False

    @model_validator(mode="after")
    def _regions(self) -> PongConfig:
        if len(self.sensory) != 8:
            raise ValueError(
                f"sensory: DishBrain's coding needs 8 electrodes, got {len(self.sensory)}"
            )
        if set(self.motor_up) & set(self.motor_down):
            raise ValueError("motor_up and motor_down share electrodes")
        if not self.motor_up or not self.motor_down:
            raise ValueError("motor_up and motor_down need at least one electrode each")
        lo, hi = self.rate_hz
        if not 0 <= lo <= hi:
            raise ValueError(f"rate_hz must be 0 <= far <= near, got {self.rate_hz}")
        return self


@dataclass
class PongRun:
    """One condition's game: every rally's hits, when it ended, and the loop's timing."""

    condition: str
    rallies: list[int] = field(default_factory=list)  # hits of each finished rally
    rally_end_s: list[float] = field(default_factory=list)  # game time it ended
    latency_ms: list[float] = field(default_factory=list)  # read → decide → apply, per step
    starts_s: list[float] = field(default_factory=list)  # when each step began (realtime)
    behind_ms: list[float] = field(default_factory=list)  # step start − schedule (realtime)
    pulses: int = 0
    spikes: int = 0

    def summary(self, minutes: float) -> dict[str, Any]:
        r = np.asarray(self.rallies, float)
        ends = np.asarray(self.rally_end_s, float)
        per_min = [
            float(r[(ends >= 60 * m) & (ends < 60 * (m + 1))].mean())
            if ((ends >= 60 * m) & (ends < 60 * (m + 1))).any()
            else None
            for m in range(int(np.ceil(minutes)))
        ]
        lat = np.asarray(self.latency_ms) if self.latency_ms else np.zeros(1)
        out: dict[str, Any] = {
            "rallies": len(r),
            "hits": int(r.sum()),
            "hits_per_rally": float(r.mean()) if len(r) else 0.0,
            "aces_fraction": float((r == 0).mean()) if len(r) else 0.0,
            "long_rallies_fraction": float((r >= 3).mean()) if len(r) else 0.0,
            "hits_per_rally_by_minute": per_min,
            "latency_ms_p50": float(np.percentile(lat, 50)),
            "latency_ms_p99": float(np.percentile(lat, 99)),
            "pulses": self.pulses,
            "spikes": self.spikes,
        }
        if len(self.starts_s) > 1:
            # jitter: how far each step's period strays from step_ms; behind: how late a
            # step started against the schedule t0 + k · step (it grows while overloaded)
            period = np.diff(np.asarray(self.starts_s)) * 1e3
            jitter = np.abs(period - np.median(period))
            out["jitter_ms_p50"] = float(np.percentile(jitter, 50))
            out["jitter_ms_p99"] = float(np.percentile(jitter, 99))
            out["behind_ms_max"] = float(np.max(self.behind_ms))
        return out


def play(cfg: PongConfig, feedback: bool) -> PongRun:
    """One condition: a fresh device, ``cfg.minutes`` of game time."""
    params = {**cfg.device.params, "stim_electrodes": list(cfg.sensory)}
    dev = registry.create(cfg.device.kind, "mea", params)
    desc = dev.describe()
    if "stim" not in desc.inputs or "spikes" not in desc.streams:
        raise ConfigError(
            f"pong: {cfg.device.kind} does not speak the MEA interface (stim → spikes)"
        )
    step_ms = float(desc.meta.get("step_ms", 10.0))
    dt = step_ms / 1000.0
    n_ch = int(desc.meta.get("n_channels", 64))
    for e in (*cfg.motor_up, *cfg.motor_down):
        if not 0 <= e < n_ch:
            raise ConfigError(f"pong: motor electrode {e} is not on the {n_ch}-electrode array")
    rng = np.random.default_rng(cfg.seed)
    g = cfg.game
    run = PongRun("feedback" if feedback else "no_feedback")
    up, down = np.asarray(cfg.motor_up), np.asarray(cfg.motor_down)
    n_steps = round(cfg.minutes * 60 / dt)
    predictable = round(cfg.predictable_ms / step_ms)
    pause = round(cfg.unpredictable_s / dt)
    p_unpred = cfg.unpredictable_hz * dt
    lo_hz, hi_hz = cfg.rate_hz
    amp = cfg.amplitude_ua
    state = serve(g, rng)
    phase = 0.0
    hits = 0
    feedback_left = 0  # steps of predictable feedback still to give
    paused = 0  # steps of the miss pause still to go
    move = 0.0
    mean_up = mean_down = 0.0
    decay = dt / 1.0
    with dev:
        dev.reset(seed=cfg.seed)
        t0 = time.perf_counter()
        for k in range(n_steps):
            if cfg.realtime:
                due = t0 + k * dt
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                t_step = time.perf_counter()
                run.starts_s.append(t_step)
                run.behind_ms.append((t_step - due) * 1e3)
            t_step = time.perf_counter()
            row = np.zeros(8)
            if paused:
                if feedback:  # unpredictable: random electrodes at random times
                    row[rng.random(8) < p_unpred] = amp
                paused -= 1
            elif feedback_left:
                row[:] = amp
                feedback_left -= 1
            else:  # place code for height, rate code for distance
                phase += (lo_hz + (hi_hz - lo_hz) * (1.0 - state.x)) * dt
                if phase >= 1.0:
                    phase -= 1.0
                    row[min(7, int((1.0 - state.y) * 8))] = amp
            dev.apply({"stim": row[None]})
            spikes = dev.read()["spikes"].data
            counts = np.bincount(spikes["channel"], minlength=n_ch)
            n_up, n_down = float(counts[up].sum()), float(counts[down].sum())
            # each region against its own running mean (τ 1 s): a region that is simply
            # busier must not pin the paddle to one wall
            mean_up += (n_up - mean_up) * decay
            mean_down += (n_down - mean_down) * decay
            a, b = n_up / (mean_up + 1e-3), n_down / (mean_down + 1e-3)
            move = cfg.gain * (a - b) / (a + b + 1.0)
            run.latency_ms.append((time.perf_counter() - t_step) * 1e3)
            run.pulses += int((row > 0).sum())
            run.spikes += len(spikes)
            if paused:
                continue
            state, outcome = step(state, move, dt, g, rng)
            if outcome == "hit":
                hits += 1
                feedback_left = predictable if feedback else 0
            elif outcome == "miss":
                run.rallies.append(hits)
                run.rally_end_s.append((k + 1) * dt)
                hits = 0
                paused = pause
    return run


def run_pong(cfg: PongConfig, out: Path | None = None) -> dict[str, Any]:
    """Both conditions; ``metrics.json`` and ``rallies.png`` in ``out`` when given."""
    runs = [play(cfg, feedback=True), play(cfg, feedback=False)]
    result: dict[str, Any] = {
        "name": cfg.name,
        "device": cfg.device.kind,
        "minutes_per_condition": cfg.minutes,
        "realtime": cfg.realtime,
        "conditions": {r.condition: r.summary(cfg.minutes) for r in runs},
    }
    fb, ctrl = (result["conditions"][c] for c in ("feedback", "no_feedback"))
    result["hits_per_rally_margin"] = fb["hits_per_rally"] - ctrl["hits_per_rally"]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
        (out / "metrics.json").write_text(json.dumps(result, indent=2))
        _plot(result, out / "rallies.png")
    return result


def _plot(result: dict[str, Any], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.4), layout="constrained")
    ax = fig.add_subplot()
    for name, c in result["conditions"].items():
        ys = [np.nan if v is None else v for v in c["hits_per_rally_by_minute"]]
        ax.plot(np.arange(1, len(ys) + 1), ys, "o-", label=f"{name} ({c['hits_per_rally']:.2f})")
    fb = result["conditions"]["feedback"]
    ax.set_title(
        f"{result['name']}: hits per rally, feedback − no feedback "
        f"{result['hits_per_rally_margin']:+.2f}; loop p50/p99 "
        f"{fb['latency_ms_p50']:.1f}/{fb['latency_ms_p99']:.1f} ms"
    )
    ax.set_xlabel("minute of play")
    ax.set_ylabel("hits per rally")
    ax.legend()
    fig.savefig(path, dpi=100)


# ---------------------------------------------------------------------- CLI
def load(path: Path, minutes: float | None = None) -> PongConfig:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from e
    if minutes is not None:
        raw["minutes"] = minutes
    try:
        return PongConfig.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "(root)"
        raise ConfigError(f"{path}: {loc}: {first['msg']}") from e


def _cmd(args: argparse.Namespace) -> int:
    try:
        cfg = load(Path(args.config), args.minutes)
        result = run_pong(cfg, Path(args.out))
    except ConfigError as e:
        print(f"error: {e}")
        return 2
    for name, c in result["conditions"].items():
        print(
            f"{name:>12}: {c['rallies']} rallies, {c['hits_per_rally']:.2f} hits per rally, "
            f"aces {c['aces_fraction']:.0%}, loop p50/p99 {c['latency_ms_p50']:.2f}/"
            f"{c['latency_ms_p99']:.2f} ms"
            + (
                f", jitter p50/p99 {c['jitter_ms_p50']:.2f}/{c['jitter_ms_p99']:.2f} ms"
                if "jitter_ms_p50" in c
                else ""
            )
        )
    print(f"hits per rally, feedback − no feedback: {result['hits_per_rally_margin']:+.3f}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("pong", help="Pong in closed loop with an MEA (DishBrain-style)")
    p.add_argument("config", help="a Pong config (examples/mea_pong.yaml)")
    p.add_argument("--out", required=True, help="folder for metrics.json and rallies.png")
    p.add_argument("--minutes", type=float, help="game minutes per condition (overrides)")
    p.set_defaults(func=_cmd)
