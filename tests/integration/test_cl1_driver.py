"""drivers.cl1 runs unchanged on cl-sdk, Cortical Labs' own simulator of the CL1.

The story: a replay file physres wrote stands in for the culture; the driver
opens a session with ``cl.open()``, steps the CL1's loop one tick per input
row, stimulates through ``neurons.stim`` and reports spikes and delivered
pulses. Unsafe stimulation is refused before the vendor is called (proved by
wrapping the real cl-sdk method with a recorder); a vendor that stops
mid-run ends the session with the step and the reason, keeping the CL1's own
recording.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from physres import registry
from physres.device import check_device
from physres.errors import ConfigError, DeviceError, SafetyError

pytestmark = pytest.mark.usefixtures("cl_sdk")  # skipped, saying why, without cl-sdk

STEP_NS = 10_000_000


def cl1(replay, **params: Any):
    return registry.create("drivers.cl1", "cl1", {"replay": str(replay.path), **params})


@pytest.fixture
def stim_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Every call of cl-sdk's real ``Neurons.stim``, recorded on its way through."""
    from cl.neurons import Neurons

    calls: list[tuple] = []
    real = Neurons.stim

    def recorder(self, channel_set, stim_design, burst_design=None, lead_time_us=80):
        calls.append((repr(channel_set), repr(stim_design), lead_time_us))
        return real(self, channel_set, stim_design, burst_design, lead_time_us)

    monkeypatch.setattr(Neurons, "stim", recorder)
    return calls


def test_the_driver_passes_the_device_contract_on_cl_sdk(cl1_replay) -> None:
    report = check_device(cl1(cl1_replay))
    assert report.ok, report.failed
    assert len(report.passed) >= 5


def test_pulses_go_out_through_neurons_stim_and_come_back_as_delivered(
    cl1_replay, stim_calls
) -> None:
    with cl1(cl1_replay, stim_electrodes=[27, 28, 35, 36], phase_us=200.0) as dev:
        u = np.zeros((30, 4))
        u[0, 0] = 4.0  # one pulse on electrode 27 at step 0
        u[10, 1:3] = 6.0  # electrodes 28 and 35 together at step 10: one channel set
        sent = dev.apply({"stim": u})
        got = dev.read()
    np.testing.assert_array_equal(sent["stim"], u)
    assert stim_calls == [
        ("ChannelSet(27,)", "StimDesign(200, -4.0, 200, 4.0)", 80),
        ("ChannelSet(28, 35)", "StimDesign(200, -6.0, 200, 6.0)", 80),
    ]
    pulses = got["pulses"].data
    assert pulses["channel"].tolist() == [27, 28, 35]
    # delivered one lead time (80 µs = 2 frames) after the step that asked for it
    assert pulses["t_ns"].tolist() == [80_000, 10 * STEP_NS + 80_000, 10 * STEP_NS + 80_000]


def test_the_replayed_culture_arrives_as_spike_events_and_raw_microvolts(cl1_replay) -> None:
    with cl1(cl1_replay, raw=True) as dev:
        dev.apply({"stim": np.zeros((300, 4))})  # 3 s: one pass of the replay
        got = dev.read()
        assert dev.now_ns() == 300 * STEP_NS
    spikes, raw = got["spikes"].data, got["raw"].data
    assert raw.shape == (75_000, 64) and raw.dtype == np.float32
    assert 4.0 < raw.std() < 8.0  # the 5 µV noise the culture was written with, in µV
    assert len(spikes) > 500 and np.all(np.diff(spikes["t_ns"]) >= 0)
    assert spikes["t_ns"].min() >= 0 and spikes["t_ns"].max() < 300 * STEP_NS
    # network bursts survive the round trip: some 100 ms bins hold far more than the mean
    counts = np.bincount(spikes["t_ns"] // 100_000_000, minlength=30)
    assert counts.max() > 4 * np.median(counts)


def test_a_refused_chunk_never_reaches_the_vendor(cl1_replay, stim_calls) -> None:
    """Too fast for the CL1 (2 ms apart = 500 Hz > 200 Hz) and too strong: nothing is sent."""
    with cl1(cl1_replay, step_ms=2.0, amplitude_ua=8.0) as dev:
        u = np.zeros((5, 4))
        u[0, 0] = u[1, 0] = 3.0  # same electrode on consecutive 2 ms steps
        with pytest.raises(SafetyError, match="electrode 27 pulsed 2 ms after.*200 Hz"):
            dev.apply({"stim": u})
        with pytest.raises(SafetyError, match="above the limit 8 uA"):
            dev.apply({"stim": np.array([[9.0, 0, 0, 0]])})
        with pytest.raises(SafetyError, match="not finite"):
            dev.apply({"stim": np.array([[np.nan, 0, 0, 0]])})
        assert stim_calls == []
        assert dev.call("refused") == 1  # the guard's own refusal; the others fell earlier
        assert dev.read()["pulses"].data.size == 0
        u[1, 0] = 0.0
        dev.apply({"stim": u})  # the same chunk made safe goes out
    assert [c[0] for c in stim_calls] == ["ChannelSet(27,)"]


def test_configs_a_cl1_would_refuse_are_config_errors(cl1_replay, tmp_path) -> None:
    for params, match in [
        ({"layout": "mcs60"}, "a CL1 has 64 electrodes"),
        ({"step_ms": 3.0}, "whole number of loop ticks"),
        ({"amplitude_ua": 11.0, "phase_us": 300.0}, r"3.3 nC \(11 µA × 300 µs\)"),
        ({"phase_us": 210.0}, "not on CL1's 20 µs grid"),
        ({"stim_electrodes": [64]}, "stim_electrodes"),
        ({"lead_time_us": 100}, "lead_time_us"),
    ]:
        with pytest.raises(ConfigError, match=match):
            cl1(cl1_replay, **params)
    dev = registry.create("drivers.cl1", "c", {"replay": str(tmp_path / "gone.h5")})
    with pytest.raises(ConfigError, match="does not exist; write one with"):
        dev.connect()
    assert not dev.connected


def test_acquisition_that_stops_mid_run_is_latched_with_the_step_and_reason(
    cl1_replay, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    from cl.neurons import Neurons
    from cl.util import RecordingView

    real_read, armed = Neurons.read, []

    def failing_read(self, frame_count, from_timestamp):
        if armed:  # armed after step 20: ticks 20..24 read, the 26th tick's frames never come
            armed.append(frame_count)
            if len(armed) > 6:
                raise Exception("read did not succeed")
        return real_read(self, frame_count, from_timestamp)

    # patched before the session opens: the CL1 loop holds on to the method it started with
    monkeypatch.setattr(Neurons, "read", failing_read)
    dev = cl1(cl1_replay, record_dir=str(tmp_path / "cl1"))
    dev.connect()
    try:
        dev.apply({"stim": np.zeros((20, 4))})
        before = dev.read()["spikes"].data
        armed.append("armed")
        with pytest.raises(
            DeviceError, match=r"acquisition stopped at step 25 \(0.25 s\).*read did not succeed"
        ):
            dev.apply({"stim": np.zeros((20, 4))})
        assert dev.fault and "step 25" in dev.fault
        with pytest.raises(DeviceError, match="reconnect"):
            dev.apply({"stim": np.zeros((1, 4))})
        armed.clear()
    finally:
        dev.disconnect()
    assert len(before) > 0
    first_recording = dev.vendor_recording
    with dev:  # a new session starts clean (and its own CL1 recording)
        assert dev.fault is None
        dev.apply({"stim": np.zeros((5, 4))})
    # the CL1's own recording of the session was stopped and kept
    assert dev.vendor_recording != first_recording
    view = RecordingView(first_recording)
    try:
        assert view.attributes["application"] == {"physres_device": "cl1"}
        assert view.attributes["duration_frames"] >= 25 * 250
    finally:
        view.close()


def test_the_replay_setting_is_refused_on_a_real_cl1(tmp_path) -> None:
    from types import ModuleType

    from physres.drivers.mea.cl_api import use_replay

    (tmp_path / "r.h5").write_bytes(b"x")
    real_cl = ModuleType("cl")  # a CL1's own API keeps no replay path
    with pytest.raises(ConfigError, match="a CL1's own API, not cl-sdk"):
        use_replay(real_cl, tmp_path / "r.h5")


def test_without_replay_the_config_takes_cl_sdks_own_variable(
    cl1_replay, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """One config for a CL1 and for cl-sdk: the replay comes from CL_MOCK_REPLAY_PATH."""
    monkeypatch.setenv("CL_MOCK_REPLAY_PATH", str(cl1_replay.path))
    with registry.create("drivers.cl1", "cl1", {}) as dev:
        dev.apply({"stim": np.zeros((300, 4))})
        assert len(dev.read()["spikes"].data) == cl1_replay.spikes  # from its first frame
    monkeypatch.setenv("CL_MOCK_REPLAY_PATH", str(tmp_path / "missing.h5"))
    with pytest.raises(ConfigError, match="missing.h5 does not exist"):
        registry.create("drivers.cl1", "cl1", {}).connect()
