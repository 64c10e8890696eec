"""Save and load readouts in a documented, versioned, pickle-free file.

Format ``physres.readout`` version 1: a ZIP archive (readable by ``np.load``
as an ``.npz``) holding

* ``header.json`` — UTF-8 JSON::

    {"format": "physres.readout", "format_version": 1,
     "class": "RidgeReadout", "physres_version": "0.1.0",
     "params": {...get_params()...},
     "n_features_in": 500, "feature_names": [...] | null,
     "units": {"features": "V", "targets": "a.u."} | null,
     "alpha": 1e-07, "washout": 200,
     "attrs": {scalar learned attributes, e.g. "y_ndim_": 1},
     "arrays": {"coef_": {"shape": [500], "dtype": "<f8", "sha256": "..."}, ...}}

* ``arrays/<name>.npy`` — one NumPy ``.npy`` per learned array, written and
  read with ``allow_pickle=False``. Nested learned objects are flattened with
  dots: ``stats_.xx`` (so a loaded ridge readout can keep ``partial_fit``-ing),
  ``cv_results_.mse``.

:func:`load_readout` refuses, with the reason, a file that is not a ZIP,
is truncated, fails a CRC or SHA-256 check, has an unknown format, version
or class, or whose arrays disagree with the header. Files are written to a
temporary name and renamed, so a crash never leaves half a file behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

import physres
from physres.errors import DataError
from physres.readout.classifier import RidgeClassifierReadout
from physres.readout.cv import RidgeCVReadout
from physres.readout.ridge import RidgeReadout
from physres.readout.rls import RLSReadout
from physres.readout.stats import SufficientStats

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ReadoutFileError",
    "load_readout",
    "read_header",
    "save_readout",
]

FORMAT = "physres.readout"
FORMAT_VERSION = 1
_HEADER = "header.json"
_CLASSES: dict[str, type] = {
    c.__name__: c for c in (RidgeReadout, RidgeCVReadout, RidgeClassifierReadout, RLSReadout)
}
_STATS_ARRAYS = ("shift_x", "shift_y", "sum_x", "sum_y", "xx", "xy", "yy")
_STATS_SCALARS = (
    "n_features", "n_targets", "center", "kappa_max", "n", "n_patched_columns", "n_explicit_chunks",
)


class ReadoutFileError(DataError):
    """A saved readout file is unreadable, damaged, or of an unknown format/version."""


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v


def _learned(est: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split the learned attributes (``name_``) into arrays and JSON scalars."""
    arrays: dict[str, np.ndarray] = {}
    attrs: dict[str, Any] = {}
    for name, v in vars(est).items():
        if not name.endswith("_") or name.startswith("_") or name == "feature_names_in_":
            continue
        if isinstance(v, SufficientStats):
            for a in _STATS_ARRAYS:
                arrays[f"{name}.{a}"] = getattr(v, a)
            attrs[name] = {a: _jsonable(getattr(v, a)) for a in _STATS_SCALARS}
        elif isinstance(v, dict):
            for k, a in v.items():
                arrays[f"{name}.{k}"] = np.asarray(a)
            attrs[name] = {"__dict__": sorted(v)}
        elif isinstance(v, np.ndarray):
            arrays[name] = v
        elif isinstance(v, (int, float, str, bool, np.integer, np.floating)):
            attrs[name] = _jsonable(v)
        else:
            raise DataError(f"save_readout: cannot store {type(est).__name__}.{name} ({type(v)})")
    for name, a in arrays.items():
        if a.dtype.hasobject:
            raise DataError(
                f"save_readout: {name} has dtype object, which needs pickle; "
                "use numeric or fixed-width string labels"
            )
    return arrays, attrs


def save_readout(
    est: Any,
    path: str | os.PathLike[str],
    *,
    feature_names: list[str] | None = None,
    units: dict[str, str] | None = None,
) -> Path:
    """Write a fitted readout to ``path`` (format above); returns the path."""
    cls = type(est).__name__
    if cls not in _CLASSES:
        raise DataError(f"save_readout: unknown readout class {cls}; known: {sorted(_CLASSES)}")
    if not hasattr(est, "coef_"):
        raise DataError(f"save_readout: {cls} is not fitted; call fit() first")
    if feature_names is None and hasattr(est, "feature_names_in_"):
        feature_names = [str(f) for f in est.feature_names_in_]
    if feature_names is not None and len(feature_names) != est.n_features_in_:
        raise DataError(
            f"save_readout: {len(feature_names)} feature names for {est.n_features_in_} features"
        )
    arrays, attrs = _learned(est)
    alpha = getattr(est, "alpha_", getattr(est, "alpha", None))
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": cls,
        "physres_version": physres.__version__,
        "params": {k: _jsonable(v) for k, v in est.get_params().items()},
        "n_features_in": int(est.n_features_in_),
        "feature_names": feature_names,
        "units": units,
        "alpha": _jsonable(alpha),
        "washout": int(est.washout),
        "attrs": attrs,
        "arrays": {},
    }
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            for name, a in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
                data = buf.getvalue()
                header["arrays"][name] = {
                    "shape": list(a.shape),
                    "dtype": a.dtype.str,
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
                zf.writestr(f"arrays/{name}.npy", data)
            zf.writestr(_HEADER, json.dumps(header, indent=1, allow_nan=True))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON header of a readout file, checked for format and version."""
    with _open(path) as zf:
        return _header(zf, path)


def _open(path: str | os.PathLike[str]) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path, "r")
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ReadoutFileError(
            f"{path}: not a readable physres readout file (truncated or not a ZIP): {e}"
        ) from e


def _header(zf: zipfile.ZipFile, path: Any) -> dict[str, Any]:
    try:
        raw = zf.read(_HEADER)
    except KeyError as e:
        raise ReadoutFileError(f"{path}: no {_HEADER}; not a physres readout file") from e
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ReadoutFileError(f"{path}: {_HEADER} is damaged: {e}") from e
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReadoutFileError(f"{path}: {_HEADER} is not valid JSON: {e}") from e
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        got = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise ReadoutFileError(f"{path}: format is {got!r}, expected {FORMAT!r}")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ReadoutFileError(
            f"{path}: format_version {version!r} is not supported; this physres "
            f"({physres.__version__}) reads version {FORMAT_VERSION}"
        )
    for key in ("class", "params", "arrays", "attrs", "n_features_in"):
        if key not in header:
            raise ReadoutFileError(f"{path}: header lacks {key!r}")
    return header


def _read_arrays(zf: zipfile.ZipFile, header: dict[str, Any], path: Any) -> dict[str, np.ndarray]:
    declared = header["arrays"]
    present = {n[len("arrays/") : -len(".npy")] for n in zf.namelist() if n.startswith("arrays/")}
    if present != set(declared):
        raise ReadoutFileError(
            f"{path}: arrays in file {sorted(present)} differ from header {sorted(declared)}"
        )
    out = {}
    for name, meta in declared.items():
        try:
            data = zf.read(f"arrays/{name}.npy")
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise ReadoutFileError(f"{path}: array {name!r} is damaged: {e}") from e
        if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            raise ReadoutFileError(f"{path}: array {name!r} fails its SHA-256 check")
        try:
            a = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        except ValueError as e:
            raise ReadoutFileError(f"{path}: array {name!r} is unreadable: {e}") from e
        if list(a.shape) != meta.get("shape") or a.dtype.str != meta.get("dtype"):
            raise ReadoutFileError(
                f"{path}: array {name!r} is {a.dtype.str}{list(a.shape)}, header says "
                f"{meta.get('dtype')}{meta.get('shape')}"
            )
        out[name] = a
    return out


def load_readout(path: str | os.PathLike[str]) -> Any:
    """Rebuild the readout saved at ``path``; refuses a bad file with :class:`ReadoutFileError`."""
    with _open(path) as zf:
        header = _header(zf, path)
        arrays = _read_arrays(zf, header, path)
    cls = _CLASSES.get(header["class"])
    if cls is None:
        raise ReadoutFileError(
            f"{path}: unknown class {header['class']!r}; known: {sorted(_CLASSES)}"
        )
    try:
        est = cls(**header["params"])
    except TypeError as e:
        raise ReadoutFileError(f"{path}: params do not fit {cls.__name__}: {e}") from e
    for name, v in header["attrs"].items():
        if isinstance(v, dict) and "__dict__" in v:
            setattr(est, name, {k: arrays.pop(f"{name}.{k}") for k in v["__dict__"]})
        elif isinstance(v, dict):
            st = SufficientStats(
                v["n_features"], v["n_targets"], center=v["center"], kappa_max=v["kappa_max"]
            )
            for a in _STATS_ARRAYS:
                setattr(st, a, arrays.pop(f"{name}.{a}"))
            st.n, st.n_patched_columns = int(v["n"]), int(v["n_patched_columns"])
            st.n_explicit_chunks = int(v["n_explicit_chunks"])
            setattr(est, name, st)
        else:
            setattr(est, name, v)
    for name, a in arrays.items():
        if "." in name:
            raise ReadoutFileError(f"{path}: array {name!r} belongs to no declared attribute")
        setattr(est, name, a)
    coef = getattr(est, "coef_", None)
    if coef is None or coef.shape[-1] != header["n_features_in"]:
        raise ReadoutFileError(
            f"{path}: coef_ shape {None if coef is None else coef.shape} does not match "
            f"n_features_in={header['n_features_in']}"
        )
    return est
