"""sim.lsm: LIF spikes as (t_ns, channel) events, deterministic, silent at rest, driven by input."""

from __future__ import annotations

import numpy as np

from physres import registry, tasks
from physres.experiments import collect_states
from physres.readout.features import EventWindow
from physres.sim.lsm import EVENT_DTYPE, LSM


def test_spikes_are_events_within_the_chunk_and_repeat_after_reset() -> None:
    u = np.random.default_rng(0).choice([-1.0, 1.0], (50, 2))
    with LSM(n_inputs=2, seed=3) as d:
        desc = d.describe()
        assert desc.streams["spikes"].carries == "events" and desc.meta["n_channels"] == 135
        d.apply({"u": u})
        a = d.read()["spikes"]
        d.reset(seed=7)
        d.apply({"u": u})
        b = d.read()["spikes"]
        d.apply({"u": np.zeros((100, 2))})
        rest = d.read()["spikes"]
    assert a.data.dtype == EVENT_DTYPE and len(a.data) > 0
    # 50 samples at 100 Hz = 500 ms of device time from t = 0
    assert a.t_dev_ns == 0 and a.data["t_ns"].min() >= 0 and a.data["t_ns"].max() < 500_000_000
    assert np.all(np.diff(a.data["t_ns"]) >= 0)
    assert a.data["channel"].min() >= 0 and a.data["channel"].max() < 135
    rate = len(a.data) / 135 / 0.5
    assert 2 < rate < 60, rate  # driven, not saturated
    assert rest.t_dev_ns == 500_000_000 and len(rest.data) / 135 < 2  # < 2 Hz at rest
    with LSM(n_inputs=2, seed=3) as d:  # reset(seed) repeats the same noise: same spikes
        d.reset(seed=7)
        d.apply({"u": u})
        np.testing.assert_array_equal(d.read()["spikes"].data, b.data)


def test_the_drive_loop_gives_event_windows_on_the_task_step_grid() -> None:
    task = tasks.create("xor", hold=2, n_train=20, n_test=10, washout=2)
    data = task.generate(0)
    with registry.create("sim.lsm", params={"n_inputs": 2}) as dev:
        tr, te = (
            collect_states(dev, eps, task, reset_between=False, chunk=7)
            for eps in (data.train, data.test)
        )
    [w_tr], [w_te] = tr, te
    assert isinstance(w_tr, EventWindow) and w_tr.n_channels == 135
    assert w_tr.step_ns == 20_000_000 and w_tr.n_steps == 22  # hold 2 at 100 Hz
    # the test episode continues the device's clock where training stopped
    assert w_tr.t0_ns == 0 and w_te.t0_ns == 22 * 20_000_000
    t = w_te.events["t_ns"]
    assert len(t) and t.min() >= w_te.t0_ns and t.max() < w_te.t0_ns + 12 * 20_000_000
