"""Checkpoint files: what a trained controller needs to run, checked before it moves an arm.

A checkpoint is one ``torch.save`` file of plain containers (tensors, lists,
numbers, strings) opened with ``weights_only=True``: never arbitrary pickle.
It holds the network config and weights, the action spec the labels were
recorded in, the camera (side, source) the frames came from, the prompt
encoder's name, the normalisation (proprioception mean/std, action bounds) and
the training prompts with their embeddings (to judge how far a new prompt is
from what the controller knows). A training run's resume state (optimizer,
step, generator states) travels in a separate ``<out>.partial`` file.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
import torch

from physres.controller.model import ControllerConfig, PromptToAction
from physres.errors import DataError

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "Checkpoint", "CheckpointError"]

CHECKPOINT_FORMAT = "physres.controller"
CHECKPOINT_VERSION = 1


class CheckpointError(DataError):
    """A checkpoint file is unreadable, of another format, or does not fit the arm."""


@dataclass
class Checkpoint:
    """Everything a trained controller is, as plain data (see module docstring)."""

    config: ControllerConfig
    state_dict: dict[str, torch.Tensor]
    action_spec: dict[str, Any]
    camera: dict[str, Any]
    encoder: str
    proprio_mean: np.ndarray
    proprio_std: np.ndarray
    prompts: list[str]
    prompt_tasks: list[str]
    prompt_embeddings: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "config": self.config.model_dump(mode="json"),
            "state_dict": self.state_dict,
            "action_spec": self.action_spec,
            "camera": self.camera,
            "encoder": self.encoder,
            "normalisation": {
                "proprio_mean": torch.from_numpy(np.asarray(self.proprio_mean, np.float32)),
                "proprio_std": torch.from_numpy(np.asarray(self.proprio_std, np.float32)),
            },
            "prompts": {
                "text": list(self.prompts),
                "task": list(self.prompt_tasks),
                "embedding": torch.from_numpy(np.asarray(self.prompt_embeddings, np.float32)),
            },
            "info": self.info,
        }

    def save(self, path: str | Path) -> Path:
        """Write atomically (temporary file, then rename): a kill never leaves half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.to_dict(), tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        """Read and check a checkpoint; CheckpointError naming the file and what is wrong."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} does not exist")
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
            raise CheckpointError(
                f"checkpoint {path} is corrupted or not a torch file: {type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''}"
            ) from e
        except Exception as e:  # weights_only refuses pickled objects with UnpicklingError
            raise CheckpointError(
                f"checkpoint {path} holds something other than plain tensors and containers: "
                f"{type(e).__name__}"
            ) from e
        return cls.from_dict(raw, where=str(path))

    @classmethod
    def from_dict(cls, raw: Any, *, where: str = "checkpoint") -> Checkpoint:
        if not isinstance(raw, dict) or raw.get("format") != CHECKPOINT_FORMAT:
            got = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
            raise CheckpointError(f"{where}: format {got!r}, expected {CHECKPOINT_FORMAT!r}")
        version = raw.get("version")
        if not isinstance(version, int) or version > CHECKPOINT_VERSION:
            raise CheckpointError(
                f"{where}: checkpoint version {version!r} is newer than this physres "
                f"({CHECKPOINT_VERSION}); upgrade physres"
            )
        try:
            # written before image tokens carried keypoints: those networks have none
            config = ControllerConfig(**{"keypoints": False, **raw["config"]})
            norm, prompts = raw["normalisation"], raw["prompts"]
            ck = cls(
                config=config,
                state_dict=dict(raw["state_dict"]),
                action_spec=dict(raw["action_spec"]),
                camera=dict(raw["camera"]),
                encoder=str(raw["encoder"]),
                proprio_mean=norm["proprio_mean"].numpy(),
                proprio_std=norm["proprio_std"].numpy(),
                prompts=[str(p) for p in prompts["text"]],
                prompt_tasks=[str(t) for t in prompts["task"]],
                prompt_embeddings=prompts["embedding"].numpy(),
                info=dict(raw.get("info", {})),
            )
        except KeyError as e:
            raise CheckpointError(f"{where}: missing entry {e}") from e
        except (pydantic.ValidationError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{where}: malformed entry: {e}") from e
        ck.check()
        return ck

    def check(self) -> None:
        """Internal consistency: shapes agree with the config; the weights fit the network."""
        cfg = self.config
        for key in ("names", "low", "high"):
            if len(self.action_spec.get(key, ())) != cfg.action_dim:
                raise CheckpointError(
                    f"checkpoint action spec {key} has {len(self.action_spec.get(key, ()))} "
                    f"entries, the network {cfg.action_dim}"
                )
        if self.proprio_mean.shape != (cfg.proprio_dim,) or self.proprio_std.shape != (
            cfg.proprio_dim,
        ):
            raise CheckpointError(
                f"checkpoint normalisation is {self.proprio_mean.shape}, expected "
                f"({cfg.proprio_dim},)"
            )
        n = len(self.prompts)
        if len(self.prompt_tasks) != n or self.prompt_embeddings.shape != (n, cfg.text_dim):
            raise CheckpointError(
                f"checkpoint prompts: {n} texts, {len(self.prompt_tasks)} tasks, embeddings "
                f"{self.prompt_embeddings.shape} (expected ({n}, {cfg.text_dim}))"
            )
        if self.camera.get("size") != cfg.image_size:
            raise CheckpointError(
                f"checkpoint camera side {self.camera.get('size')} != network input "
                f"{cfg.image_size}"
            )
        try:
            PromptToAction(cfg).load_state_dict(self.state_dict, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"checkpoint weights do not fit its network: {e}") from e

    def build(self) -> PromptToAction:
        net = PromptToAction(self.config)
        net.load_state_dict(self.state_dict)
        return net.eval()
