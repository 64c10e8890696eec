"""The one drive loop: any Device in, per-task-step states out, aligned and pooled.

Stepped simulators (``sim.esn``, a small frame camera defined here), mock
devices and a wall-clock, slew-limited motor board (``mock.bucket_motors``)
all go through :func:`collect_states`; the states must be exactly what the
device produced, in the right place.
"""

from __future__ import annotations

import io
import time
from contextlib import redirect_stdout
from typing import ClassVar

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from physres import registry, tasks
from physres.device import Chunk, Description, Device, InputSpec, Limits, StreamSpec
from physres.errors import DataError
from physres.experiments import collect_states, free_run, select_stream
from physres.sim.esn import ESN, ESNParams, make_weights, run_chunk
from physres.tasks import Episode


def _esn(**kw: object) -> ESN:
    return ESN("esn", **{"n_units": 30, "seed": 4, **kw})


def test_states_are_exactly_the_reservoir_trajectory_whatever_the_chunking() -> None:
    task = tasks.create("narma10", n_train=300, n_test=100, washout=20)
    data = task.generate(0)
    p = ESNParams(n_units=30, seed=4)
    W, win, bias = make_weights(p)
    expect = run_chunk(np.zeros(30), data.train[0].u @ win.T + bias, W, 1.0)
    with _esn() as dev:
        for chunk in (1, 7, 1000):
            [got] = collect_states(dev, data.train, task, chunk=chunk)
            np.testing.assert_array_equal(got, expect)


def test_hold_repeats_each_step_and_pooling_summarises_its_samples() -> None:
    u = np.random.default_rng(1).uniform(-1, 1, (50, 1))
    ep = Episode(u, u)
    with _esn() as dev:
        dev.apply({"u": np.repeat(u, 3, axis=0)})
        raw = dev.read()["state"].data
        held = tasks.create("narma10", hold=3)
        [last] = collect_states(dev, [ep], held, pool="last")
        [mean] = collect_states(dev, [ep], held, pool="mean")
    np.testing.assert_array_equal(last, raw[2::3])
    np.testing.assert_allclose(mean, raw.reshape(50, 3, 30).mean(axis=1), rtol=1e-14)


def test_reset_between_episodes_makes_them_independent_and_progress_is_reported() -> None:
    task = tasks.create("narma10")
    ep = Episode(np.full((40, 1), 0.3), np.zeros(40))
    seen = []
    with _esn() as dev:
        a, b = collect_states(dev, [ep, ep], task, progress=lambda i, n: seen.append((i, n)))
        c, d = collect_states(dev, [ep, ep], task, reset_between=False)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(c[0], d[0])  # carried on from the first episode's last state
    assert seen == [(0, 80), (40, 80), (80, 80)]  # task steps, after every chunk


def test_mock_mode_drives_like_the_real_thing() -> None:
    task = tasks.create("xor", n_train=60, n_test=30, washout=5)
    data = task.generate(0)
    dev = registry.create("mock.esn", params={"n_units": 12, "n_inputs": 2})
    with dev:
        states = collect_states(dev, data.train + data.test, task)
    assert [s.shape for s in states] == [(65, 12), (35, 12)]
    metrics = task.evaluate(states[:1], data.train, states[1:], data.test, data)
    assert 0 <= metrics["accuracy"] <= 1


class CameraParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    frames_per_input: int = 2


class Camera(Device):
    """A stepped device whose state is a 4×3 uint8 image at twice the input rate.

    Frame k of input sample i has every pixel = 10 * i + k (mod 256), so the
    test can tell exactly which frames were pooled into which task step.
    """

    Params: ClassVar[type[BaseModel]] = CameraParams
    default_kind = "sim.camera_test"
    clock = "stepped"
    params: CameraParams

    def __init__(self, name: str | None = None, **kw: object) -> None:
        super().__init__(name or "cam", **kw)
        self._frames: list[np.ndarray] = []
        self._i = 0

    def describe(self) -> Description:
        k = self.params.frames_per_input
        return self._description(
            streams=[
                StreamSpec(name="level", shape=(1,), rate_hz=10.0, carries="continuous"),
                StreamSpec(
                    name="image", dtype="|u1", shape=(4, 3), rate_hz=10.0 * k, carries="frame"
                ),
                StreamSpec(
                    name="spikes",
                    dtype=[("t_ns", "<i8"), ("channel", "<i2")],
                    shape=(),
                    carries="events",
                ),
            ],
            inputs=[
                InputSpec(name="drive", shape=(2,), rate_hz=10.0, limits=Limits(low=0.0, high=1.0))
            ],
        )

    def _apply(self, inputs: dict[str, np.ndarray]) -> None:
        for _ in inputs["drive"]:
            for k in range(self.params.frames_per_input):
                self._frames.append(np.full((4, 3), (10 * self._i + k) % 256, np.uint8))
            self._i += 1

    def _read(self) -> dict[str, Chunk]:
        frames = np.stack(self._frames) if self._frames else np.zeros((0, 4, 3), np.uint8)
        self._frames = []
        level = frames.reshape(len(frames), 12)[:: self.params.frames_per_input, :1]
        return {"image": Chunk(frames, 0), "level": Chunk(level.astype(np.float64), 0)}

    def _reset(self, seed: int | None) -> None:
        self._frames, self._i = [], 0


def test_frames_are_flattened_and_pooled_by_the_declared_rates() -> None:
    task = tasks.create("xor", hold=2)  # 2 device samples per step, 2 frames per sample
    ep = Episode(np.ones((5, 2)), np.zeros(5))
    with Camera() as cam:
        assert select_stream(cam.describe()).name == "image"  # frame before continuous
        [x] = collect_states(cam, [ep], task)
        [lv] = collect_states(cam, [ep], task, stream="level", pool="last")
    assert x.shape == (5, 12)
    # step s pools frames of samples 2s, 2s+1: values 10*(2s)+{0,1}, 10*(2s+1)+{0,1}
    np.testing.assert_allclose(x[:, 0], [20 * s + 5.5 for s in range(5)])
    assert lv[:, 0].tolist() == [20 * s + 10 for s in range(5)]
    with Camera() as cam:  # kept as (T, H, W) for a frame feature stage
        [frames] = collect_states(cam, [ep], task, flatten=False)
    np.testing.assert_array_equal(frames.reshape(5, 12), x)
    # events are binned by a feature stage; this camera declares spikes but never sends them
    with Camera() as cam, pytest.raises(DataError, match="read\\(\\) gave no 'spikes' chunk"):
        collect_states(cam, [ep], task, stream="spikes")


def test_wall_clock_motor_board_is_paced_ramped_and_read_from_its_numeric_stream() -> None:
    dev = registry.create("mock.bucket_motors")
    task = tasks.create("xor", hold=2)
    ep = Episode(np.array([[-1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]]), np.zeros(3))
    sent_chunks: list[np.ndarray] = []
    driver_apply = dev._apply  # mock mode runs the driver's own _apply: watch what it sends
    dev._apply = lambda inputs: sent_chunks.append(inputs["duty"]) or driver_apply(inputs)  # type: ignore[method-assign]
    with dev:
        with pytest.raises(DataError, match="input_rate_hz"):
            collect_states(dev, [ep], task)
        t0 = time.monotonic()
        [x] = collect_states(dev, [ep], task, input_rate_hz=10.0)  # 0.6 s of motor time
        elapsed = time.monotonic() - t0
        sent = np.concatenate(sent_chunks)
    assert x.shape == (3, 4)  # 'status' is a structured record, so 'duty_out' is read
    assert elapsed >= 0.4  # the last of 3 steps × 2 samples went out 0.4 s after the first
    limit = dev.describe().inputs["duty"].limits
    assert np.abs(np.diff(sent, axis=0)).max() <= limit.max_step  # ramped, not refused
    assert sent[:, :2].min() >= 0.0 and sent[:, :2].max() == pytest.approx(0.9)


def test_free_run_feeds_the_readouts_predictions_back_as_input() -> None:
    task = tasks.create(
        "mackey_glass", n_train=600, n_test=100, washout=100, free_run_trials=1, horizon=5
    )
    data = task.generate(0)
    with _esn(n_units=50) as dev:
        states = collect_states(dev, data.train, task)
        readout = task.fit_readout(states, data.train, data)
        warm = data.closed_loop[0].u[:100]
        pred = free_run(dev, task, readout, warm, horizon=5)
        # the same loop by hand: predict, apply the prediction, read, predict...
        dev.reset()
        dev.apply({"u": warm})
        x = dev.read()["state"].data[-1:]
        manual = []
        for _ in range(5):
            p = readout.predict(x)
            manual.append(p[0])
            dev.apply({"u": p})
            x = dev.read()["state"].data
    np.testing.assert_allclose(pred, np.asarray(manual), rtol=1e-12)
    assert np.abs(pred[:, 0] - data.closed_loop[0].u[100:105, 0]).max() < 0.05


def test_bench_cli_prints_a_table_of_tasks() -> None:
    from physres.tasks.bench import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(
            [
                "tasks",
                "--task",
                "xor",
                "--task",
                "memory_capacity",
                "--set",
                "xor.n_train=300",
                "--set",
                "memory_capacity.n_train=500",
                "--json",
            ]
        )
    out = buf.getvalue()
    assert rc == 0 and "xor" in out and "memory_capacity" in out and '"metric": "mc"' in out


def test_bench_registers_as_a_physres_subcommand() -> None:
    import argparse

    from physres.tasks.bench import register

    parser = argparse.ArgumentParser(prog="physres")
    register(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["bench", "tasks", "--substrate", "mock.esn", "--task", "henon"])
    assert args.substrate == "mock.esn" and args.task == ["henon"] and callable(args.func)
