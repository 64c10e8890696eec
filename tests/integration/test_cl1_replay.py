"""physres writes cl-sdk replay recordings, and cl-sdk replays them as a CL1 would.

cl-sdk 0.1.0 cannot even be imported on Python 3.11 without a recording to
replay; physres turns that into a feature: a simulated culture's samples and
spikes go into the vendor's own format through ``cl.recording.Recording``.
These tests read the file back with cl-sdk itself (its ``RecordingView`` and
a live ``cl.open()`` session), so the format is the vendor's by proof.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from physres.errors import ConfigError, DataError
from physres.mea.params import SPIKE_DTYPE

pytestmark = pytest.mark.usefixtures("cl_sdk")  # skipped, saying why, without cl-sdk


def test_the_file_holds_what_was_written_in_cl_units(cl1_replay, culture) -> None:
    from cl.util import RecordingView

    raw, spikes = culture(3.0, seed=7)  # what the fixture wrote
    view = RecordingView(str(cl1_replay.path))
    try:
        a = view.attributes
        assert (a["channel_count"], a["frames_per_second"], a["uV_per_sample_unit"]) == (
            64,
            25_000,
            0.195,
        )
        assert a["duration_frames"] == raw.shape[0] == cl1_replay.frames
        assert a["application"] == {"test": "bursts"}
        samples = view.samples[:]
        assert samples.dtype == np.int16 and samples.shape == raw.shape
        assert np.abs(samples * 0.195 - raw).max() <= 0.0975 + 1e-4  # half a unit
        rows = view.spikes[:]
        assert len(rows) == cl1_replay.spikes == len(spikes) - cl1_replay.spikes_at_edges
        assert rows["samples"].shape[1] == 75
        frame = np.rint(spikes["t_ns"] * 25_000 / 1e9).astype(int)
        assert Counter(zip(rows["timestamp"].tolist(), rows["channel"].tolist())) == Counter(
            (f, c)
            for f, c in zip(frame.tolist(), spikes["channel"].tolist())
            if 25 <= f <= len(raw) - 50
        )
        # a row's samples are the 25 before and 50 from the peak, channel mean removed (µV)
        r = rows[len(rows) // 2]
        f, ch = int(r["timestamp"]), int(r["channel"])
        want = (samples[f - 25 : f + 50, ch] - samples[:, ch].mean()) * 0.195
        np.testing.assert_allclose(r["samples"], want, atol=1e-3)
        assert r["samples"][25] < -40  # the trough of the spike sits at index 25
    finally:
        view.close()


def test_cl_sdk_replays_every_spike_once_per_pass(cl1_replay) -> None:
    from physres.drivers.mea.cl_api import load_cl

    cl = load_cl(cl1_replay.path)
    n = cl1_replay.frames
    seen: Counter = Counter()
    with cl.open() as neurons:
        start = neurons._start_timestamp
        ticks = n // 250 + 1  # one full pass of the recording, whatever frame it starts at
        for tick in neurons.loop(100, stop_after_ticks=ticks, ignore_jitter=True):
            assert tick.frames.shape == (250, 64) and tick.frames.dtype == np.int16
            for s in tick.analysis.spikes:
                seen[((s.timestamp - start) % n, s.channel)] += 1
                assert s.samples.shape == (75,)
    from cl.util import RecordingView

    view = RecordingView(str(cl1_replay.path))
    try:
        rows = view.spikes[:]
        written = Counter(zip(rows["timestamp"].tolist(), rows["channel"].tolist()))
    finally:
        view.close()
    # a pass of n // 250 + 1 ticks covers every frame at least once, at most 250 twice
    assert set(seen) == set(written)
    assert sum(seen.values()) <= sum(written.values()) * 1.2


def test_spikes_at_the_edges_and_clipped_samples_are_counted(tmp_path) -> None:
    from physres.drivers.mea.cl1_replay import write_replay

    raw = np.zeros((1000, 64), np.float32)
    raw[10, 3] = 1e5  # 100 mV: beyond int16 at 0.195 µV per unit
    raw[11, 4] = -1e5
    sp = np.zeros(3, SPIKE_DTYPE)
    sp["t_ns"] = [0, 20_000_000, 39_960_000]  # frames 0, 500, 999
    sp["channel"] = [1, 2, 3]
    r = write_replay(tmp_path / "edge.h5", raw, sp)
    assert (r.spikes, r.spikes_at_edges, r.clipped) == (1, 2, 2)
    assert r.seconds == pytest.approx(0.04)
    assert not list(tmp_path.glob(".edge.h5.*"))  # no temporary left behind


@pytest.mark.parametrize(
    ("raw", "spikes", "match"),
    [
        (np.zeros((1000, 60)), None, r"expected \(frames, 64\).*shape \(1000, 60\)"),
        (np.zeros((10, 64)), None, "at least 75"),
        (np.full((1000, 64), np.nan), None, "frame 0 channel 0 is nan"),
        (np.zeros((1000, 64)), np.zeros(2, [("t", "<i8")]), r"\(t_ns, channel\) records"),
        (np.zeros((1000, 64)), "channel64", "channel 64 is not one of the 64"),
    ],
)
def test_bad_arrays_are_refused_before_anything_is_written(tmp_path, raw, spikes, match) -> None:
    from physres.drivers.mea.cl1_replay import write_replay

    if spikes is None:
        spikes = np.zeros(0, SPIKE_DTYPE)
    elif isinstance(spikes, str):
        spikes = np.array([(1000, 64)], SPIKE_DTYPE)
    with pytest.raises(DataError, match=match):
        write_replay(tmp_path / "bad.h5", raw, spikes)
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_name_or_a_missing_replay_says_what_to_do(tmp_path) -> None:
    from physres.drivers.mea.cl1_replay import write_replay
    from physres.drivers.mea.cl_api import load_cl

    with pytest.raises(ConfigError, match=r"\.h5"):
        write_replay(tmp_path / "x.txt", np.zeros((100, 64)), np.zeros(0, SPIKE_DTYPE))
    (tmp_path / "d.h5").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        write_replay(tmp_path / "d.h5", np.zeros((100, 64)), np.zeros(0, SPIKE_DTYPE))
    with pytest.raises(
        ConfigError, match="does not exist; write one with `physres mea replay-file"
    ):
        load_cl(tmp_path / "nowhere.h5")


def test_the_simulated_culture_becomes_a_replay_drivers_cl1_plays_back(tmp_path, capsys) -> None:
    """`physres mea replay-file` records sim.mea (raw + spikes) and drivers.cl1 replays it."""
    from physres import registry
    from physres.cli import main

    out = tmp_path / "culture.h5"
    assert main(["mea", "replay-file", str(out), "--seconds", "3", "--seed", "3"]) == 0
    said = capsys.readouterr().out
    assert "64 channels at 25 kHz" in said and "CL_MOCK_REPLAY_PATH" in said
    from cl.util import RecordingView

    view = RecordingView(str(out))
    try:
        written = len(view.spikes)
        assert view.attributes["application"]["kind"] == "sim.mea"
        assert view.attributes["duration_frames"] == 75_000
    finally:
        view.close()
    assert written > 0
    with registry.create("drivers.cl1", "cl1", {"replay": str(out)}) as dev:
        dev.apply({"stim": np.zeros((300, 4))})  # one pass of the 3 s recording
        replayed = dev.read()["spikes"].data
    assert len(replayed) == written  # the session starts at the replay's first frame


def test_replay_file_refuses_a_kind_that_is_no_mea(tmp_path) -> None:
    from physres.drivers.mea.cli import record_source

    with pytest.raises(ConfigError, match="sim.esn is no MEA kind"):
        record_source("sim.esn", 1.0)
    with pytest.raises(ConfigError, match="must be > 0"):
        record_source("sim.mea", 0.0)
