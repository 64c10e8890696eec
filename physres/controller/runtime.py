"""Run a trained controller one control step at a time, with earlier frames' tokens cached.

:class:`Controller` wraps a :class:`~physres.controller.checkpoint.Checkpoint`:
``set_prompt`` checks the text, embeds it and measures how close it is to the
prompts the controller was trained on (cosine similarity of the sentence
embeddings); a prompt below ``min_similarity`` is **refused** with
:class:`PromptRefused` naming the similarity and the nearest known prompt,
before any action is produced: acting on an instruction it was never taught
would move the arm on a guess. ``check_arm`` refuses an arm whose action spec
or camera differs from the checkpoint's. ``step(image, proprio)`` returns the
next action (float32, the spec's layout) and keeps the last ``history`` frames'
tokens so each step runs the stem once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physres.controller.actions import ActionTokenizer, ChunkEnsembler
from physres.controller.checkpoint import Checkpoint, CheckpointError
from physres.controller.data import resize_frames
from physres.controller.encoder import PromptEncoder, check_prompt
from physres.controller.train import preprocess
from physres.errors import ConfigError

__all__ = ["DEFAULT_MIN_SIMILARITY", "Controller", "PromptMatch", "PromptRefused"]

#: below this cosine similarity to every trained prompt a prompt is refused; unseen
#: paraphrases of the trained tasks score above it and unrelated requests below (README)
DEFAULT_MIN_SIMILARITY = 0.5


class PromptRefused(ConfigError):
    """A prompt is too far from every trained task; carries the similarity."""

    def __init__(self, message: str, *, similarity: float, nearest: str) -> None:
        super().__init__(message)
        self.similarity = similarity
        self.nearest = nearest


@dataclass(frozen=True)
class PromptMatch:
    """How a prompt relates to the trained ones."""

    prompt: str
    similarity: float
    nearest_prompt: str
    nearest_task: str


class Controller:
    """A checkpoint ready to act (see module docstring)."""

    def __init__(
        self,
        checkpoint: Checkpoint | str | Path,
        *,
        encoder: PromptEncoder | None = None,
        min_similarity: float = DEFAULT_MIN_SIMILARITY,
        threads: int | None = None,
    ) -> None:
        ck = checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint.load(checkpoint)
        if encoder is not None and encoder.name != ck.encoder:
            raise CheckpointError(
                f"checkpoint was trained with encoder {ck.encoder!r}, not {encoder.name!r}"
            )
        if threads:
            torch.set_num_threads(threads)
        self.ck = ck
        self.cfg = ck.config
        self.net = ck.build()
        self.encoder = encoder or PromptEncoder(ck.encoder)
        self.min_similarity = float(min_similarity)
        self.mean = torch.from_numpy(ck.proprio_mean)
        self.std = torch.from_numpy(ck.proprio_std)
        low, high = ck.action_spec["low"], ck.action_spec["high"]
        self.low, self.high = np.asarray(low, np.float32), np.asarray(high, np.float32)
        self.tokenizer = ActionTokenizer(low, high, self.cfg.bins)
        self.ensembler = ChunkEnsembler(self.cfg.chunk, self.cfg.ensemble_m)
        self._train_emb = ck.prompt_embeddings / np.maximum(
            np.linalg.norm(ck.prompt_embeddings, axis=1, keepdims=True), 1e-8
        )
        self._tokens: deque[torch.Tensor] = deque(maxlen=self.cfg.history)
        self._frames: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=self.cfg.history)
        self._text: torch.Tensor | None = None
        self.prompt: str | None = None
        self.match: PromptMatch | None = None

    # ----------------------------------------------------------- checks
    def check_arm(self, action_spec: Mapping[str, Any], camera_size: int | None = None) -> None:
        """CheckpointError unless the arm's action spec (names, bounds, rate) and camera match."""
        mine = self.ck.action_spec
        for key in ("names", "units", "low", "high", "frame", "control_hz"):
            a, b = mine.get(key), action_spec.get(key)
            if isinstance(a, list | tuple) and isinstance(b, list | tuple):
                same = len(a) == len(b) and all(
                    x == y if isinstance(x, str) else np.isclose(x, y) for x, y in zip(a, b)
                )
            else:
                same = a == b
            if not same:
                raise CheckpointError(
                    f"checkpoint action spec {key}={a!r} but the arm's is {b!r}: the actions "
                    "would mean something else on this arm"
                )
        if camera_size is not None and camera_size < self.cfg.image_size // 2:
            raise CheckpointError(
                f"the arm's camera gives {camera_size}² frames; the controller was trained on "
                f"{self.ck.camera.get('size')}² from the {self.ck.camera.get('source')} camera"
            )

    def similarity(self, prompt: str) -> PromptMatch:
        """Nearest trained prompt by cosine similarity (the prompt text is validated)."""
        text = check_prompt(prompt)
        v = self.encoder.encode_one(text)
        sims = self._train_emb @ (v / max(float(np.linalg.norm(v)), 1e-8))
        i = int(np.argmax(sims))
        return PromptMatch(text, float(sims[i]), self.ck.prompts[i], self.ck.prompt_tasks[i])

    # ----------------------------------------------------------- acting
    def set_prompt(self, prompt: str) -> PromptMatch:
        """Check and adopt a new instruction (forgets the history); PromptRefused if far."""
        m = self.similarity(prompt)
        if m.similarity < self.min_similarity:
            raise PromptRefused(
                f"prompt {m.prompt!r} is too far from every trained task: similarity "
                f"{m.similarity:.2f} < {self.min_similarity:.2f} (nearest: {m.nearest_prompt!r}, "
                f"task {m.nearest_task})",
                similarity=m.similarity,
                nearest=m.nearest_prompt,
            )
        self._text = torch.from_numpy(self.encoder.encode_one(m.prompt))[None]
        self.prompt, self.match = m.prompt, m
        self.reset()
        return m

    def reset(self) -> None:
        """A new episode: no earlier frames."""
        self._tokens.clear()
        self._frames.clear()
        self.ensembler.reset()

    def _frame_tokens(self, image: np.ndarray, proprio: np.ndarray) -> torch.Tensor:
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ConfigError(f"camera frame must be (S, S, 3) uint8, got {img.shape} {img.dtype}")
        p = np.asarray(proprio, np.float32).reshape(-1)
        if p.shape != (self.cfg.proprio_dim,) or not np.isfinite(p).all():
            raise ConfigError(
                f"proprio must be {self.cfg.proprio_dim} finite values (x, y, z, yaw, opening), "
                f"got {p.tolist()}"
            )
        img = resize_frames(img[None], self.cfg.image_size)
        x, q = preprocess(torch.from_numpy(img), torch.from_numpy(p[None]), self.mean, self.std)
        assert self._text is not None
        return self.net.frame_tokens(x.contiguous(memory_format=torch.channels_last), q, self._text)

    @torch.no_grad()
    def step(self, image: np.ndarray, proprio: np.ndarray, *, cached: bool = True) -> np.ndarray:
        """The next action for this frame; ``cached=False`` recomputes every frame's tokens
        (the benchmark's baseline)."""
        if self._text is None:
            raise ConfigError("Controller.step() before set_prompt(): give it an instruction")
        if cached:
            self._tokens.append(self._frame_tokens(image, proprio))
            toks = list(self._tokens)
        else:  # keep raw frames and recompute them all, as a cache-less loop would
            self._frames.append((image, proprio))
            toks = [self._frame_tokens(i, p) for i, p in self._frames]
        out = self.net.decode(torch.stack(toks, dim=1))[0, -1].numpy()
        return self._action(out)

    def _action(self, out: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        if cfg.head == "tokens":
            logits = out.reshape(cfg.action_dim, cfg.bins)
            return self.tokenizer.decode(logits.argmax(-1))
        chunk = out.reshape(cfg.chunk, cfg.action_dim)
        chunk = self.low + (chunk + 1) * 0.5 * (self.high - self.low)
        a = self.ensembler.push(chunk).astype(np.float32)
        return np.clip(a, self.low, self.high)
