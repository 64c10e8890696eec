"""Spoken digits ("zero".."nine") synthesised with espeak-ng, classified from a cochleagram.

The data set is shipped in ``physres/tasks/data/spoken_digits.npz`` (8 kHz,
8-bit μ-law, ~1.5 MB) so runs need neither espeak-ng nor a network; it is
rebuilt exactly by ``python -m physres.tasks.speech synth``. Each *voice* is an
espeak-ng accent with a voice variant (e.g. ``en-gb-scotland+f2``); each
utterance has its own speaking rate and pitch drawn from a generator seeded by
(voice, digit), so any subset can be re-synthesised identically.

Driving: the :func:`~physres.tasks.audio.cochleagram` gives ``n_bands``
channels at ``frame_rate`` frames/s in task units; each band drives one
device channel (a motor, an electrode). Honest split: by default whole voice
variants are held out (``split="speaker"``): no test voice timbre is heard in
training. Scoring: pooled states per utterance, ridge classifier, accuracy.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator
from scipy.io import wavfile
from scipy.signal import resample_poly

from physres.errors import ConfigError, DataError
from physres.tasks.audio import cochleagram, mulaw_decode, mulaw_encode
from physres.tasks.base import Episode, TaskData, TaskParams
from physres.tasks.kinds import ClassificationParams, SequenceClassificationTask

__all__ = [
    "ACCENTS",
    "DATA_PATH",
    "DIGITS",
    "VARIANTS",
    "SpokenDigits",
    "SpokenDigitsParams",
    "SpokenZeroOne",
    "build_dataset",
    "load_dataset",
    "save_dataset",
    "synthesize",
]

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029")
VARIANTS = ("m1", "m2", "m3", "m4", "f1", "f2", "f3", "f4")
RATE = 8000
DATA_PATH = Path(__file__).with_name("data") / "spoken_digits.npz"
FORMAT = "physres.spoken_digits/1"


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise ConfigError(
            "espeak-ng is not installed (apt-get install espeak-ng); use source='shipped'"
        )
    return exe


@lru_cache(maxsize=1)
def espeak_version() -> str:
    out = subprocess.run([_espeak(), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split("Data at")[0].strip()


def deterministic_flags(version: str) -> list[str]:
    """espeak-ng options that fix its noise generator's seed, for a ``--version`` line.

    Breathy variants (``f2``, ``f3``) and Klatt voices add noise from a
    pseudo-random generator. Up to 1.51 that is libc's ``rand()``, never seeded,
    so each process draws the same noise; from 1.52 espeak-ng seeds its own
    generator from the clock at start-up and only ``-D`` pins it. Without it a
    rebuilt utterance would differ from run to run. 1.51 rejects ``-D``.
    """
    m = re.search(r"(\d+)\.(\d+)", version)
    return ["-D"] if m and (int(m[1]), int(m[2])) >= (1, 52) else []


def synthesize(word: str, voice: str, *, speed: int, pitch: int, rate: int = RATE) -> np.ndarray:
    """One word as float audio at ``rate`` Hz, silence trimmed, peak 0.9."""
    flags = deterministic_flags(espeak_version())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.wav"
        subprocess.run(
            [
                _espeak(),
                *flags,
                "-v",
                voice,
                "-s",
                str(speed),
                "-p",
                str(pitch),
                "-w",
                str(path),
                word,
            ],
            check=True,
            capture_output=True,
        )
        fs, x = wavfile.read(path)
    x = x.astype(np.float64) / 32768.0
    g = np.gcd(int(fs), rate)
    x = resample_poly(x, rate // g, int(fs) // g)
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
    if loud.size == 0:
        raise DataError(f"espeak-ng produced silence for {word!r} with voice {voice!r}")
    pad = rate // 100  # keep 10 ms either side of the voiced part
    x = x[max(loud[0] - pad, 0) : loud[-1] + pad]
    return 0.9 * x / np.abs(x).max()  # use the μ-law code range; level carries no label


def _prosody(seed: int, accent: int, variant: int, digit: int) -> tuple[int, int]:
    rng = np.random.default_rng([seed, accent, variant, digit])
    return int(rng.integers(130, 191)), int(rng.integers(30, 71))


def build_dataset(
    accents: Sequence[str] = ACCENTS,
    variants: Sequence[str] = VARIANTS,
    digits: Sequence[int] = range(10),
    *,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Synthesise every (accent, variant, digit) with espeak-ng; arrays as saved on disk."""
    codes, offsets, rows = [], [0], []
    for a in accents:
        for v in variants:
            for d in digits:
                ai, vi = ACCENTS.index(a), VARIANTS.index(v)
                speed, pitch = _prosody(seed, ai, vi, d)
                c = mulaw_encode(synthesize(DIGITS[d], f"{a}+{v}", speed=speed, pitch=pitch))
                codes.append(c)
                offsets.append(offsets[-1] + len(c))
                rows.append((d, ai, vi, speed, pitch))
    r = np.asarray(rows, dtype=np.int16)
    header = {
        "format": FORMAT,
        "rate": RATE,
        "encoding": "mu-law 8 bit",
        "seed": seed,
        "espeak": espeak_version(),
        "generator": "python -m physres.tasks.speech synth",
    }
    return {
        "codes": np.concatenate(codes),
        "offsets": np.asarray(offsets, dtype=np.int64),
        "digit": r[:, 0].astype(np.int8),
        "accent": r[:, 1],
        "variant": r[:, 2],
        "speed": r[:, 3],
        "pitch": r[:, 4],
        "accents": np.asarray(ACCENTS),
        "variants": np.asarray(VARIANTS),
        "header": np.asarray(json.dumps(header)),
    }


def save_dataset(arrays: dict[str, np.ndarray], path: Path | str = DATA_PATH) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


_FIELDS = (
    "codes",
    "offsets",
    "digit",
    "accent",
    "variant",
    "speed",
    "pitch",
    "accents",
    "variants",
    "header",
)


@lru_cache(maxsize=4)
def load_dataset(path: Path | str = DATA_PATH) -> dict[str, Any]:
    """Read and check a saved set (no pickles); audio decoded to float per utterance."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(
            f"{path} is missing; rebuild it with `python -m physres.tasks.speech synth`"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            arr = {k: z[k] for k in _FIELDS}
        header = json.loads(str(arr["header"]))
    except (KeyError, ValueError, OSError) as e:
        raise DataError(f"{path} is not a spoken-digit set: {e}") from e
    if header.get("format") != FORMAT:
        raise DataError(f"{path}: format {header.get('format')!r}, expected {FORMAT!r}")
    off = arr["offsets"]
    n = len(arr["digit"])
    if len(off) != n + 1 or off[-1] != len(arr["codes"]) or (np.diff(off) <= 0).any():
        raise DataError(f"{path}: offsets do not partition the audio of {n} utterances")
    audio = [mulaw_decode(arr["codes"][off[i] : off[i + 1]]) for i in range(n)]
    for a in (*arr.values(), *audio):
        a.setflags(write=False)  # one cached copy serves every caller: none may change it
    return {**arr, "audio": audio, "rate": int(header["rate"]), "header": header}


class SpokenDigitsParams(ClassificationParams):
    digits: tuple[int, ...] = tuple(range(10))
    n_bands: int = Field(16, ge=1, le=128)
    frame_rate: float = Field(100.0, gt=0, le=1000)
    f_min: float = Field(100.0, gt=0)
    f_max: float = Field(3500.0, gt=0, lt=RATE / 2)
    floor_db: float = Field(-60.0, lt=0)
    ceil_db: float = Field(-20.0, le=0)
    #: "speaker": hold out whole voice variants; "random": hold out random utterances
    split: Literal["speaker", "random"] = "speaker"
    test_voices: int = Field(2, ge=1, le=len(VARIANTS) - 1)
    test_fraction: float = Field(0.25, gt=0, lt=1)
    #: "shipped": the packaged file; "espeak": synthesise now (needs espeak-ng)
    source: Literal["shipped", "espeak"] = "shipped"
    #: subsets of espeak-ng accents and voice variants to use
    accents: tuple[str, ...] = ACCENTS
    variants: tuple[str, ...] = VARIANTS
    washout: int = Field(0, ge=0)

    @field_validator("digits")
    @classmethod
    def _digits(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if len(v) < 2 or len(set(v)) != len(v) or not all(0 <= d <= 9 for d in v):
            raise ValueError(f"digits must be two or more distinct values in 0..9, got {list(v)}")
        return v

    @field_validator("accents", "variants")
    @classmethod
    def _known(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        known = ACCENTS if info.field_name == "accents" else VARIANTS
        bad = [x for x in v if x not in known]
        if bad or not v:
            raise ValueError(f"{info.field_name} must be some of {list(known)}, got {list(v)}")
        return v


class SpokenDigits(SequenceClassificationTask):
    """``spoken_digits``: classify a spoken digit from its cochleagram-driven states."""

    name: ClassVar[str] = "spoken_digits"
    Params: ClassVar[type[TaskParams]] = SpokenDigitsParams
    params: SpokenDigitsParams

    def _dataset(self) -> dict[str, Any]:
        p = self.params
        if p.source == "shipped":
            return load_dataset()
        arrays = build_dataset(p.accents, p.variants, p.digits)
        header = json.loads(str(arrays["header"]))
        off = arrays["offsets"]
        audio = [mulaw_decode(arrays["codes"][off[i] : off[i + 1]]) for i in range(len(off) - 1)]
        return {**arrays, "audio": audio, "rate": RATE, "header": header}

    def generate(self, seed: int = 0) -> TaskData:
        p = self.params
        ds = self._dataset()
        rng = np.random.default_rng(seed)
        accents = [i for i, a in enumerate(ds["accents"]) if a in p.accents]
        variants = [i for i, v in enumerate(ds["variants"]) if v in p.variants]
        keep = np.flatnonzero(
            np.isin(ds["digit"], p.digits)
            & np.isin(ds["accent"], accents)
            & np.isin(ds["variant"], variants)
        )
        if p.split == "speaker":
            present = np.unique(ds["variant"][keep])
            if p.test_voices >= len(present):
                raise ConfigError(f"test_voices={p.test_voices} leaves no training voices")
            held = rng.choice(present, size=p.test_voices, replace=False)
            is_test = np.isin(ds["variant"][keep], held)
        else:
            is_test = rng.random(len(keep)) < p.test_fraction
        train, test = [], []
        for i, t in zip(keep, is_test):
            u = cochleagram(
                ds["audio"][i],
                ds["rate"],
                n_bands=p.n_bands,
                f_min=p.f_min,
                f_max=p.f_max,
                frame_rate=p.frame_rate,
                floor_db=p.floor_db,
                ceil_db=p.ceil_db,
            )
            a, v = str(ds["accents"][ds["accent"][i]]), str(ds["variants"][ds["variant"][i]])
            meta = {"voice": f"{a}+{v}", "word": DIGITS[ds["digit"][i]], "index": int(i)}
            ep = Episode(u, p.digits.index(int(ds["digit"][i])), meta)
            (test if t else train).append(ep)
        return TaskData(
            train=train,
            test=test,
            washout=p.washout,
            n_inputs=p.n_bands,
            n_outputs=1,
            problem="classification",
            classes=tuple(DIGITS[d] for d in p.digits),
            meta={"split": p.split, "espeak": ds["header"].get("espeak", "")},
        )


class SpokenZeroOne(SpokenDigits):
    """``spoken_zero_one``: "zero" vs "one", the bucket experiment's binary speech task."""

    name: ClassVar[str] = "spoken_zero_one"

    def __init__(self, **params: Any) -> None:
        params.setdefault("digits", (0, 1))
        super().__init__(**params)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m physres.tasks.speech synth|info``: rebuild or describe the shipped set."""
    ap = argparse.ArgumentParser(prog="python -m physres.tasks.speech", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("synth", help="synthesise the data set with espeak-ng")
    s.add_argument("--out", type=Path, default=DATA_PATH)
    s.add_argument("--seed", type=int, default=0)
    i = sub.add_parser("info", help="describe a saved data set")
    i.add_argument("path", type=Path, nargs="?", default=DATA_PATH)
    args = ap.parse_args(argv)
    if args.cmd == "synth":
        path = save_dataset(build_dataset(seed=args.seed), args.out)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
        return 0
    ds = load_dataset(args.path)
    secs = np.array([len(a) for a in ds["audio"]]) / ds["rate"]
    print(json.dumps(ds["header"], indent=1))
    print(f"{len(secs)} utterances, {secs.sum():.1f} s, {secs.min():.2f}-{secs.max():.2f} s each")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
