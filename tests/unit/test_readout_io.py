"""Saved readouts: a documented, versioned, pickle-free file that refuses damage.

Every readout class round-trips to identical predictions (and a ridge
readout keeps training after loading); the header carries what a person
needs to use the file later; and a truncated, corrupted, foreign or
future-version file is refused with the reason.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import physres
from physres.errors import DataError
from physres.readout import (
    FORMAT_VERSION,
    ReadoutFileError,
    RidgeClassifierReadout,
    RidgeCVReadout,
    RidgeReadout,
    RLSReadout,
    load_readout,
    read_header,
    save_readout,
)


def data(n: int = 300, p: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    return X, X @ rng.standard_normal((p, 2)) + 0.1 * rng.standard_normal((n, 2))


FITTED = {
    "ridge": lambda X, y: RidgeReadout(alpha=0.3, washout=5).fit(X, y),
    "ridge_1d": lambda X, y: RidgeReadout(fit_intercept=False).fit(X, y[:, 0]),
    "cv": lambda X, y: RidgeCVReadout(alphas=np.logspace(-3, 2, 6), n_folds=3).fit(X, y),
    "classifier": lambda X, y: RidgeClassifierReadout().fit(X, np.where(y[:, 0] > 0, "up", "dn")),
    "rls": lambda X, y: RLSReadout(alpha=2.0, forgetting=0.999).fit(X, y),
}


@pytest.mark.parametrize("kind", sorted(FITTED))
def test_round_trip_gives_identical_predictions(kind: str, tmp_path: Path) -> None:
    X, y = data()
    est = FITTED[kind](X, y)
    path = save_readout(est, tmp_path / "readout.npz")
    back = load_readout(path)
    assert type(back) is type(est)
    if kind == "cv":
        np.testing.assert_array_equal(back.alphas, est.alphas)
    else:
        assert back.get_params() == est.get_params()
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    if kind == "cv":
        assert back.alpha_ == est.alpha_
        np.testing.assert_array_equal(back.cv_results_["mse"], est.cv_results_["mse"])


def test_loaded_ridge_keeps_training_where_it_stopped(tmp_path: Path) -> None:
    X, y = data(600)
    first = RidgeReadout(alpha=0.3).partial_fit(X[:300], y[:300])
    back = load_readout(save_readout(first, tmp_path / "r.npz"))
    back.partial_fit(X[300:], y[300:])
    whole = RidgeReadout(alpha=0.3).fit(X, y)
    np.testing.assert_allclose(back.predict(X), whole.predict(X), atol=1e-10)


def test_loaded_rls_continues_online(tmp_path: Path) -> None:
    X, y = data(400)
    first = RLSReadout().fit(X[:200], y[:200])
    back = load_readout(save_readout(first, tmp_path / "rls.npz"))
    back.partial_fit(X[200:], y[200:])
    whole = RLSReadout().fit(X, y)
    np.testing.assert_allclose(back.coef_, whole.coef_, atol=1e-12)


def test_header_is_plain_json_with_names_units_and_versions(tmp_path: Path) -> None:
    X, y = data()
    est = RidgeReadout(alpha=0.3, washout=5).fit(X, y)
    names = [f"unit{i}" for i in range(6)]
    path = save_readout(est, tmp_path / "r.npz", feature_names=names,
                        units={"features": "a.u.", "targets": "V"})
    header = read_header(path)
    assert header["format"] == "physres.readout"
    assert header["format_version"] == FORMAT_VERSION
    assert header["class"] == "RidgeReadout"
    assert header["physres_version"] == physres.__version__
    assert header["feature_names"] == names
    assert header["units"] == {"features": "a.u.", "targets": "V"}
    assert header["alpha"] == 0.3 and header["washout"] == 5
    assert header["arrays"]["coef_"]["shape"] == [2, 6]
    # readable without physres: a standard npz whose members are plain .npy
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["arrays/coef_"], est.coef_)


def _rewrite(path: Path, out: Path, *, header: dict | None = None, drop: str | None = None,
             replace: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            if item.filename == drop:
                continue
            payload = src.read(item.filename)
            if item.filename == "header.json" and header is not None:
                payload = json.dumps(header).encode()
            if replace and item.filename in replace:
                payload = replace[item.filename]
            dst.writestr(item.filename, payload)
    return out


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    X, y = data()
    return save_readout(RidgeReadout().fit(X, y), tmp_path / "good.npz")


def test_truncated_file_is_refused(saved: Path, tmp_path: Path) -> None:
    bad = tmp_path / "cut.npz"
    bad.write_bytes(saved.read_bytes()[:-200])
    with pytest.raises(ReadoutFileError, match="truncated or not a ZIP"):
        load_readout(bad)


def test_flipped_byte_in_an_array_is_refused(saved: Path, tmp_path: Path) -> None:
    raw = bytearray(saved.read_bytes())
    # flip a byte inside the stored coef_ payload (ZIP_STORED keeps it verbatim)
    with zipfile.ZipFile(saved) as zf:
        info = zf.getinfo("arrays/coef_.npy")
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.file_size - 3
    raw[offset] ^= 0xFF
    bad = tmp_path / "flip.npz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ReadoutFileError, match=r"coef_.*(damaged|SHA-256)"):
        load_readout(bad)


def test_tampered_array_fails_its_checksum(saved: Path, tmp_path: Path) -> None:
    import io as _io

    buf = _io.BytesIO()
    np.save(buf, np.zeros((2, 6)))
    bad = _rewrite(saved, tmp_path / "t.npz", replace={"arrays/coef_.npy": buf.getvalue()})
    with pytest.raises(ReadoutFileError, match="fails its SHA-256 check"):
        load_readout(bad)


def test_newer_format_version_is_refused_with_both_versions(saved: Path, tmp_path: Path) -> None:
    header = read_header(saved)
    header["format_version"] = FORMAT_VERSION + 1
    bad = _rewrite(saved, tmp_path / "v.npz", header=header)
    with pytest.raises(ReadoutFileError, match=rf"format_version {FORMAT_VERSION + 1} is not"):
        load_readout(bad)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda h: h.update(format="something.else"), "format is 'something.else'"),
        (lambda h: h.update({"class": "Pickled"}), "unknown class 'Pickled'"),
        (lambda h: h["arrays"]["coef_"].update(shape=[3, 3]), "header says"),
        (lambda h: h.pop("params"), "header lacks 'params'"),
    ],
)
def test_inconsistent_headers_are_refused(saved: Path, tmp_path: Path, edit, message) -> None:
    header = read_header(saved)
    edit(header)
    bad = _rewrite(saved, tmp_path / "h.npz", header=header)
    with pytest.raises(ReadoutFileError, match=message):
        load_readout(bad)


def test_missing_array_and_foreign_files_are_refused(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(ReadoutFileError, match="differ from header"):
        load_readout(_rewrite(saved, tmp_path / "m.npz", drop="arrays/coef_.npy"))
    foreign = tmp_path / "plain.npz"
    np.savez(foreign, a=np.ones(3))
    with pytest.raises(ReadoutFileError, match="no header.json"):
        load_readout(foreign)
    text = tmp_path / "notes.txt"
    text.write_text("not a readout")
    with pytest.raises(ReadoutFileError, match="not a readable physres readout file"):
        load_readout(text)


def test_unfitted_readout_is_not_saved(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not fitted"):
        save_readout(RidgeReadout(), tmp_path / "x.npz")
