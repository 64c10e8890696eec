"""Pong as DishBrain played it (Kagan et al. 2022): the game, without any culture in it.

A pure step function on a small state, so the closed loop
(:mod:`physres.experiments.pong`) and its tests share one game. The field is
the unit square; the paddle slides along the left wall (x = 0), the ball
bounces off the other three walls and, on reaching the left wall, is either
hit (the paddle covers its height) or missed. After a miss the ball is served
again from the centre in a random direction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Outcome", "PongParams", "PongState", "serve", "step"]

Outcome = Literal["hit", "miss", None]


class PongParams(BaseModel):
    """The game's geometry and pace (units: the field's side, seconds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: paddle height as a fraction of the field
    paddle: float = Field(0.3, gt=0, le=1)
    #: time the ball takes to cross the field horizontally (s)
    crossing_s: float = Field(1.0, gt=0, le=60, allow_inf_nan=False)
    #: the paddle's top speed (fields per second)
    paddle_speed: float = Field(2.0, gt=0, le=100, allow_inf_nan=False)
    #: steepest serve and rebound, |vy| / |vx|
    max_slope: float = Field(1.0, ge=0, le=4, allow_inf_nan=False)


@dataclass(frozen=True)
class PongState:
    x: float
    y: float
    vx: float  # fields per second
    vy: float
    paddle: float  # centre of the paddle (0..1)


def serve(p: PongParams, rng: np.random.Generator, paddle: float = 0.5) -> PongState:
    """The ball from the centre, moving away from the paddle at a random slope."""
    vx = 1.0 / p.crossing_s
    return PongState(0.5, 0.5, vx, vx * rng.uniform(-p.max_slope, p.max_slope), paddle)


def step(
    s: PongState, move: float, dt: float, p: PongParams, rng: np.random.Generator
) -> tuple[PongState, Outcome]:
    """Advance ``dt`` seconds; ``move`` in [-1, 1] is the paddle's speed as a fraction of its
    top speed (+ = up). Returns the new state and "hit", "miss" or None."""
    paddle = float(np.clip(s.paddle + np.clip(move, -1, 1) * p.paddle_speed * dt, 0, 1))
    x, y = s.x + s.vx * dt, s.y + s.vy * dt
    vx, vy = s.vx, s.vy
    if y < 0 or y > 1:  # bounce off top and bottom
        y, vy = (-y, -vy) if y < 0 else (2 - y, -vy)
    if x > 1:  # the far wall
        x, vx = 2 - x, -vx
    if x >= 0:
        return PongState(x, y, vx, vy, paddle), None
    if abs(y - paddle) <= p.paddle / 2:
        slope = rng.uniform(-p.max_slope, p.max_slope)
        return PongState(-x, y, -vx, abs(vx) * slope, paddle), "hit"
    return replace(serve(p, rng), paddle=paddle), "miss"
