"""The task contract: episodes, splits, how task inputs become device inputs, the registry.

A newcomer's path: a task makes Episodes (inputs in task units plus targets);
``encode`` maps them onto whatever input a device declares, inside its limits;
tasks are built by name with validated parameters.
"""

from __future__ import annotations

import numpy as np
import pytest

from physres import tasks
from physres.device import InputSpec, Limits
from physres.errors import ConfigError, DataError, SafetyError
from physres.tasks import Episode, TaskData, nrmse
from physres.tasks.base import slew_limit


def test_episode_coerces_shapes_and_refuses_bad_data() -> None:
    ep = Episode(np.arange(5.0), np.arange(5.0) * 2)
    assert ep.u.shape == (5, 1) and ep.y.shape == (5, 1) and ep.n_steps == 5
    assert Episode(np.zeros((3, 2)), 4).label == 4
    with pytest.raises(DataError, match=r"u\[2, 0\] = nan"):
        Episode(np.array([0.0, 1.0, np.nan]), 1)
    with pytest.raises(DataError, match="T = 4"):
        Episode(np.zeros(4), np.zeros(3))
    with pytest.raises(DataError, match="T > 0"):
        Episode(np.zeros((0, 1)), 0)
    with pytest.raises(DataError, match="per-step targets"):
        _ = ep.label


def test_taskdata_checks_splits_and_washout() -> None:
    ep = Episode(np.zeros((10, 2)), np.zeros(10))
    with pytest.raises(DataError, match="train and test"):
        TaskData(train=[ep], test=[], washout=0, n_inputs=2, n_outputs=1)
    with pytest.raises(DataError, match="washout 10 leaves nothing"):
        TaskData(train=[ep], test=[ep], washout=10, n_inputs=2, n_outputs=1)
    with pytest.raises(DataError, match="has 2 inputs, the task declares 3"):
        TaskData(train=[ep], test=[ep], washout=0, n_inputs=3, n_outputs=1)


def test_nrmse_is_one_for_the_mean_and_zero_when_exact() -> None:
    y = np.random.default_rng(0).standard_normal((500, 2))
    assert nrmse(y, y) == 0.0
    assert nrmse(y, np.broadcast_to(y.mean(axis=0), y.shape)) == pytest.approx(1.0)
    with pytest.raises(DataError, match="constant"):
        nrmse(np.ones(10), np.zeros(10))


def test_registry_builds_every_task_by_name_and_rejects_typos() -> None:
    assert {
        "xor",
        "narma10",
        "mackey_glass",
        "henon",
        "memory_capacity",
        "spoken_digits",
        "spoken_zero_one",
    } <= set(tasks.names())
    for name in tasks.names():
        task = tasks.create(name)
        assert task.name == name and task.metric
    assert tasks.create("narma10", washout=50).params.washout == 50
    with pytest.raises(ConfigError, match="unknown task 'narma'"):
        tasks.create("narma")
    with pytest.raises(ConfigError, match="n_trian"):
        tasks.create("narma10", n_trian=10)
    with pytest.raises(ConfigError, match="hold"):
        tasks.create("xor", hold=0)


def _spec(shape: tuple, **limits: float) -> InputSpec:
    return InputSpec(name="drive", shape=shape, limits=Limits(**limits), units="V")


def test_encode_passes_task_units_through_when_the_device_accepts_them() -> None:
    task = tasks.create("narma10")
    u = np.linspace(-1, 1, 7)[:, None]
    out = task.encode(u, _spec((1,), low=-1000, high=1000))
    assert out.shape == (7, 1) and np.array_equal(out, u)


def test_encode_stretches_minus_one_one_onto_narrow_limits_with_sample_and_hold() -> None:
    # a motor with duty 0..1: task -1 is off, +1 is full; each task step lasts 3 samples
    task = tasks.create("xor", hold=3)
    u = np.array([[-1.0, 1.0], [1.0, -1.0]])
    out = task.encode(u, _spec((2,), low=0.0, high=1.0))
    assert out.shape == (6, 2)
    assert np.array_equal(out[:3], [[0, 1]] * 3) and np.array_equal(out[3:], [[1, 0]] * 3)
    info = task.drive_info(_spec((2,), low=0.0, high=1.0))
    assert info["gain"] == 0.5 and info["offset"] == 0.5 and info["hold"] == 3


def test_encode_places_channels_and_rests_the_others() -> None:
    task = tasks.create("xor", channels=(5, 1), rest=-1.0, gain=2.0, offset=3.0)
    out = task.encode(np.array([[1.0, -1.0]]), _spec((2, 4)))
    flat = out.reshape(1, 8)
    assert flat[0, 5] == 5.0 and flat[0, 1] == 1.0
    assert np.all(np.delete(flat[0], [1, 5]) == 1.0)  # rest -1 → 3 + 2 * -1
    assert out.shape == (1, 2, 4)


def test_encode_rounds_for_integer_inputs() -> None:
    task = tasks.create("narma10", gain=100.0, offset=100.0)
    spec = InputSpec(name="pwm", dtype="<i2", shape=(1,), limits=Limits(low=0, high=255))
    out = task.encode(np.array([[0.004], [-0.5]]), spec)
    assert out.dtype == np.int16 and out[:, 0].tolist() == [100, 50]


def test_encode_refuses_out_of_range_drive_before_anything_is_sent() -> None:
    task = tasks.create("narma10", gain=10.0)
    with pytest.raises(SafetyError, match=r"above the limit 5 V.*gain 10"):
        task.encode(np.array([[0.6]]), _spec((1,), low=-5, high=5))


def test_encode_refuses_devices_it_cannot_drive() -> None:
    task = tasks.create("xor")
    with pytest.raises(ConfigError, match="needs device channel 1 but input 'drive' has 1"):
        task.encode(np.zeros((3, 2)), _spec((1,)))
    with pytest.raises(DataError, match="variable shape"):
        task.encode(np.zeros((3, 2)), _spec((None,)))


def test_slew_limited_inputs_are_ramped_not_refused() -> None:
    # a motor allowing 0.5 per sample: a 0 → 1 step becomes ≈0.5, 1.0 (ramps keep 0.1 %
    # below the limit so a device's quantised report of what it sent stays legal)
    task = tasks.create("xor", hold=2)
    spec = _spec((2,), low=0.0, high=1.0, max_step=0.5)
    out = task.encode(np.array([[-1.0, -1.0], [1.0, -1.0]]), spec, previous=np.array([1.0, 0.0]))
    assert out[:, 0] == pytest.approx([0.5, 0.0, 0.5, 1.0], abs=2e-3)
    assert np.all(np.abs(np.diff(out[:, 0])) < 0.5)
    x = np.array([[0.0], [3.0], [3.0], [3.0], [3.0]])
    assert slew_limit(x, 1.0, None)[:, 0] == pytest.approx([0.0, 0.999, 1.998, 2.997, 3.0])


def test_bench_gives_the_bucket_a_frame_size_a_readout_can_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`physres bench tasks --substrate sim.bucket` used 128×128 frames (16,384 features)."""
    from physres import registry
    from physres.tasks import bench

    seen: dict = {}

    def fake_create(kind: str, name: object = None, params: dict | None = None) -> None:
        seen.update(params or {})
        raise RuntimeError("stop before driving")

    monkeypatch.setattr(registry, "create", fake_create)
    with pytest.raises(RuntimeError, match="stop before driving"):
        bench.run_task("sim.bucket", "xor", task_params={"n_train": 10, "n_test": 10})
    assert tuple(seen["frame_shape"]) == (32, 32)
    seen.clear()
    with pytest.raises(RuntimeError):
        bench.run_task("sim.bucket", "xor", device_params={"frame_shape": (8, 8)})
    assert tuple(seen["frame_shape"]) == (8, 8)
