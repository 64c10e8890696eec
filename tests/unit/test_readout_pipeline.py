"""Config-chosen pipelines: stages by name, the task's readout by default, each fitted once."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from physres import registry, tasks
from physres.config import parse_config
from physres.errors import ConfigError, DataError
from physres.experiments.protocol import run_protocol
from physres.readout import RidgeClassifierReadout, RidgeCVReadout, RidgeReadout
from physres.readout.features import EventWindow, FrameFeatures
from physres.readout.pipeline import build_pipeline, make_stage, stage_names
from physres.readout.stages import DelayFeatures, EventFeatures, Flatten, PoolSequences

EVENT = np.dtype([("t_ns", "<i8"), ("channel", "<i2")])


def test_stages_and_readouts_are_built_by_name_with_the_task_washout() -> None:
    pipe = build_pipeline(
        [{"kind": "delay", "params": {"delays": 3}}],
        {"kind": "ridge_cv", "params": {"n_folds": 3}},
        default_readout=("ridge", {"alpha": 1e-6, "washout": 9}),
        washout=9,
    )
    assert isinstance(pipe, Pipeline)
    assert isinstance(pipe[0], DelayFeatures) and isinstance(pipe[-1], RidgeCVReadout)
    assert pipe[-1].washout == 9 and pipe[-1].n_folds == 3  # not the ridge's alpha
    same_kind = build_pipeline(
        [],
        {"kind": "ridge", "params": {"alpha": 5.0}},
        default_readout=("ridge", {"alpha": 1e-6, "washout": 9}),
        washout=9,
    )
    assert isinstance(same_kind[-1], RidgeReadout)
    assert same_kind[-1].alpha == 5.0 and same_kind[-1].washout == 9
    assert {"frame", "events", "delay", "pool", "flatten"} <= set(stage_names())
    assert {"ridge", "ridge_cv", "classifier", "rls"} <= set(stage_names("readout"))


def test_unknown_stages_and_parameters_name_what_is_valid() -> None:
    with pytest.raises(ConfigError, match=r"unknown feature stage 'fft'; known .*delay"):
        make_stage("fft")
    with pytest.raises(ConfigError, match=r"did you mean 'events'\?"):
        make_stage("evnts")  # the same registry as kinds and tasks: the nearest name
    with pytest.raises(
        ConfigError,
        match=r"readout 'ridge': unknown parameter\(s\) \['lam'\]; "
        r"its parameters are \[.*'alpha'",
    ):
        make_stage("ridge", {"lam": 1}, role="readout")


def test_config_sections_choose_the_pipeline_and_errors_name_the_line() -> None:
    text = (
        "devices:\n  esn: {kind: sim.esn}\ntask: {kind: xor}\n"
        "features:\n  - {kind: delay, params: {delays: 2}}\n"
        "readout:\n  kind: rls\n  params: {forgetting: 1.0}\n"
    )
    cfg = parse_config(text, "p.yaml")
    assert [f.kind for f in cfg.features] == ["delay"] and cfg.readout.kind == "rls"
    with pytest.raises(ConfigError, match=r"p.yaml:5: features.0: unknown feature stage 'dela'"):
        parse_config(text.replace("kind: delay", "kind: dela"), "p.yaml")
    with pytest.raises(ConfigError, match=r"p.yaml:6: readout: readout 'rls': unknown param"):
        parse_config(text.replace("forgetting", "forget"), "p.yaml")


def _narma_on_esn(**kw: object) -> tuple:
    task = tasks.create("narma10", n_train=400, n_test=200, washout=50)
    data = task.generate(0)
    with registry.create("sim.esn", params={"n_units": 30}) as dev:
        res = run_protocol(dev, task, data, **kw)  # type: ignore[arg-type]
    return res, data


def test_the_readout_is_fitted_once_and_counts_name_sequences_and_samples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """run_protocol used to fit in task.evaluate and again in task.fit_readout."""
    fits: list[int] = []
    real = RidgeReadout.fit

    def counting(self: RidgeReadout, X: object, y: object) -> RidgeReadout:
        fits.append(id(self))
        return real(self, X, y)

    monkeypatch.setattr(RidgeReadout, "fit", counting)
    res, _ = _narma_on_esn(control=False)
    assert len(fits) == 1 and fits[0] == id(res.readout[-1])
    assert res.counts == {
        "n_train_sequences": 1,
        "n_train_samples": 450,
        "n_train_scored_samples": 400,
        "n_test_sequences": 1,
        "n_test_samples": 250,
        "n_test_scored_samples": 200,
        "washout_samples": 50,
    }
    pred = tasks.create("narma10").predict(res.readout, res.states_test)[0]
    assert pred.shape == (250, 1)  # the fitted pipeline predicts every test step
    fits.clear()
    _narma_on_esn(control=True)
    assert len(fits) == 2  # the substrate's pipeline and the raw-input control's, once each


def test_a_config_readout_and_delay_stage_change_what_is_fitted() -> None:
    res, _ = _narma_on_esn(
        features=[{"kind": "delay", "params": {"delays": [0, 1]}}],
        readout={"kind": "ridge_cv", "params": {"n_folds": 3}},
    )
    assert isinstance(res.readout[0], DelayFeatures)
    assert isinstance(res.readout[-1], RidgeCVReadout) and res.readout[-1].n_features_in_ == 60
    assert np.isfinite(res.metrics["nrmse"]) and res.metrics["nrmse"] < 1.0
    # the control keeps row stages: the raw input with one delay is 2 features
    assert "control_raw_input_nrmse" in res.metrics


def test_frames_are_flattened_unless_a_frame_stage_reads_them() -> None:
    task = tasks.create("xor", n_train=60, n_test=30, washout=2, delay=0)
    data = task.generate(0)
    rng = np.random.default_rng(0)

    def frames(eps: list) -> list[np.ndarray]:
        return [rng.integers(0, 255, (e.n_steps, 8, 6)).astype(np.float64) for e in eps]

    tr, te = frames(data.train), frames(data.test)
    plain = task.pipeline(data, tr)
    assert isinstance(plain[0], Flatten)
    task.evaluate(tr, data.train, te, data.test, data, pipeline=plain)
    assert plain[-1].n_features_in_ == 48
    staged = task.pipeline(data, tr, features=[{"kind": "frame", "params": {"size": (2, 3)}}])
    assert isinstance(staged[0], FrameFeatures) and len(staged) == 2
    task.evaluate(tr, data.train, te, data.test, data, pipeline=staged)
    assert staged[-1].n_features_in_ == 6


def test_pooling_stage_gives_one_row_per_sequence_after_the_washout() -> None:
    task = tasks.create("spoken_zero_one", n_bands=2, washout=3)
    data = task.generate(0)
    pipe = task.pipeline(
        data, [ep.u for ep in data.train], features=[{"kind": "pool", "params": {"how": "last"}}]
    )
    assert isinstance(pipe[0], PoolSequences) and pipe[0].skip == 3
    assert isinstance(pipe[-1], RidgeClassifierReadout) and pipe[-1].washout == 0
    rows = pipe[0].fit_transform([np.arange(10.0).reshape(5, 2)])
    np.testing.assert_array_equal(rows[0], [[8.0, 9.0]])
    m = task.evaluate(
        [ep.u for ep in data.train],
        data.train,
        [ep.u for ep in data.test],
        data.test,
        data,
        pipeline=pipe,
    )
    assert 0.0 <= m["accuracy"] <= 1.0 and pipe[-1].stats_.n == len(data.train)


def test_event_windows_are_binned_per_task_step_and_traced() -> None:
    ev = np.array([(1_000, 0), (4_999, 1), (5_000, 1), (12_000, 0), (99_000, 0)], dtype=EVENT)
    win = EventWindow(ev, t0_ns=1_000, step_ns=4_000, n_steps=3, n_channels=2)
    counts = EventFeatures().fit([win]).transform([win])[0]
    # steps [1000,5000) [5000,9000) [9000,13000); 99,000 lies after the episode
    np.testing.assert_array_equal(counts, [[1, 1], [0, 1], [1, 0]])
    traced = EventFeatures(tau=[1.0, 4.0]).fit([win]).transform(win)
    d = np.exp(-1.0)
    np.testing.assert_allclose(traced[:, 0], [1, d, d * d + 1])
    assert traced.shape == (3, 4)
    inferred = EventFeatures().fit([EventWindow(ev, 1_000, 4_000, 3)])
    assert inferred.n_channels_ == 2  # one more than the largest channel seen
    with pytest.raises(DataError, match="expected EventWindow episodes"):
        EventFeatures().fit([np.zeros((3, 2))])
    with pytest.raises(DataError, match="tau must be > 0"):
        EventFeatures(tau=0).fit([win])


def test_misspelt_stage_and_readout_names_get_the_nearest_one() -> None:
    with pytest.raises(ConfigError, match=r"readout 'classifer'.*mean 'classifier'\?"):
        make_stage("classifer", role="readout")
    with pytest.raises(ConfigError, match=r"stage 'evnts'.*mean 'events'\?"):
        make_stage("evnts")
    with pytest.raises(ConfigError, match=r"\['tua'\].*did you mean 'tau'\?"):
        make_stage("events", {"tua": 1.0})


def test_stage_values_are_refused_when_the_config_is_read_not_after_the_drive() -> None:
    text = (
        "devices:\n  l: {kind: sim.lsm}\ntask: {kind: xor}\n"
        "features:\n  - {kind: events, params: {tau: -1}}\n"
    )
    with pytest.raises(ConfigError, match=r"p.yaml:5: features.0: .*tau must be > 0"):
        parse_config(text, "p.yaml")


@pytest.mark.parametrize(
    ("kind", "stage", "match"),
    [
        ("sim.esn", "{kind: events}", r"'events' reads an event stream.*'state'"),
        ("sim.esn", "{kind: frame}", r"'frame' reads image frames.*'state'"),
        ("sim.lsm", "{kind: frame}", r"'frame' reads image frames.*'spikes'"),
        ("sim.lsm", "{kind: delay, params: {delays: 2}}\n  - {kind: events}", r"'events' must "),
    ],
)
def test_a_stage_that_cannot_read_the_device_stream_is_refused_before_any_run_folder(
    tmp_path, kind: str, stage: str, match: str
) -> None:
    from physres.experiments.run import run_experiment

    text = (
        f"devices:\n  d: {{kind: {kind}}}\n"
        "task: {kind: xor, params: {n_train: 60, n_test: 30}}\n"
        f"features:\n  - {stage}\ndrive: {{via: local}}\nrecord: {{enabled: false}}\n"
    )
    cfg = parse_config(text, "p.yaml")
    with pytest.raises(ConfigError, match=match):
        run_experiment(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
