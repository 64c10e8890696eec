"""Train the controller on demonstrations: every window position labelled, resumable.

``train(TrainSettings(...))`` loads the datasets, embeds their prompts (disk
cache), holds out whole episodes for a validation loss, and optimises with
AdamW under bf16 autocast with channels_last frames. Every ``save_every_s``
seconds and at each epoch's end the full state (weights, optimizer, step,
generator states) goes to ``<out>.partial`` atomically; a rerun of the same
command finds it and continues where it stopped. The finished run writes
``<out>`` (weights without optimizer state: a few MB) and removes the partial.

``init`` starts from a finished checkpoint's weights and normalisation instead
of from scratch: a DAgger round continues the policy that drove the arm on the
aggregated data, in a few epochs rather than a full run.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from physres.controller.actions import ActionTokenizer, chunk_targets
from physres.controller.checkpoint import Checkpoint, CheckpointError
from physres.controller.data import EpisodeData, future_targets, load_episodes, windows
from physres.controller.encoder import PromptEncoder
from physres.controller.model import ControllerConfig, PromptToAction
from physres.errors import ConfigError

__all__ = ["TrainSettings", "TrainState", "held_out", "preprocess", "train"]


@dataclass
class TrainSettings:
    """One training run: data, output, budget and network."""

    data: Sequence[str]
    out: str
    config: ControllerConfig = field(default_factory=ControllerConfig)
    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.01
    val_fraction: float = 0.1
    seed: int = 0
    #: pixels of random shift (same for every frame of a window): it regularises, but the
    #: camera is fixed, so a shift also moves where an object seems to be on the table
    shift: int = 2
    #: use only the first N episodes of each task (small-budget comparisons); None: all
    episodes_per_task: int | None = None
    save_every_s: float = 60.0
    threads: int | None = None
    bf16: bool = True
    #: a finished checkpoint to start from (same network config), or None: from scratch
    init: str | None = None

    def fingerprint(self, n_episodes: int) -> str:
        """What a resumed run must share with the interrupted one."""
        d = {k: v for k, v in asdict(self).items() if k not in ("save_every_s", "threads")}
        d["config"] = self.config.model_dump(mode="json")
        d["data"] = [str(Path(p).resolve()) for p in self.data]
        d["n_episodes"] = n_episodes
        if self.init is not None:  # the file's contents, not only its name
            d["init"] = hashlib.sha256(Path(self.init).read_bytes()).hexdigest()
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class TrainState:
    epoch: int = 0
    batch: int = 0  # batches done within ``epoch``
    step: int = 0
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0


def preprocess(
    images: torch.Tensor, proprio: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (..., S, S, 3) → float (..., 3, S, S) in [-0.5, 0.5]; proprio standardised."""
    x = images.float().div_(255.0).sub_(0.5)
    return x.movedim(-1, -3), (proprio - mean) / std


def _split(episodes: list[EpisodeData], frac: float, seed: int) -> tuple[list[int], list[int]]:
    """Whole episodes held out per task (at least one per task when a task has ≥ 2)."""
    rng = np.random.default_rng([seed, 7])
    train, val = [], []
    for task in sorted({e.task for e in episodes}):
        idx = [i for i, e in enumerate(episodes) if e.task == task]
        rng.shuffle(idx)
        k = max(1, round(frac * len(idx))) if len(idx) >= 2 and frac > 0 else 0
        val += idx[:k]
        train += idx[k:]
    return sorted(train), sorted(val)


@dataclass
class _Lineage:
    """What a run continuing ``init`` must know of its training: whose episodes to keep out."""

    held_out: set[str]  # episode files the init held out
    read: list[Path]  # folders the init trained from (any episode there may be trained on)

    @classmethod
    def of(cls, ck: Checkpoint, where: str) -> _Lineage:
        """``ck``'s record, refused if damaged (checked before any data is read)."""

        def paths(key: str) -> list[str]:
            v = ck.info.get(key, [])  # an older checkpoint has no "held_out"
            if not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                raise CheckpointError(f"checkpoint {where}: info[{key!r}] is not a list of paths")
            return v

        return cls(set(paths("held_out")), [Path(d).resolve() for d in paths("data")])

    def split(
        self, episodes: list[EpisodeData], frac: float, seed: int
    ) -> tuple[list[int], list[int]]:
        """Hold out nothing the init trained on: its held-out episodes, and a fresh split of
        those outside every folder it read (a folder it read trains whole here)."""
        new = [
            i
            for i, e in enumerate(episodes)
            if not any(Path(e.source).is_relative_to(r) for r in self.read)
        ]
        _, fresh = _split([episodes[i] for i in new], frac, seed)
        val = {new[j] for j in fresh}
        val |= {i for i, e in enumerate(episodes) if e.source in self.held_out}
        return [i for i in range(len(episodes)) if i not in val], sorted(val)


def held_out(episodes: list[EpisodeData], frac: float, seed: int) -> list[int]:
    """The episodes a run with this ``val_fraction`` and ``seed`` never trained on."""
    return _split(episodes, frac, seed)[1]


class _Batcher:
    """Windows → padded tensors (B, H, ...) with the labels the head needs."""

    def __init__(
        self,
        episodes: list[EpisodeData],
        texts: np.ndarray,
        cfg: ControllerConfig,
        tokenizer: ActionTokenizer,
        low: np.ndarray,
        high: np.ndarray,
    ) -> None:
        self.eps, self.texts, self.cfg, self.tok = episodes, texts, cfg, tokenizer
        self.low, self.high = low, high
        self.chunks = [chunk_targets(e.actions, cfg.chunk) for e in episodes]
        self.futures = [future_targets(e, cfg.future) for e in episodes] if cfg.future else None

    def __call__(
        self, wins: list[tuple[int, int, int]], rng: np.random.Generator | None, shift: int
    ) -> dict[str, torch.Tensor]:
        h, s, a = self.cfg.history, self.cfg.image_size, self.cfg.action_dim
        b = len(wins)
        img = np.zeros((b, h, s, s, 3), np.uint8)
        prop = np.zeros((b, h, self.cfg.proprio_dim), np.float32)
        valid = np.zeros((b, h), bool)
        act = np.zeros((b, h, a), np.float32)
        chunk = np.zeros((b, h, self.cfg.chunk, a), np.float32)
        cmask = np.zeros((b, h, self.cfg.chunk), bool)
        text = np.zeros((b, self.texts.shape[1]), np.float32)
        fut = np.zeros((b, h, len(self.cfg.future), 3), np.float32)
        fmask = np.zeros((b, h), bool)
        for i, (e, start, n) in enumerate(wins):
            ep = self.eps[e]
            frames = ep.images[start : start + n]
            if rng is not None and shift:
                dx, dy = rng.integers(-shift, shift + 1, size=2)
                pad = np.pad(frames, ((0, 0), (shift, shift), (shift, shift), (0, 0)), "edge")
                frames = pad[:, shift + dy : shift + dy + s, shift + dx : shift + dx + s]
            img[i, :n] = frames
            prop[i, :n] = ep.proprio[start : start + n]
            act[i, :n] = ep.actions[start : start + n]
            c, m = self.chunks[e]
            chunk[i, :n], cmask[i, :n] = c[start : start + n], m[start : start + n]
            valid[i, :n] = True
            text[i] = self.texts[e]
            if self.futures is not None and not ep.driven:
                fut[i, :n], fmask[i, :n] = self.futures[e][start : start + n], True
        norm_chunk = 2 * (chunk - self.low) / (self.high - self.low) - 1
        return {
            "image": torch.from_numpy(img),
            "proprio": torch.from_numpy(prop),
            "text": torch.from_numpy(text),
            "valid": torch.from_numpy(valid),
            "tokens": torch.from_numpy(self.tok.encode(act)),
            "chunk": torch.from_numpy(norm_chunk.astype(np.float32)),
            "chunk_mask": torch.from_numpy(cmask & valid[..., None]),
            "future": torch.from_numpy(fut),
            "future_mask": torch.from_numpy(fmask),
        }


def loss_fn(
    net: PromptToAction, out: torch.Tensor, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss to optimise, action loss) over every valid position.

    The action loss is cross-entropy over bins (tokens) or masked L1 on normalised
    chunks; with ``future`` horizons the optimised loss adds ``future_weight`` × the
    L1 of the future head on the expert-driven positions. Validation reports the
    action loss alone, so runs with and without the future head compare.
    """
    cfg = net.cfg
    out = out.float()
    act, fut = out[..., : cfg.out_dim], out[..., cfg.out_dim :]
    if cfg.head == "tokens":
        logits = act.reshape(*act.shape[:2], cfg.action_dim, cfg.bins)[batch["valid"]]
        action = F.cross_entropy(
            logits.reshape(-1, cfg.bins), batch["tokens"][batch["valid"]].reshape(-1)
        )
    else:
        pred = act.reshape(*act.shape[:2], cfg.chunk, cfg.action_dim)
        err = (pred - batch["chunk"]).abs().mean(-1)
        m = batch["chunk_mask"].float()
        action = (err * m).sum() / m.sum().clamp(min=1.0)
    if not cfg.future:
        return action, action
    ferr = (fut.reshape(batch["future"].shape) - batch["future"]).abs().mean((-1, -2))
    fm = batch["future_mask"].float()
    future = (ferr * fm).sum() / fm.sum().clamp(min=1.0)
    return action + cfg.future_weight * future, action


def _lr(step: int, total: int, base: float) -> float:
    warm = max(1, min(200, total // 20))
    if step < warm:
        return base * (step + 1) / warm
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))


def _refuse_start(s: TrainSettings, differ: list[str]) -> None:
    if differ:
        raise ConfigError(
            f"--init {s.init} cannot start this run; it differs from the network and data "
            f"in: {'; '.join(differ)}"
        )


def _network_differs(ck: Checkpoint, cfg: ControllerConfig, encoder: str) -> list[str]:
    """What makes ``ck`` another network than this run's (checked before data is read)."""
    theirs, ours = ck.config.model_dump(), cfg.model_dump()
    differ = [f"{k} {theirs[k]!r} vs {ours[k]!r}" for k in ours if theirs[k] != ours[k]]
    if ck.encoder != encoder:
        differ.append(f"prompt encoder {ck.encoder!r} vs {encoder!r}")
    return differ


def _arm_differs(ck: Checkpoint, spec: dict[str, Any], render_size: int) -> list[str]:
    """What makes ``ck`` a network for another arm or camera than the data's."""
    differ = [] if ck.action_spec == spec else ["the action spec"]
    if ck.camera.get("render_size") != render_size:
        differ.append(f"camera render_size {ck.camera.get('render_size')} vs {render_size}")
    return differ


def train(
    s: TrainSettings,
    *,
    encoder: PromptEncoder | None = None,
    on_step: Callable[[TrainState, float, int], None] | None = None,
    stop_after_steps: int | None = None,
) -> tuple[Path, TrainState]:
    """Run (or resume) training; returns the finished checkpoint's path and the state.

    ``on_step(state, loss, total_steps)`` after each optimiser step (the CLI's bar).
    ``stop_after_steps`` ends the process's work early after saving (tests use it
    to interrupt a run deterministically).
    """
    if s.epochs < 1 or s.batch_size < 1:
        raise ConfigError(f"epochs and batch_size must be >= 1, got {s.epochs}, {s.batch_size}")
    if s.threads:
        torch.set_num_threads(s.threads)
    out = Path(s.out)
    partial = out.with_name(out.name + ".partial")
    cfg = s.config
    encoder = encoder or PromptEncoder()
    start = Checkpoint.load(s.init) if s.init else None  # names a missing or damaged file
    if start is not None:
        _refuse_start(s, _network_differs(start, cfg, encoder.name))
        lineage = _Lineage.of(start, str(s.init))
    episodes, spec = load_episodes(s.data, cfg.image_size, per_task=s.episodes_per_task)
    render_size = spec.pop("render_size")
    if len(spec["names"]) != cfg.action_dim:
        raise ConfigError(f"data has {len(spec['names'])}-d actions, the network {cfg.action_dim}")
    if start is not None:
        _refuse_start(s, _arm_differs(start, spec, render_size))
    prompts = sorted({e.prompt for e in episodes})
    emb = dict(zip(prompts, encoder.encode(prompts)))
    texts = np.stack([emb[e.prompt] for e in episodes])
    task_of = {e.prompt: e.task for e in episodes}
    low, high = np.asarray(spec["low"], np.float32), np.asarray(spec["high"], np.float32)
    tokenizer = ActionTokenizer(low, high, cfg.bins)
    if start is not None:  # its weights learned this normalisation: keep it
        train_idx, val_idx = lineage.split(episodes, s.val_fraction, s.seed)
        mean_np, std_np = start.proprio_mean, start.proprio_std
    else:
        train_idx, val_idx = _split(episodes, s.val_fraction, s.seed)
        all_prop = np.concatenate([episodes[i].proprio for i in train_idx])
        mean_np, std_np = all_prop.mean(0), all_prop.std(0) + 1e-3
    if not train_idx:  # possible only when an init held out every episode given
        raise ConfigError(f"all {len(episodes)} episodes are held out: nothing to train on")
    mean, std = torch.from_numpy(mean_np), torch.from_numpy(std_np)
    batcher = _Batcher(episodes, texts, cfg, tokenizer, low, high)
    lengths = [len(e) for e in episodes]
    fingerprint = s.fingerprint(len(episodes))

    torch.manual_seed(s.seed)
    net = PromptToAction(cfg).to(memory_format=torch.channels_last)
    if start is not None:
        net.load_state_dict(start.state_dict)
    opt = torch.optim.AdamW(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    state = TrainState()
    n_train_windows = len(windows([lengths[i] for i in train_idx], cfg.history, None))
    per_epoch = math.ceil(n_train_windows / s.batch_size)
    total = per_epoch * s.epochs
    if partial.exists():
        raw = torch.load(partial, map_location="cpu", weights_only=True)
        if raw.get("fingerprint") != fingerprint:
            raise CheckpointError(
                f"{partial} is from a different run (data, config or settings changed); "
                "delete it to start afresh"
            )
        net.load_state_dict(raw["model"])
        opt.load_state_dict(raw["optimizer"])
        state = TrainState(**json.loads(raw["state"]))
        torch.set_rng_state(raw["torch_rng"])

    def save_partial() -> None:
        tmp = partial.with_name(partial.name + ".tmp")
        torch.save(
            {
                "fingerprint": fingerprint,
                "model": net.state_dict(),
                "optimizer": opt.state_dict(),
                "state": json.dumps(asdict(state)),
                "torch_rng": torch.get_rng_state(),
            },
            tmp,
        )
        tmp.replace(partial)

    def autocast() -> Any:
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=s.bf16)

    def run(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        img, prop = preprocess(batch["image"], batch["proprio"], mean, std)
        b, h = img.shape[:2]
        img = img.reshape(b * h, *img.shape[2:]).contiguous(memory_format=torch.channels_last)
        with autocast():
            return net(img.reshape(b, h, *img.shape[1:]), prop, batch["text"])

    def validate() -> float:
        if not val_idx:
            return float("nan")
        net.eval()
        wins = windows([lengths[i] for i in val_idx], cfg.history, None)
        wins = [(val_idx[e], st, n) for e, st, n in wins]
        tot, cnt = 0.0, 0
        with torch.no_grad():
            for k in range(0, len(wins), 64):
                batch = batcher(wins[k : k + 64], None, 0)
                tot += float(loss_fn(net, run(batch), batch)[1]) * len(batch["image"])
                cnt += len(batch["image"])
        net.train()
        return tot / cnt

    t_last = time.perf_counter()
    t_run = time.perf_counter() - state.seconds
    done_here = 0
    net.train()
    while state.epoch < s.epochs:
        rng = np.random.default_rng([s.seed, state.epoch])
        wins = windows([lengths[i] for i in train_idx], cfg.history, rng)
        wins = [(train_idx[e], st, n) for e, st, n in wins]
        order = rng.permutation(len(wins))
        n_batches = math.ceil(len(wins) / s.batch_size)
        while state.batch < n_batches:
            sel = order[state.batch * s.batch_size : (state.batch + 1) * s.batch_size]
            brng = np.random.default_rng([s.seed, state.epoch, state.batch])
            batch = batcher([wins[j] for j in sel], brng, s.shift)
            for g in opt.param_groups:
                g["lr"] = _lr(state.step, total, s.lr)
            loss = loss_fn(net, run(batch), batch)[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            state.batch += 1
            state.step += 1
            done_here += 1
            loss_value = float(loss.detach())
            state.train_loss.append(round(loss_value, 5))
            state.seconds = time.perf_counter() - t_run
            if on_step is not None:
                on_step(state, loss_value, total)
            if time.perf_counter() - t_last > s.save_every_s:
                save_partial()
                t_last = time.perf_counter()
            if stop_after_steps is not None and done_here >= stop_after_steps:
                save_partial()
                return partial, state
        state.val_loss.append(round(validate(), 5))
        state.epoch += 1
        state.batch = 0
        save_partial()
        t_last = time.perf_counter()
    ck = Checkpoint(
        config=cfg,
        state_dict={k: v.detach().clone() for k, v in net.state_dict().items()},
        action_spec=spec,
        camera={"source": "scene", "size": cfg.image_size, "render_size": render_size},
        encoder=encoder.name,
        proprio_mean=mean_np,
        proprio_std=std_np,
        prompts=prompts,
        prompt_tasks=[task_of[p] for p in prompts],
        prompt_embeddings=np.stack([emb[p] for p in prompts]),
        info={
            "steps": state.step,
            "epochs": s.epochs,
            "train_episodes": len(train_idx),
            "val_episodes": len(val_idx),
            "tasks": sorted({e.task for e in episodes}),
            "val_loss": state.val_loss,
            "train_loss_last_epoch": float(np.mean(state.train_loss[-per_epoch:])),
            "seconds": round(state.seconds, 1),
            "settings": {
                k: v for k, v in asdict(s).items() if k not in ("config", "data", "out", "threads")
            },
            "data": [str(p) for p in s.data],
            "held_out": [episodes[i].source for i in val_idx],
            # the lineage, without the init's held-out list (this run's own is above)
            "init": None
            if start is None
            else {
                "path": str(s.init),
                "info": {k: v for k, v in start.info.items() if k != "held_out"},
            },
        },
    )
    ck.save(out)
    partial.unlink(missing_ok=True)
    return out, state
