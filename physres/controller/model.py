"""The prompt-to-action transformer: FiLM conv stem → TokenLearner → causal transformer.

One frame becomes ``tokens_per_frame`` image tokens (plus ``grid``² pooled cells)
and a proprioception token:

* a small conv stem over the scene camera (stride-2 blocks), each block
  FiLM-conditioned on the prompt embedding (Perez et al. 2018, as RT-1 does
  with its EfficientNet), so what the stem keeps depends on the instruction;
* a TokenLearner (Ryoo et al. 2021): ``K`` learned spatial attention maps pool
  the feature map into ``K`` tokens; with ``keypoints`` each token also carries
  where its map looks (the expected image x, y under it, a spatial-softmax
  keypoint as in Levine et al. 2016): pooling alone keeps *what* a conv stem
  saw but not *where*, and where the cube is is what the arm needs;
* with ``grid`` > 0, the feature map average-pooled into grid × grid cells, one
  token each: the whole scene, coarsely, whatever the attention maps settled on;
* with ``scene_keypoints`` M > 0, one more token holding M keypoints' (x, y):
  M maps from a 1 × 1 conv, each spatial-softmaxed on its own (Levine et al.
  2016's deep spatial features). The TokenLearner's maps compete for what the
  loss needs most (measured: all four sit on the cube, also while it is
  carried), so nothing says where the bowl is; M independent keypoints cost one
  token and let every object the stem sees have a position;
* a proprioception token (tool pose and gripper opening) that also carries the
  prompt's projection.

A causal transformer runs over the last ``history`` frames' tokens (a frame
sees itself and earlier frames) and each frame's pooled output predicts its
action: 256-bin tokens per dimension (``head="tokens"``) or a chunk of the
next ``chunk`` actions (``head="chunk"``); in training only, with ``future``
horizons, also where the hand will be that many steps later (see
:data:`ControllerConfig.future`). A frame's tokens do not depend on
later frames, so at run time they are computed once and cached
(:meth:`PromptToAction.frame_tokens`), and a control step costs one stem pass
plus the transformer over the window.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn
from torch.nn import functional as F

__all__ = ["ControllerConfig", "PromptToAction"]


class ControllerConfig(BaseModel):
    """Shape of the controller network (stored in every checkpoint)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: camera frames are resized to this square side before the stem (96² costs ~½ of 128²)
    image_size: int = Field(96, ge=32, le=256)
    #: frames the transformer sees; short keeps training and each control step cheap
    history: int = Field(4, ge=1, le=16)
    d_model: int = Field(128, ge=16, le=1024)
    layers: int = Field(3, ge=1, le=12)
    heads: int = Field(4, ge=1, le=16)
    tokens_per_frame: int = Field(4, ge=1, le=32)
    #: each image token also carries its attention map's expected (x, y) in the frame
    keypoints: bool = True
    #: also average-pool the feature map into grid × grid tokens, one per cell (0: none).
    #: The TokenLearner's maps can all settle on one object (measured: all four on the
    #: cube), so nothing else is in the tokens; with grid 4 it still did not learn where
    #: to carry the cube (README), so the shipped checkpoint has none
    grid: int = Field(0, ge=0, le=8)
    #: M independent spatial-softmax keypoints, their 2M coordinates in one token (0: none)
    scene_keypoints: int = Field(0, ge=0, le=256)
    #: training-only auxiliary target: the hand's displacement ``h`` steps later for each
    #: ``h`` (clipped at the episode's end, so a large ``h`` is where the episode ends).
    #: Five-step chunks never look past the next few steps, and the carry to the bowl is a
    #: few percent of them (measured: the carry answered with no motion); where the hand
    #: ends is the place, on every step of every demonstration, so the tokens must find it
    #: (the shipped checkpoint: (10, 20, 1000); pick_place went from 0 to 100 %, README)
    future: tuple[int, ...] = ()
    #: weight of the future loss beside the action loss
    future_weight: float = Field(1.0, ge=0.0, allow_inf_nan=False)
    stem_channels: tuple[int, ...] = (16, 32, 64, 64)
    #: "tokens": RT-1's 256 bins per dimension; "chunk": ACT's action chunks
    head: Literal["tokens", "chunk"] = "chunk"
    bins: int = Field(256, ge=2, le=4096)
    chunk: int = Field(5, ge=1, le=64)
    #: ACT's temporal-ensembling weight exp(-m i) over chunks predicted i steps apart
    ensemble_m: float = Field(0.1, ge=0.0, allow_inf_nan=False)
    proprio_dim: int = Field(5, ge=1)
    action_dim: int = Field(6, ge=1)
    text_dim: int = Field(384, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    #: the prompt-blind control: the embedding is zeroed, everything else the same
    prompt_blind: bool = False

    @field_validator("future")
    @classmethod
    def _steps_ahead(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(h < 1 for h in v) or len(v) > 8:
            raise ValueError("future: at most 8 horizons, each >= 1 step")
        return v

    @property
    def out_dim(self) -> int:
        if self.head == "tokens":
            return self.action_dim * self.bins
        return self.chunk * self.action_dim


class FiLMBlock(nn.Module):
    """conv 3×3 stride 2 → GroupNorm → FiLM(prompt) → GELU."""

    def __init__(self, c_in: int, c_out: int, text_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
        self.norm = nn.GroupNorm(min(8, c_out), c_out)
        self.film = nn.Linear(text_dim, 2 * c_out)
        nn.init.zeros_(self.film.weight)  # starts as the identity: gamma 1, beta 0
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x))
        gamma, beta = self.film(text).chunk(2, dim=-1)
        return F.gelu(x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None])


class TokenLearner(nn.Module):
    """``K`` spatial softmax maps pool a (C, H, W) map into K tokens of C (+ 2 with keypoints).

    With ``keypoints`` a token ends with its map's expected (x, y) in [-1, 1]:
    the position that pooling would otherwise throw away.
    """

    def __init__(self, channels: int, k: int, *, keypoints: bool = False) -> None:
        super().__init__()
        self.keypoints = keypoints
        self.attn = nn.Sequential(
            nn.Conv2d(channels, channels, 1), nn.GELU(), nn.Conv2d(channels, k, 1)
        )

    @staticmethod
    def grid(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
        """(H·W, 2) pixel-centre coordinates (x, y) in [-1, 1], row-major like ``flatten``."""
        ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, dtype=like.dtype, device=like.device)
        xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, dtype=like.dtype, device=like.device)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.attn(x).flatten(2).softmax(-1)  # (N, K, HW)
        tokens = torch.einsum("nkp,ncp->nkc", w, x.flatten(2))
        if not self.keypoints:
            return tokens
        xy = w @ self.grid(x.shape[-2], x.shape[-1], w)  # (N, K, 2)
        return torch.cat([tokens, xy], dim=-1)


class SceneKeypoints(nn.Module):
    """(N, C, H, W) → (N, 2M): M 1 × 1-conv maps, each softmaxed over the image → its (x, y).

    Unlike the TokenLearner's maps, these are not pooled into features, so each
    map only has to find *something* for its position to be useful downstream.
    """

    def __init__(self, channels: int, m: int) -> None:
        super().__init__()
        self.maps = nn.Conv2d(channels, m, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.maps(x).flatten(2).softmax(-1)  # (N, M, HW)
        xy = w @ TokenLearner.grid(x.shape[-2], x.shape[-1], w)  # (N, M, 2)
        return xy.flatten(1)


class PromptToAction(nn.Module):
    """The controller network (see module docstring); inputs are normalised by the caller."""

    def __init__(self, cfg: ControllerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        chans = (3, *cfg.stem_channels)
        self.stem = nn.ModuleList(FiLMBlock(a, b, cfg.text_dim) for a, b in pairwise(chans))
        self.token_learner = TokenLearner(chans[-1], cfg.tokens_per_frame, keypoints=cfg.keypoints)
        self.image_proj = nn.Linear(chans[-1] + 2 * cfg.keypoints, cfg.d_model)
        self.grid_proj = nn.Linear(chans[-1], cfg.d_model) if cfg.grid else None
        m = cfg.scene_keypoints
        self.scene_kp = (
            nn.Sequential(SceneKeypoints(chans[-1], m), nn.Linear(2 * m, cfg.d_model))
            if m
            else None
        )
        self.proprio_proj = nn.Linear(cfg.proprio_dim, cfg.d_model)
        self.text_proj = nn.Linear(cfg.text_dim, cfg.d_model)
        n = cfg.tokens_per_frame + cfg.grid**2 + (m > 0) + 1
        self.slot_emb = nn.Parameter(torch.zeros(1, 1, n, cfg.d_model))
        self.time_emb = nn.Parameter(torch.zeros(1, cfg.history, 1, cfg.d_model))
        nn.init.normal_(self.slot_emb, std=0.02)
        nn.init.normal_(self.time_emb, std=0.02)
        layer = nn.TransformerEncoderLayer(
            cfg.d_model,
            cfg.heads,
            dim_feedforward=4 * cfg.d_model,
            dropout=cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.out_dim)
        self.future_head = nn.Linear(cfg.d_model, 3 * len(cfg.future)) if cfg.future else None
        # frame-level causal mask over (history × tokens) positions: True = may not attend
        frame = torch.arange(cfg.history).repeat_interleave(n)
        self.register_buffer("mask", frame[None, :] > frame[:, None], persistent=False)

    def frame_tokens(
        self, image: torch.Tensor, proprio: torch.Tensor, text: torch.Tensor
    ) -> torch.Tensor:
        """(N, K+1, d) tokens of N frames: image (N, 3, S, S) float, proprio (N, P), text (N, E)."""
        if self.cfg.prompt_blind:
            text = torch.zeros_like(text)
        x = image
        for block in self.stem:
            x = block(x, text)
        tokens = [self.image_proj(self.token_learner(x))]  # (N, K, d)
        if self.grid_proj is not None:  # cells row-major; each slot's embedding says which
            cells = F.adaptive_avg_pool2d(x, self.cfg.grid).flatten(2).transpose(1, 2)
            tokens.append(self.grid_proj(cells))  # (N, G², d)
        if self.scene_kp is not None:
            tokens.append(self.scene_kp(x)[:, None, :])  # (N, 1, d)
        prop = self.proprio_proj(proprio) + self.text_proj(text)
        return torch.cat([*tokens, prop[:, None, :]], dim=1)

    def summary(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T, n, d) frame tokens (T ≤ history, oldest first) → (B, T, d), one per frame."""
        b, t, n, d = tokens.shape
        x = tokens + self.slot_emb + self.time_emb[:, :t]
        mask = self.mask[: t * n, : t * n]
        y = self.transformer(x.reshape(b, t * n, d), mask=mask)
        return self.norm(y.reshape(b, t, n, d).mean(2))

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T, n, d) frame tokens → (B, T, out_dim): the action head (what runs on the arm)."""
        return self.out(self.summary(tokens))

    def forward(
        self, image: torch.Tensor, proprio: torch.Tensor, text: torch.Tensor
    ) -> torch.Tensor:
        """image (B, T, 3, S, S), proprio (B, T, P), text (B, E) → (B, T, out_dim + 3·F).

        The last 3·F values are the ``future`` head's (none without it)."""
        b, t = image.shape[:2]
        text_rep = text[:, None, :].expand(b, t, text.shape[-1]).reshape(b * t, -1)
        tok = self.frame_tokens(
            image.reshape(b * t, *image.shape[2:]), proprio.reshape(b * t, -1), text_rep
        )
        y = self.summary(tok.reshape(b, t, *tok.shape[1:]))
        if self.future_head is None:
            return self.out(y)
        return torch.cat([self.out(y), self.future_head(y)], dim=-1)
