"""Any time-series file as a task: readers, splits, scaling, errors, module:Class tasks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from physres import tasks
from physres.config import load_config
from physres.errors import ConfigError, DataError
from physres.tasks.files import read_csv, read_npz, read_ts

TS = """# a comment
@problemName tiny
@timeStamps false
@univariate false
@dimensions 2
@equalLength false
@classLabel true a b
@data
0.1,0.2,0.3:1,2,3:a
0.4,0.5:4,5:b
"""


def _csv(path: Path, n_per_class: int = 6, groups: int = 3, seed: int = 0) -> Path:
    """Two classes (a slow / a fast sine), variable lengths, a group column."""
    rng = np.random.default_rng(seed)
    lines = ["sequence,time,x0,x1,label,group"]
    for s in range(2 * n_per_class):
        label = "slow" if s % 2 == 0 else "fast"
        t = np.arange(int(rng.integers(8, 14)))
        f = 0.2 if label == "slow" else 0.9
        for k in t:
            lines.append(
                f"s{s},{k},{np.sin(f * k):.4f},{5 + 3 * np.cos(f * k):.4f},{label},g{s % groups}"
            )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ts_reader_reads_header_variable_lengths_and_labels(tmp_path: Path) -> None:
    p = tmp_path / "tiny.ts"
    p.write_text(TS)
    s = read_ts(p)
    assert [x.shape for x in s.inputs] == [(3, 2), (2, 2)]
    assert s.inputs[0][:, 1].tolist() == [1.0, 2.0, 3.0]
    assert s.labels == ["a", "b"] and s.classes == ("a", "b")
    assert s.meta["problemname"] == "tiny"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("0.1,0.2:1,2,3:a", r"tiny\.ts:11: dimensions have different lengths \[2, 3\] \(ragged"),
        ("0.1,0.2:1,2:c", r"tiny\.ts:11: label 'c' is not one of @classLabel"),
        ("0.1,0.2:1,2:", r"tiny\.ts:11: the sequence has no label"),
        ("0.1,x:1,2:a", r"tiny\.ts:11: dimension 0 holds a value that is not a number"),
        ("0.1,NaN:1,2:a", r"tiny\.ts:11: missing or non-finite values"),
        ("0.1,0.2:a", r"tiny\.ts:11: 1 dimensions, the file declares 2"),
    ],
)
def test_ts_reader_names_file_and_line_of_bad_rows(tmp_path: Path, bad: str, message: str) -> None:
    p = tmp_path / "tiny.ts"
    p.write_text(TS + bad + "\n")
    with pytest.raises(DataError, match=message):
        read_ts(p)


def test_japanese_vowels_ships_with_the_published_split() -> None:
    data = tasks.create("japanese_vowels").generate(0)
    assert (len(data.train), len(data.test), data.n_inputs) == (270, 370, 12)
    assert data.classes == tuple("123456789") and data.problem == "classification"
    lengths = [ep.n_steps for ep in data.train + data.test]
    assert (min(lengths), max(lengths)) == (7, 29)
    assert np.bincount([ep.label for ep in data.train]).tolist() == [30] * 9
    u = np.concatenate([ep.u for ep in data.train])  # minmax on train: exactly [-1, 1]
    assert np.allclose(u.min(axis=0), -1) and np.allclose(u.max(axis=0), 1)


def test_csv_group_split_holds_out_whole_groups_and_scales_on_train_only(tmp_path: Path) -> None:
    p = _csv(tmp_path / "lab.csv")
    task = tasks.create(
        "dataset",
        path=str(p),
        split="group",
        test_groups=["g2"],
        inputs=["x1"],
        normalise="zscore",
        clip=False,
    )
    data = task.generate(0)
    assert {ep.meta["group"] for ep in data.test} == {"g2"}
    assert "g2" not in {ep.meta["group"] for ep in data.train}
    assert data.n_inputs == 1 and data.classes == ("fast", "slow")
    raw = read_csv(p)  # x1 is the second input column, around 5 before scaling
    x1 = [x[:, 1] for x in raw.inputs]
    train_raw = np.concatenate([x for x, g in zip(x1, raw.groups) if g != "g2"])
    test_raw = np.concatenate([x for x, g in zip(x1, raw.groups) if g == "g2"])
    mu, sd = train_raw.mean(), train_raw.std()  # fitted on the training split only
    assert np.allclose(np.concatenate([ep.u[:, 0] for ep in data.test]), (test_raw - mu) / sd)
    clipped = tasks.create(
        "dataset", path=str(p), split="group", test_groups=["g2"], normalise="zscore"
    ).generate(0)
    assert max(np.abs(ep.u).max() for ep in clipped.train + clipped.test) <= 1.0


def test_stratified_split_is_seeded_and_keeps_every_class(tmp_path: Path) -> None:
    p = _csv(tmp_path / "lab.csv")
    a = tasks.create("dataset", path=str(p), split="stratified", test_fraction=0.34)
    d0, d0b, d1 = a.generate(0), a.generate(0), a.generate(1)
    idx = lambda d: sorted(ep.u.sum() for ep in d.test)
    assert idx(d0) == idx(d0b) and idx(d0) != idx(d1)
    assert sorted(ep.label for ep in d0.test) == [0, 0, 1, 1]


def test_dataset_task_classifies_csv_sequences_from_raw_inputs(tmp_path: Path) -> None:
    task = tasks.create("dataset", path=str(_csv(tmp_path / "lab.csv")), split="stratified")
    data = task.generate(0)
    feats = [{"kind": "pool", "params": {"how": "stats"}}]
    m = task.evaluate(
        [ep.u for ep in data.train],
        data.train,
        [ep.u for ep in data.test],
        data.test,
        data,
        pipeline=task.pipeline(data, [ep.u for ep in data.train], features=feats),
    )
    assert m["accuracy"] == 1.0  # std of a fast vs a slow sine separates them


def test_regression_from_npz_with_a_tail_split(tmp_path: Path) -> None:
    t = np.arange(400)
    u = np.sin(0.1 * t)[:, None]
    y = np.roll(u, 3)  # predict the input three steps back
    np.savez(tmp_path / "s.npz", inputs=u, targets=y)
    task = tasks.create(
        "dataset", path=str(tmp_path / "s.npz"), problem="regression", split="tail", washout=5
    )
    assert task.metric == "nrmse" and not task.higher_is_better
    data = task.generate(0)
    assert (len(data.train), data.test[0].n_steps) == (1, 100)
    m = task.evaluate(
        [ep.u for ep in data.train], data.train, [ep.u for ep in data.test], data.test, data
    )
    assert m["nrmse"] > 0.05  # one sine sample cannot give the lagged value: honest, not leaked


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace("s3,4,", "s3,4,,", 1), r"lab\.csv:\d+: 7 fields, the header has 6"),
        (lambda s: s.replace(",fast,g1", ",,g1", 1), r"lab\.csv:\d+: sequence 's1' has no label"),
        (
            lambda s: s.replace("slow,g0", "fast,g0", 1),
            r"lab\.csv:\d+: sequence 's0' changes label",
        ),
    ],
    ids=["ragged", "label-missing", "label-changes"],
)
def test_bad_csv_rows_are_refused_naming_file_and_line(tmp_path: Path, edit, message) -> None:
    p = _csv(tmp_path / "lab.csv")
    p.write_text(edit(p.read_text()))
    with pytest.raises(DataError, match=message):
        tasks.create("dataset", path=str(p), split="stratified").generate(0)


def test_a_split_that_leaves_a_class_without_training_data_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "lab.csv"
    p.write_text("sequence,x,label,group\na,1,up,g0\na,2,up,g0\nb,1,down,g1\nb,0,down,g1\n")
    task = tasks.create("dataset", path=str(p), split="group", test_groups=["g1"])
    with pytest.raises(DataError, match=r"lab\.csv: the group split leaves class\(es\) \['down'\]"):
        task.generate(0)


def test_npz_missing_label_and_bad_params_are_named(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", inputs=np.zeros((2, 5, 1)), labels=np.array(["a", ""]))
    with pytest.raises(DataError, match=r"x\.npz: key 'labels'\[1\] is missing"):
        read_npz(tmp_path / "x.npz")
    with pytest.raises(ConfigError, match="split 'given' needs test_path"):
        tasks.create("dataset", path="x.csv")
    with pytest.raises(ConfigError, match="test_path is set but path is not"):
        tasks.create("dataset", test_path="x.csv")
    with pytest.raises(ConfigError, match=r"nope\.csv: no such data file"):
        tasks.create("dataset", path=str(tmp_path / "nope.csv"), split="tail")


def test_pool_stats_gives_mean_std_first_last() -> None:
    from physres.readout.stages import PoolSequences

    x = np.array([[1.0, 0.0], [2.0, 0.0], [6.0, 3.0]])
    row = PoolSequences(how="stats", skip=1).fit_transform([x])[0]
    assert row.tolist() == [[4.0, 1.5, 2.0, 1.5, 2.0, 0.0, 6.0, 3.0]]


class TwoSines(tasks.SequenceClassificationTask):
    """A task defined outside physres, named by its module:Class path."""

    name = "two_sines"

    def generate(self, seed: int = 0) -> tasks.TaskData:
        rng = np.random.default_rng(seed)
        eps = [
            tasks.Episode(u=np.sin((0.2 + 0.7 * c) * np.arange(10) + rng.uniform())[:, None], y=c)
            for c in (0, 1) * 6
        ]
        return tasks.TaskData(eps[:8], eps[8:], 0, 1, 1, problem="classification")


def test_a_task_class_in_any_module_runs_by_its_path(tmp_path: Path) -> None:
    path = f"{__name__}:TwoSines"
    assert isinstance(tasks.create(path), TwoSines)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"devices:\n  esn: {{kind: sim.esn}}\ntask:\n  kind: '{path}'\n")
    assert load_config(cfg).task.kind == path  # `physres check` accepts it
    from physres.tasks.bench import run_task

    rows = run_task("sim.esn", path, device_params={"n_units": 20})  # `physres bench` too
    assert rows[0]["metric"] == "accuracy"
    with pytest.raises(ConfigError, match="no 'Nope'"):
        tasks.create(f"{__name__}:Nope")
    with pytest.raises(ConfigError, match="not a physres.tasks.Task subclass"):
        tasks.create(f"{__name__}:_csv")
    with pytest.raises(ConfigError, match="unknown task 'not a path'"):
        tasks.create("not a path")


def test_bench_tasks_takes_a_path_on_its_command_line_and_names_a_misspelt_task(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`physres bench tasks --task` used argparse choices: no path, no nearest name."""
    from physres.cli import build_parser

    path = f"{__name__}:TwoSines"
    args = build_parser().parse_args(["bench", "tasks", "--task", path, "--task", "xor"])
    assert args.task == [path, "xor"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "tasks", "--task", "narma01"])
    assert "did you mean 'narma10'?" in capsys.readouterr().err


def test_japanese_vowels_on_the_esn_reaches_the_published_figure(tmp_path: Path) -> None:
    """examples/esn_japanese_vowels.yaml: last-state readout, 98-99 % published (Jaeger 2007)."""
    import json

    from physres.cli import main

    example = Path(__file__).resolve().parents[2] / "examples" / "esn_japanese_vowels.yaml"
    assert main(["run", str(example), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert m["accuracy"] >= 0.98 and m["control_raw_input_accuracy"] < m["accuracy"] - 0.03


@pytest.mark.slow
def test_japanese_vowels_through_the_water_beats_its_raw_inputs(tmp_path: Path) -> None:
    """examples/bucket_japanese_vowels.yaml (~25 s on 2 cores): 94.3 % vs raw 84.3 %."""
    import json

    from physres.cli import main

    example = Path(__file__).resolve().parents[2] / "examples" / "bucket_japanese_vowels.yaml"
    assert main(["run", str(example), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert m["accuracy"] >= 0.9 and m["accuracy"] > m["control_raw_input_accuracy"] + 0.05
