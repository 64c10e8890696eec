"""Small things the controller tests share: a hashing prompt encoder, a tiny dataset,
a tiny network. Nothing here trains for real; the real encoder is loaded in one test."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from physres.controller import Checkpoint, ControllerConfig, PromptEncoder
from physres.datasets import DatasetWriter, DemoRecorder
from physres.sim.arm import ACTION_SPEC

PROMPTS = {"pick_place": "put the cube in the bowl", "push_bowl": "push the bowl to the left"}
TINY = ControllerConfig(
    image_size=32,
    history=3,
    d_model=16,
    layers=1,
    heads=2,
    tokens_per_frame=2,
    stem_channels=(8, 8),
    chunk=3,
    dropout=0.0,
)


def hash_embedding(texts: list[str]) -> np.ndarray:
    """A unit vector per text from its hash: equal texts agree, different ones are ~orthogonal."""
    out = []
    for t in texts:
        seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).normal(size=384)
        out.append(v / np.linalg.norm(v))
    return np.asarray(out, np.float32)


def hash_encoder(cache_dir: Path, counter: list[int] | None = None) -> PromptEncoder:
    def load():
        if counter is not None:
            counter.append(1)
        return hash_embedding

    return PromptEncoder("test/hash-encoder", cache_dir=cache_dir, load=load)


def tiny_dataset(
    root: Path,
    *,
    episodes: int = 3,
    length: int = 10,
    size: int = 32,
    prompts: Iterable[tuple[str, str]] | None = None,
    meta: dict | None = None,
) -> Path:
    """Episodes whose label depends on the prompt: pick_place goes down, the rest left.

    ``prompts``: (task, prompt) pairs to record (default :data:`PROMPTS`); ``meta``:
    more metadata for every episode (who drove, who labelled).
    """
    writer = DatasetWriter(root, action_spec=ACTION_SPEC.to_dict(), info={"render_size": size})
    rng = np.random.default_rng(0)
    for task, prompt in PROMPTS.items() if prompts is None else prompts:
        for k in range(episodes):
            rec = DemoRecorder()
            for t in range(length):
                obs = {
                    "image": rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
                    "proprio": rng.normal(0, 0.1, 13).astype(np.float32),
                    "prompt": prompt,
                }
                a = np.zeros(6, np.float32)
                a[2 if task == "pick_place" else 1] = -0.03 if task == "pick_place" else 0.03
                a[4] = 1.0 if t > length // 2 else -1.0
                a[5] = float(t == length - 1)
                rec.add(obs, action=a, expert_action=a, perturbed=False)
            writer.write_episode(
                rec.arrays(),
                {"task": task, "task_episode": k, "seed": k, "prompt": prompt, **(meta or {})},
            )
    return root


def pin_terminate(ckpt: Path, tmp: Path, *, done: bool = True) -> Path:
    """The same checkpoint with the chunk head's terminate output pinned high (or low: a
    one-epoch tiny network may say 'done' at random, and these tests need it to act)."""
    ck = Checkpoint.load(ckpt)
    sd = dict(ck.state_dict)
    w, b = sd["out.weight"].clone(), sd["out.bias"].clone()
    w[5 :: TINY.action_dim] = 0.0
    b[5 :: TINY.action_dim] = 1.0 if done else -1.0  # normalised ±1 = the ends of [0, 1]
    sd["out.weight"], sd["out.bias"] = w, b
    ck.state_dict = sd
    return ck.save(tmp / ("terminate.pt" if done else "acting.pt"))
