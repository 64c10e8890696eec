"""States measured elsewhere become state matrices that the run's readouts and metrics score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from physres.errors import DataError
from physres.tasks.measured import evaluate_states, read_sample_files, read_state_file


def _recording(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 'measured' nonlinear response to a random drive, and the drive's square as target."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1, 1, n)
    states = np.stack([np.tanh(u * g + b) for g, b in [(1, 0), (2, 0.5), (0.5, -0.3), (3, 1)]], 1)
    return np.arange(n) * 0.01, states, u**2


def _csv(path: Path, t: np.ndarray, s: np.ndarray, y: np.ndarray) -> Path:
    head = "time," + ",".join(f"ch{i}" for i in range(s.shape[1])) + ",target"
    body = [",".join(f"{v:.6f}" for v in (ti, *si, yi)) for ti, si, yi in zip(t, s, y)]
    path.write_text("\n".join([head, *body]) + "\n")
    return path


def test_a_csv_recording_goes_through_the_same_readout_and_metric(tmp_path: Path) -> None:
    f = read_state_file(_csv(tmp_path / "rec.csv", *_recording()))
    assert f.states.shape == (600, 4) and f.targets.shape == (600, 1)
    train, test = f.split(0.25)
    m = evaluate_states([train], [test], alpha=1e-6)
    assert m["nrmse"] < 0.5  # well below 1.0 (the mean): the measured states carry u**2
    pooled = evaluate_states(
        [train], [test], features=[{"kind": "delay", "params": {"delays": 2}}], washout=2
    )
    assert np.isfinite(pooled["nrmse"])


def test_npy_npz_and_hdf5_layouts_read_alike(tmp_path: Path) -> None:
    t, s, y = _recording(50)
    np.save(tmp_path / "a.npy", np.column_stack([t, s, y]))
    a = read_state_file(tmp_path / "a.npy", time=0, target=[5])
    np.savez(tmp_path / "b.npz", states=s, time=t, targets=y)
    b = read_state_file(tmp_path / "b.npz")
    assert (
        np.allclose(a.states, s) and np.allclose(b.states, s) and np.allclose(a.targets, b.targets)
    )
    h5py = pytest.importorskip("h5py", reason="h5py not installed: HDF5 state files untested")
    with h5py.File(tmp_path / "c.h5", "w") as h:
        h["states"], h["time"], h["targets"] = s, t, y
    assert np.allclose(read_state_file(tmp_path / "c.h5").states, s)


def test_one_file_per_input_sample_stacks_rows(tmp_path: Path) -> None:
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"sample{i}.csv")
        np.savetxt(paths[-1], np.linspace(0, i, 10), delimiter=",")
    f = read_sample_files(paths, targets=[0, 1, 2, 3])
    assert f.states.shape == (4, 10) and f.targets.ravel().tolist() == [0, 1, 2, 3]
    np.savetxt(paths[2], np.zeros(11), delimiter=",")
    with pytest.raises(DataError, match=r"sample2\.csv: 11 values, .*sample0\.csv has 10"):
        read_sample_files(paths)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s, t, y: (s, t[::-1].copy(), y), r"rec\.csv: line 3: time 5\.98 goes backwards"),
        (
            lambda s, t, y: (np.where(np.arange(600)[:, None] // 1 == 7, np.nan, s), t, y),
            r"rec\.csv: column 'ch0' is NaN or infinite on rows 9-9",
        ),
    ],
    ids=["time-backwards", "nan-run"],
)
def test_bad_csv_recordings_are_refused_naming_the_place(tmp_path: Path, edit, message) -> None:
    t, s, y = _recording()
    s, t, y = edit(s, t, y)
    with pytest.raises(DataError, match=message):
        read_state_file(_csv(tmp_path / "rec.csv", t, s, y))


def test_nan_run_and_length_mismatch_in_keyed_files(tmp_path: Path) -> None:
    t, s, y = _recording(50)
    s[10:14, 2] = np.nan
    np.savez(tmp_path / "n.npz", states=s, time=t)
    with pytest.raises(
        DataError, match=r"n\.npz: key 'states': column '2' .* rows 10-13 \(4 in a run\)"
    ):
        read_state_file(tmp_path / "n.npz")
    np.savez(tmp_path / "m.npz", states=s[:40], targets=y)
    with pytest.raises(DataError, match=r"m\.npz: key 'targets' has 50 rows, key 'states' has 40"):
        read_state_file(tmp_path / "m.npz")


def test_labelled_recordings_are_scored_as_sequence_classification(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    files = []
    for i in range(16):
        label = ("low", "high")[i % 2]
        s = rng.normal(0.0, 1.0 if label == "low" else 3.0, (20 + i, 3))
        np.savez(tmp_path / f"r{i}.npz", states=s, labels=np.array(label))
        files.append(read_state_file(tmp_path / f"r{i}.npz"))
    assert files[1].label == "high" and files[1].states.shape == (21, 3)
    m = evaluate_states(
        files[:12],
        files[12:],
        problem="classification",
        features=[{"kind": "pool", "params": {"how": "stats"}}],
    )
    assert m["accuracy"] == 1.0 and m["chance"] == 0.5  # the std column separates them
