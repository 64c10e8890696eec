"""``sim.mea``: a simulated culture behind the MEA interface, refusing what a CL1 would refuse.

The story: a pulse the CL1 would refuse never reaches the culture; a pulse it
accepts recruits the neurons near the electrode (more with more charge) and
leaves an artifact on every channel; the no-culture control has the artifacts
and nothing else; the raw signal carries spikes, artifacts and noise; one seed
is one culture.
"""

from __future__ import annotations

import numpy as np
import pytest

from physres import registry
from physres.errors import ConfigError, SafetyError
from physres.sim.mea import SimMEA
from physres.sim.mea.electrodes import (
    AMPLIFIER_RANGE_UV,
    BLANK_AFTER_MS,
    recruitment_probability,
)

#: a small, quiet culture: fast, and too sparse to burst on its own within a test
SMALL = {"n_neurons": 300, "background_hz": 0.0, "seed": 3}


def _mea(**params: object) -> SimMEA:
    return registry.create("sim.mea", params={**SMALL, **params}).connect()


def _pulse(mea: SimMEA, amps: list[float], rows: int = 10) -> dict:
    """One stimulation row (pulses at t = 0 of this apply) then quiet rows; what was read."""
    stim = np.zeros((rows, len(mea.params.stim_electrodes)))
    stim[0] = amps
    mea.apply({"stim": stim})
    return mea.read()


def test_a_pulse_over_the_cl1_limits_never_reaches_the_culture() -> None:
    mea = _mea(amplitude_ua=20.0)  # the config allows 20 µA: the CL1 limits still hold
    with pytest.raises(SafetyError, match=r"12 µA exceeds CL1's limit ±11 µA"):
        _pulse(mea, [12.0, 0, 0, 0])
    assert mea._clock_ns == 0 and mea.state.step == 0  # nothing was simulated
    wide = _mea(amplitude_ua=10.0, phase_us=400.0)
    with pytest.raises(SafetyError, match=r"4 nC .* above CL1's 3 nC per phase"):
        _pulse(wide, [10.0, 0, 0, 0])
    off_grid = _mea(phase_us=150.0)
    with pytest.raises(SafetyError, match="150 µs is not on CL1's 20 µs grid"):
        _pulse(off_grid, [5.0, 0, 0, 0])
    assert mea._guard.refused == 1


def test_a_refused_row_anywhere_in_an_apply_refuses_the_whole_apply() -> None:
    mea = _mea(amplitude_ua=20.0)
    stim = np.zeros((50, 4))
    stim[0, 0] = 5.0  # fine
    stim[40, 1] = 15.0  # over 11 µA, 400 ms later
    with pytest.raises(SafetyError, match="15 µA"):
        mea.apply({"stim": stim})
    assert len(mea.read()["pulses"].data) == 0 and mea.neuron_spikes == 0


def test_the_stim_input_refuses_negative_or_over_config_amplitudes_before_the_guard() -> None:
    mea = _mea(amplitude_ua=6.0)
    with pytest.raises(SafetyError, match="above the limit 6 uA"):
        _pulse(mea, [7.0, 0, 0, 0])
    with pytest.raises(SafetyError, match="below the limit 0 uA"):
        _pulse(mea, [-1.0, 0, 0, 0])


def test_stimulation_recruits_nearby_neurons_more_with_more_charge() -> None:
    mea = _mea(amplitude_ua=11.0, n_neurons=1000)
    d = np.array([0.0, 50.0, 100.0, 200.0, 400.0])
    charge = [(2.0, 100.0), (4.0, 200.0), (8.0, 200.0), (10.0, 280.0)]
    probs = []
    for amp, width in charge:
        p = mea.params.model_copy(update={"phase_us": width})
        probs.append(recruitment_probability(p, d, amp))
    probs = np.array(probs)
    assert (np.diff(probs, axis=0) >= 0).all()  # more charge: never fewer neurons
    assert (np.diff(probs, axis=1) <= 0).all()  # further away: never more
    assert probs[-1, 0] > 0.99 and probs[:, -1].max() < 0.01  # 400 µm away: out of reach
    # end to end: 1 µA for 100 µs moves nothing, 10 µA for 280 µs makes the culture answer,
    # first on the stimulated electrode and its neighbours
    assert _pulse(mea, [1.0, 0, 0, 0], rows=1) and mea.neuron_spikes == 0
    strong = _mea(amplitude_ua=11.0, n_neurons=1000, phase_us=280.0)
    ev = _pulse(strong, [10.0, 0, 0, 0], rows=1)["spikes"].data
    assert strong.neuron_spikes >= 10
    neural = ev[ev["t_ns"] != round(BLANK_AFTER_MS * 1e6)]  # not the artifact's tail
    lay = strong.params.electrodes
    dist = np.hypot(*(lay.positions[neural["channel"][:3]] - lay.positions[27]).T)
    assert len(neural) and (dist <= 300).all()


def test_every_pulse_is_reported_on_the_pulses_stream() -> None:
    mea = _mea()
    stim = np.zeros((30, 4))
    stim[0, [0, 2]] = 4.0
    stim[20, 3] = 6.0
    mea.apply({"stim": stim})
    pulses = mea.read()["pulses"].data
    assert pulses["t_ns"].tolist() == [0, 0, 200_000_000]
    assert pulses["channel"].tolist() == [27, 35, 36]


def test_the_no_culture_control_has_artifacts_and_noise_but_no_neurons() -> None:
    mea = _mea(culture=False)
    quiet = mea.apply({"stim": np.zeros((100, 4))}) and mea.read()["spikes"].data
    assert len(quiet) == 0 and mea.culture.n == 0
    ev = _pulse(mea, [8.0, 0, 0, 0])["spikes"].data
    assert mea.neuron_spikes == 0
    # what a detector sees is the artifact's tail, right after blanking, near the electrode
    assert len(ev) > 0 and set(ev["t_ns"] - 1_000_000_000) == {round(BLANK_AFTER_MS * 1e6)}
    lay = mea.params.electrodes
    d = np.hypot(*(lay.positions[ev["channel"]] - lay.positions[27]).T)
    assert d.max() < 1000  # far electrodes' artifacts have decayed under threshold


def test_raw_voltage_carries_noise_spikes_and_an_artifact_on_every_channel() -> None:
    mea = _mea(raw=True, amplitude_ua=11.0, stim_electrodes=[27], n_neurons=1000, phase_us=280.0)
    mea.apply({"stim": np.zeros((60, 1))})  # the detector estimates the noise on 0.5 s
    quiet = mea.read()["raw"].data
    assert quiet.shape == (60 * 250, 64) and quiet.dtype == np.float32
    assert np.std(quiet) == pytest.approx(mea.params.noise_uv, rel=0.2)
    out = _pulse(mea, [10.0])
    raw, spikes = out["raw"].data, out["spikes"].data
    assert raw.shape == (2500, 64)
    w = round(mea.params.phase_us * 25e-3)  # samples per phase
    first, second = raw[1 : w - 1], raw[w + 1 : 2 * w - 1]
    assert (first.mean(0) < -30).all() and (second.mean(0) > 30).all()  # every channel
    assert np.abs(raw).max() <= AMPLIFIER_RANGE_UV  # the amplifier clips
    # after the artifact: each spike the detector found has a trough in the raw of its channel
    later = spikes[spikes["t_ns"] - out["spikes"].t_dev_ns > 3_000_000]
    assert len(later)
    t0 = out["raw"].t_dev_ns
    for e in later[:20]:
        s = (e["t_ns"] - t0) * 25_000 // 1_000_000_000
        assert raw[s : s + 20, e["channel"]].min() < -4 * mea.params.noise_uv


def test_one_seed_is_one_culture_and_reset_replays_it() -> None:
    def run(mea: SimMEA) -> np.ndarray:
        stim = np.zeros((100, 4))
        stim[::20, 1] = 6.0
        mea.apply({"stim": stim})
        return mea.read()["spikes"].data

    a, b = _mea(background_hz=20.0), _mea(background_hz=20.0)
    first = run(a)
    assert np.array_equal(first, run(b))
    a.reset()
    assert np.array_equal(first, run(a))
    assert not np.array_equal(first, run(_mea(background_hz=20.0, seed=4)))


def test_other_layouts_place_the_culture_under_their_electrodes() -> None:
    hd = _mea(layout="hdmea1024", stim_electrodes=[528], amplitude_ua=11.0, n_neurons=200)
    assert hd.describe().meta["n_channels"] == 1024
    ev = _pulse(hd, [10.0], rows=1)["spikes"].data
    # at 17.5 µm pitch one neuron is seen by many electrodes
    assert len(np.unique(ev["channel"])) > 10
    mcs = _mea(layout="mcs60", stim_electrodes=[0, 59])
    assert mcs.describe().inputs["stim"].shape == (2,)
    with pytest.raises(ConfigError, match="electrode 60 is not on layout 'mcs60'"):
        _mea(layout="mcs60", stim_electrodes=[60])


def test_stdp_changes_excitatory_weights_only_when_on() -> None:
    def weights_after(stdp: bool) -> tuple[np.ndarray, np.ndarray]:
        mea = _mea(stdp=stdp, background_hz=30.0, n_neurons=200)
        mea.apply({"stim": np.zeros((200, 4))})
        return mea.culture.syn_w, mea.state.syn_w

    drawn, after = weights_after(False)
    assert np.array_equal(drawn, after)
    drawn, after = weights_after(True)
    assert not np.array_equal(drawn, after) and (after >= 0).all()


def test_with_raw_on_the_spikes_are_what_the_detector_finds_in_it() -> None:
    """The simulated raw goes through physres.mea.detect, the code path real raw takes."""
    params = {"amplitude_ua": 10.0, "n_neurons": 1000, "background_hz": 3.0, "seed": 5}
    clean, raw = _mea(**params), _mea(**params, raw=True)
    stim = np.zeros((300, 4))
    stim[100::50, 0] = 8.0  # after the detector's 0.5 s of noise estimation
    for mea in (clean, raw):
        mea.apply({"stim": stim})
    truth, found = clean.read()["spikes"].data, raw.read()["spikes"].data
    assert clean.neuron_spikes == raw.neuron_spikes  # the same culture did the same thing
    late = truth[truth["t_ns"] > 600_000_000]
    late = late[late["t_ns"] % 500_000_000 != round(BLANK_AFTER_MS * 1e6)]  # no artifacts
    hits = 0
    for t, ch in late[["t_ns", "channel"]]:
        near = found[(found["channel"] == ch) & (np.abs(found["t_ns"] - t) < 1_500_000)]
        hits += len(near) > 0
    assert hits / len(late) > 0.7  # the detector finds most of what the neurons fired
    # nothing is detected inside the blanking window of a pulse (−0.8 … +2 ms)
    for t in np.arange(1_000_000_000, 3_000_000_000, 500_000_000):
        inside = (found["t_ns"] >= t - 800_000) & (found["t_ns"] < t + 2_000_000)
        assert not inside.any()


def test_mock_mea_is_fast_and_still_refuses_unsafe_stimulation() -> None:
    mock = registry.create("mock.mea", params={"amplitude_ua": 20.0}).connect()
    assert mock.culture.n == 0  # no neurons to integrate
    with pytest.raises(SafetyError, match="exceeds CL1's limit"):
        _pulse(mock, [12.0, 0, 0, 0])
    assert set(mock.read()) == {"spikes", "pulses"}  # the same streams as the simulator


def test_a_closed_loop_task_scores_its_one_step_and_says_the_free_run_was_skipped() -> None:
    """Events are binned per episode, so no prediction can be fed back step by step."""
    from physres import tasks
    from physres.experiments.protocol import run_protocol

    task = tasks.create("mackey_glass", n_train=300, n_test=100, washout=20, free_run_trials=1)
    data = task.generate(seed=0)
    with registry.create("sim.mea", params={**SMALL, "n_stim": 1, "culture": False}) as mea:
        res = run_protocol(mea, task, data, control=False)
    assert np.isfinite(res.metrics["nrmse"]) and "nrmse_free" not in res.metrics
    assert res.metrics["free_run_skipped"] == "the device's state is an event stream"
