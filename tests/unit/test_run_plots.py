"""Each plot kind says what it shows: headline and control in the title, labelled axes.

Figures are built from real (small) task runs on the reference ESN and
checked through matplotlib's objects before they are saved; the PNGs stay in
the test's tmp folder as artifacts to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from physres import tasks
from physres.experiments import plots
from physres.experiments.protocol import run_protocol
from physres.experiments.run import sample_counts
from physres.sim.esn import ESN


def _run(task_name: str, esn: dict[str, Any], **task_params: Any) -> dict[str, Any]:
    task = tasks.create(task_name, **task_params)
    data = task.generate(0)
    with ESN("esn", n_inputs=data.n_inputs, seed=0, **esn) as dev:
        res = run_protocol(dev, task, data, seed=0)
        trace = None
        if data.closed_loop:
            from physres.experiments.drive import free_run

            ep, h = data.closed_loop[0], task.params.horizon
            warm, truth = ep.u[: ep.n_steps - h], ep.u[ep.n_steps - h :]
            trace = (warm, truth, free_run(dev, task, res.readout, warm, horizon=h, seed=0))
    result = {
        "task": task_name,
        "device": "esn",
        "kind": "sim.esn",
        "metric": task.metric,
        "value": res.metrics[task.metric],
        "metrics": res.metrics,
        **sample_counts(data),
    }
    return {"task": task, "data": data, "res": res, "result": result, "trace": trace}


def _write(tmp_path: Path, run: dict[str, Any], **kw: Any) -> dict[str, Path]:
    return plots.write_plots(
        tmp_path,
        result=run["result"],
        task=run["task"],
        data=run["data"],
        states_test=run["res"].states_test,
        readout=run["res"].readout,
        free_run=run["trace"],
        **kw,
    )


def _titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in fig.axes]


def test_headline_carries_the_metric_its_control_and_the_reference() -> None:
    result = {
        "task": "xor",
        "device": "bucket",
        "kind": "sim.bucket",
        "metric": "accuracy",
        "value": 0.9875,
        "metrics": {"accuracy": 0.9875, "control_raw_input_accuracy": 0.5125},
        "reference": {"kind": "sim.esn", "metrics": {"accuracy": 1.0}},
    }
    text = plots.headline(result)
    assert text.startswith("xor on bucket (sim.bucket): accuracy 0.9875")
    assert "raw-input control 0.5125" in text and "sim.esn reference 1" in text


def test_memory_capacity_is_plotted_against_delay_with_the_n_bound(tmp_path: Path) -> None:
    run = _run(
        "memory_capacity",
        {"n_units": 20, "activation": "linear", "spectral_radius": 0.95, "input_scaling": 0.1},
        n_train=1000,
        n_test=500,
        max_delay=60,
    )
    paths = _write(tmp_path, run)
    assert {"states", "readout", "memory"} <= set(paths)
    m = run["result"]["metrics"]
    fig = plots.memory_figure(
        [m[f"r2_{k}"] for k in range(1, int(m["delays_scored"]) + 1)],
        20,
        plots.headline(run["result"]),
    )
    top, bottom = fig.axes
    assert "mc" in fig._suptitle.get_text() and "raw-input control" in fig._suptitle.get_text()
    assert bottom.get_xlabel().startswith("delay k") and top.get_ylabel().startswith("r²")
    bound = [ln for ln in bottom.get_lines() if ln.get_label() == "bound N = 20"]
    assert bound and set(bound[0].get_ydata()) == {20}
    curve = next(ln for ln in bottom.get_lines() if ln.get_label().startswith("MC up to"))
    assert np.isclose(curve.get_ydata()[-1], m["mc"]) and max(curve.get_ydata()) <= 20
    assert all(p.stat().st_size > 5000 for p in paths.values())
    ep, pred = run["data"].test[0], run["task"].predict(run["res"].readout, run["res"].states_test)
    readout = plots.readout_figure(ep.y, pred[0], "t")
    assert readout.axes[0].get_title() == "readout vs target (test, output 1 of 40)"  # 2N delays


def test_mackey_glass_shows_its_free_run(tmp_path: Path) -> None:
    run = _run(
        "mackey_glass",
        {"n_units": 100, "spectral_radius": 0.9, "input_scaling": 1.0, "bias_scaling": 0.2},
        n_train=1000,
        n_test=300,
        washout=100,
        free_run_trials=2,
        alpha=1e-8,
    )
    paths = _write(tmp_path, run)
    assert "free_run" in paths and paths["free_run"].exists()
    warm, truth, pred = run["trace"]
    fig = plots.free_run_figure(warm, truth, pred, plots.headline(run["result"]), " (x)")
    (ax,) = fig.axes
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert "free run (fed back)" in labels and "true continuation" in labels
    assert "free run" in ax.get_title() and "nrmse" in fig._suptitle.get_text()
    assert ax.get_legend() is None and fig.legends, "the legend sits outside the axes"


def test_classification_shows_a_confusion_matrix_with_counts(tmp_path: Path) -> None:
    run = _run(
        "spoken_zero_one", {"n_units": 50, "spectral_radius": 0.9, "leak_rate": 0.3}, n_bands=2
    )
    paths = _write(tmp_path, run)
    assert {"states", "confusion"} <= set(paths) and "readout" not in paths
    data = run["data"]
    pred = run["task"].predict(run["res"].readout, run["res"].states_test)
    true = [e.label for e in data.test]
    fig = plots.confusion_figure(true, pred, data.classes, plots.headline(run["result"]))
    ax = fig.axes[0]
    counts = sum(int(t.get_text()) for t in ax.texts)
    assert counts == len(data.test)
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    assert [t.get_text() for t in ax.get_xticklabels()][: len(data.classes)] == list(data.classes)
    assert "accuracy" in fig._suptitle.get_text()


def test_xor_gets_a_per_step_confusion_matrix_and_a_readout_trace(tmp_path: Path) -> None:
    run = _run("xor", {"n_units": 40, "bias_scaling": 0.5}, n_train=600, n_test=200)
    paths = _write(tmp_path, run)
    assert {"states", "readout", "confusion"} <= set(paths)


def test_states_are_a_heat_map_with_a_colour_scale() -> None:
    x = np.random.default_rng(0).normal(size=(500, 40))
    fig = plots.states_figure(x, "narma10 on esn (sim.esn): nrmse 0.12")
    ax, cbar = fig.axes
    (im,) = ax.get_images()
    assert im.get_array().shape == (40, 300), "features × the first 300 steps"
    assert cbar.get_ylabel() == "state − its mean" and "of 40" in ax.get_ylabel()
    shown = x[:300] - x[:300].mean(axis=0)
    np.testing.assert_allclose(im.get_array(), shown.T)  # every feature, centred on its mean
    # a camera's bright baseline does not wash the waves out of the colour scale
    frames = 140 + np.sin(np.arange(50))[:, None] * np.ones((1, 16))
    (im2,) = plots.states_figure(frames, "t").axes[0].get_images()
    assert im2.get_clim()[1] < 2
    assert fig._suptitle.get_text() == "narma10 on esn (sim.esn): nrmse 0.12"


def test_bucket_frames_name_their_input_and_share_one_colour_scale(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frames = rng.uniform(0, 255, size=(6, 8, 8))
    labels = [f"step {i}: in (1, -1) → 1" for i in range(6)]
    fig = plots.frames_figure(frames, labels, "xor on bucket (sim.bucket): accuracy 1")
    images = [ax.get_images()[0] for ax in fig.axes if ax.get_images()]
    assert len(images) == 6 and {im.get_clim() for im in images} == {images[0].get_clim()}
    assert [t for t in _titles(fig) if t.startswith("step")] == labels
    assert any(ax.get_ylabel().startswith("brightness") for ax in fig.axes), "a colour bar"
    # through write_plots: a frame stream's states are reshaped and titled with their inputs
    task = tasks.create("xor", n_train=20, n_test=20, washout=2)
    data = task.generate(0)
    states = [rng.uniform(0, 1, size=(ep.n_steps, 64)) for ep in data.train + data.test]
    readout = task.fit_readout(states[:1], data.train, data)
    result = {
        "task": "xor",
        "device": "bucket",
        "kind": "sim.bucket",
        "metric": "accuracy",
        "value": 0.5,
        "metrics": {"accuracy": 0.5},
    }
    paths = plots.write_plots(
        tmp_path,
        result=result,
        task=task,
        data=data,
        states_test=states[1:],
        readout=readout,
        frame_shape=(8, 8),
    )
    assert paths["frames"].exists()
    u, y = data.test[0].u, data.test[0].y
    figs = plots.figures(
        result=result,
        task=task,
        data=data,
        states_test=states[1:],
        readout=readout,
        frame_shape=(8, 8),
    )
    titles = [t for t in _titles(figs["frames"]) if t.startswith("step")]
    assert titles[1] == f"step 1: in ({u[1, 0]:g}, {u[1, 1]:g}) → {y[1, 0]:g}"
    # a sequence-classification run's frames name the sequence's class
    words = tasks.create("spoken_zero_one", n_bands=2)
    wd = words.generate(0)
    n_tr = len(wd.train)
    states = [rng.uniform(0, 1, size=(ep.n_steps, 64)) for ep in wd.train + wd.test]
    figs = plots.figures(
        result={**result, "task": "spoken_zero_one"},
        task=words,
        data=wd,
        states_test=states[n_tr:],
        readout=words.fit_readout(states[:n_tr], wd.train, wd),
        frame_shape=(8, 8),
    )
    name = wd.classes[wd.test[0].label]
    assert all(t.endswith(f"→ {name}") for t in _titles(figs["frames"]) if t.startswith("step"))
    assert {"states", "frames", "confusion"} == set(figs)
