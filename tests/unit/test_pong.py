"""Pong in closed loop: the game's rules, and a short game against the simulated culture.

The game alone first (hits, misses, bounces), then both conditions of the
DishBrain-style experiment on a small culture: the feedback condition gives
its culture more stimulation than the silent control, both report rallies,
and the loop reports its latency (and its jitter when paced in real time).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from physres.errors import ConfigError
from physres.experiments.pong import PongConfig, load, play, run_pong
from physres.tasks.pong import PongParams, PongState, serve, step

P = PongParams(paddle=0.2, crossing_s=1.0)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mea_pong.yaml"


def test_a_ball_reaching_the_paddle_is_hit_and_sent_back() -> None:
    rng = np.random.default_rng(0)
    s, out = step(PongState(0.005, 0.5, -1.0, 0.0, 0.55), 0.0, 0.01, P, rng)
    assert out == "hit" and s.vx > 0 and s.x >= 0


def test_a_ball_past_the_paddle_is_missed_and_served_again() -> None:
    rng = np.random.default_rng(0)
    s, out = step(PongState(0.005, 0.9, -1.0, 0.0, 0.2), 0.0, 0.01, P, rng)
    assert out == "miss" and (s.x, s.y) == (0.5, 0.5) and s.vx > 0
    assert s.paddle == 0.2, "a miss does not move the paddle"


def test_walls_bounce_and_the_paddle_moves_within_the_field() -> None:
    rng = np.random.default_rng(0)
    s, out = step(PongState(0.5, 0.995, 1.0, 1.0, 0.99), 1.0, 0.01, P, rng)
    assert out is None and s.vy < 0 and s.y <= 1 and s.paddle == 1.0
    s, _ = step(PongState(0.995, 0.5, 1.0, 0.0, 0.5), -1.0, 0.01, P, rng)
    assert s.vx < 0 and s.x <= 1 and s.paddle == pytest.approx(0.48)
    assert all(serve(P, rng).vx > 0 for _ in range(20)), "served away from the paddle"


SMALL = {"kind": "sim.mea", "params": {"n_neurons": 200, "seed": 1}}


def test_feedback_stimulates_and_the_control_stays_silent_after_misses() -> None:
    cfg = PongConfig(device=SMALL, minutes=0.12, unpredictable_s=1.0)
    fb, ctrl = play(cfg, feedback=True), play(cfg, feedback=False)
    assert len(fb.rallies) >= 2 and len(ctrl.rallies) >= 2, "misses happened in both"
    # sensory coding is the same in both; only the feedback condition adds feedback pulses
    assert fb.pulses > ctrl.pulses + 20
    summary = fb.summary(cfg.minutes)
    assert summary["rallies"] == len(fb.rallies)
    assert 0 < summary["latency_ms_p50"] <= summary["latency_ms_p99"]
    assert "jitter_ms_p50" not in summary  # not paced: no schedule to be late for


def test_a_paced_game_reports_its_jitter(tmp_path: Path) -> None:
    cfg = PongConfig(device=SMALL, minutes=0.02, realtime=True)
    result = run_pong(cfg, tmp_path)
    for c in result["conditions"].values():
        assert 0 <= c["jitter_ms_p50"] <= c["jitter_ms_p99"] and c["behind_ms_max"] >= 0
    assert (tmp_path / "metrics.json").exists() and (tmp_path / "rallies.png").exists()


def test_the_example_loads_and_bad_configs_name_the_key(tmp_path: Path) -> None:
    cfg = load(EXAMPLE)
    assert cfg.device.kind == "sim.mea" and len(cfg.sensory) == 8
    bad = tmp_path / "bad.yaml"
    bad.write_text("sensory: [1, 2, 3]\n")
    with pytest.raises(ConfigError, match="8 electrodes"):
        load(bad)
    bad.write_text("minutes: -1\n")
    with pytest.raises(ConfigError, match="minutes"):
        load(bad)
