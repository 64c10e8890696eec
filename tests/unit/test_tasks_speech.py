"""Spoken digits: a shipped espeak-ng data set, a cochlea-like front-end, honest splits."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest

from physres import tasks
from physres.errors import ConfigError, DataError
from physres.tasks import Episode, speech
from physres.tasks.audio import cochleagram, erb_space, mulaw_decode, mulaw_encode
from physres.tasks.bench import run_task


def test_shipped_set_holds_every_digit_from_every_voice_and_is_small() -> None:
    ds = speech.load_dataset()
    assert speech.DATA_PATH.stat().st_size < 3e6
    n = len(speech.ACCENTS) * len(speech.VARIANTS) * 10
    assert len(ds["audio"]) == n and ds["rate"] == 8000
    assert np.bincount(ds["digit"]).tolist() == [n // 10] * 10
    lengths = np.array([len(a) for a in ds["audio"]]) / ds["rate"]
    assert lengths.min() > 0.2 and lengths.max() < 1.0
    assert all(np.abs(a).max() > 0.3 for a in ds["audio"])  # speech, not silence


def test_damaged_data_files_are_refused_with_the_reason(tmp_path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a spoken-digit set"):
        speech.load_dataset(bad)
    arrays = dict(np.load(speech.DATA_PATH, allow_pickle=False))
    arrays["offsets"] = arrays["offsets"][:-1]
    cut = tmp_path / "cut.npz"
    np.savez(cut, **arrays)
    with pytest.raises(DataError, match="offsets do not partition"):
        speech.load_dataset(cut)
    with pytest.raises(ConfigError, match="missing"):
        speech.load_dataset(tmp_path / "absent.npz")


def test_mulaw_error_is_a_small_fraction_of_the_level_at_every_level() -> None:
    x = np.sin(np.linspace(0, 60, 4000)) * np.linspace(0, 1, 4000)
    err = np.abs(mulaw_decode(mulaw_encode(x)) - x)
    assert (err <= 0.025 * np.abs(x) + 2e-4).all()


def test_cochleagram_puts_a_tone_in_the_band_nearest_its_frequency() -> None:
    fs = 8000
    centres = erb_space(100, 3500, 16)
    t = np.arange(fs // 2) / fs
    for f in (300.0, 1000.0, 2500.0):
        c = cochleagram(np.sin(2 * np.pi * f * t), fs, n_bands=16)
        assert c.shape == (50, 16) and c.min() >= -1 and c.max() <= 1
        assert np.argmax(c[10:].mean(axis=0)) == np.argmin(np.abs(centres - f))
    with pytest.raises(DataError, match="f_max"):
        cochleagram(np.ones(800), fs, f_max=5000)


def test_speaker_split_never_tests_on_a_voice_heard_in_training() -> None:
    task = tasks.create("spoken_digits", n_bands=4)
    data = task.generate(0)

    def voice(ep: Episode) -> str:
        return ep.meta["voice"].split("+")[1]

    train_voices = {voice(ep) for ep in data.train}
    test_voices = {voice(ep) for ep in data.test}
    assert len(test_voices) == 2 and not train_voices & test_voices
    assert len(data.train) == 300 and len(data.test) == 100
    assert data.classes == speech.DIGITS
    other = tasks.create("spoken_digits", n_bands=4).generate(1)
    assert {voice(ep) for ep in other.test} != test_voices  # the seed picks the voices


def test_zero_versus_one_is_the_binary_bucket_task() -> None:
    task = tasks.create("spoken_zero_one", n_bands=8)
    data = task.generate(0)
    assert data.classes == ("zero", "one") and data.problem == "classification"
    assert {ep.label for ep in data.train} == {0, 1}
    assert all(ep.u.shape[1] == 8 for ep in data.test)


def test_small_esn_recognises_unseen_voices() -> None:
    [digits] = run_task(
        "sim.esn",
        "spoken_digits",
        seed=0,
        device_params={"n_units": 100},
        task_params={"n_bands": 8},
    )
    assert digits["value"] >= 0.8  # ten classes, chance 0.1, test voices never heard
    [zero_one] = run_task("sim.esn", "spoken_zero_one", seed=0)
    assert zero_one["value"] >= 0.95


def _codes(arrays: dict) -> list[np.ndarray]:
    off = arrays["offsets"]
    return [arrays["codes"][a:b] for a, b in itertools.pairwise(off)]


def test_espeak_noise_seed_is_pinned_on_every_release() -> None:
    # 1.51 draws breath noise from libc's unseeded rand() and has no -D; from 1.52
    # the generator is seeded from the clock unless -D is given.
    assert speech.deterministic_flags("eSpeak NG text-to-speech: 1.51") == []
    assert speech.deterministic_flags("eSpeak NG text-to-speech: 1.51.1") == []
    assert speech.deterministic_flags("eSpeak NG text-to-speech: 1.52.0") == ["-D"]
    assert speech.deterministic_flags("eSpeak NG text-to-speech: 2.0") == ["-D"]
    assert speech.deterministic_flags("garbled") == []


def test_the_cached_shipped_set_cannot_be_changed_by_a_caller() -> None:
    ds = speech.load_dataset()
    with pytest.raises(ValueError, match="read-only"):
        ds["audio"][0][0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        ds["codes"][0] = 0


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_espeak_rebuilds_the_shipped_utterances() -> None:
    # f2 is a breathy variant: its noise is the one random input to synthesis, so
    # two separate espeak-ng processes must agree before the shipped set is compared.
    kw = {"accents": ["en-gb-scotland"], "variants": ["f2"], "digits": [0, 7]}
    fresh = speech.build_dataset(**kw)
    again = speech.build_dataset(**kw)
    for c, c2 in zip(_codes(fresh), _codes(again)):
        assert np.array_equal(c, c2), "espeak-ng gave two different utterances for one input"
    ds = speech.load_dataset()
    same_release = json.loads(str(fresh["header"]))["espeak"] == ds["header"]["espeak"]
    for d, c in zip([0, 7], _codes(fresh)):
        i = np.flatnonzero((ds["digit"] == d) & (ds["accent"] == 2) & (ds["variant"] == 5))[0]
        if same_release:
            assert np.array_equal(mulaw_encode(ds["audio"][i]), c)
        else:  # another espeak-ng release: same word, similar length
            assert abs(len(c) - len(ds["audio"][i])) < 0.3 * len(c)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_the_task_can_synthesise_its_words_at_run_time() -> None:
    kw = {"accents": ("en-us", "en-gb"), "variants": ("m1", "f1", "m3"), "n_bands": 4}
    fresh = tasks.create("spoken_zero_one", source="espeak", **kw).generate(0)
    shipped = tasks.create("spoken_zero_one", **kw).generate(0)
    assert len(fresh.train) == len(shipped.train) == 4  # 2 of 3 voices held out
    assert len(fresh.test) == 8

    def key(ep: Episode) -> tuple[str, str]:
        return ep.meta["voice"], ep.meta["word"]

    same_release = fresh.meta["espeak"] == shipped.meta["espeak"]
    for a, b in zip(
        sorted(fresh.train + fresh.test, key=key), sorted(shipped.train + shipped.test, key=key)
    ):
        assert key(a) == key(b) and a.u.shape[1] == b.u.shape[1] == 4
        if same_release:  # same espeak-ng: same features; another release says other words
            np.testing.assert_allclose(a.u, b.u, atol=1e-12)
    with pytest.raises(ConfigError, match="accents must be some of"):
        tasks.create("spoken_digits", accents=("en-au",))
