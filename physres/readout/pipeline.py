"""Device streams → predictions as one scikit-learn ``Pipeline`` of named stages.

A run config's ``features:`` list and ``readout:`` section name stages from
the tables below; each is imported only when a config uses it. Tasks no
longer own a readout: they say which one they are scored with by default
(:meth:`physres.tasks.Task.readout_spec`) and a config may choose another.

Stages are fitted exactly once per run by :func:`fit_pipeline`: features are
computed once on the training episodes, the readout is fitted on them, and
the same feature rows serve the training score.

Both tables are :class:`physres.registry.Registry` instances, like the
device kinds and tasks: lazy ``name → "module:attr"`` maps with nearest-name
suggestions; other packages add stages through the ``physres.features`` and
``physres.readouts`` entry-point groups.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from physres.errors import ConfigError
from physres.registry import Registry

__all__ = [
    "FEATURE_STAGES",
    "READOUTS",
    "build_pipeline",
    "check_stream",
    "fit_pipeline",
    "make_stage",
    "stage_names",
]

#: feature stages: name → "module:Class" (scikit-learn transformers over episodes)
FEATURE_STAGES: Registry[type] = Registry(
    "feature stage",
    {
        "flatten": "physres.readout.stages:Flatten",
        "frame": "physres.readout.features:FrameFeatures",
        "events": "physres.readout.stages:EventFeatures",
        "delay": "physres.readout.stages:DelayFeatures",
        "pool": "physres.readout.stages:PoolSequences",
    },
    group="physres.features",
)
#: readouts: name → "module:Class" (scikit-learn estimators over episodes)
READOUTS: Registry[type] = Registry(
    "readout",
    {
        "ridge": "physres.readout.ridge:RidgeReadout",
        "ridge_cv": "physres.readout.cv:RidgeCVReadout",
        "classifier": "physres.readout.classifier:RidgeClassifierReadout",
        "rls": "physres.readout.rls:RLSReadout",
    },
    group="physres.readouts",
)
_TABLES = {"feature stage": FEATURE_STAGES, "readout": READOUTS}


def stage_names(role: str = "feature stage") -> list[str]:
    """Registered names of ``role`` ("feature stage" or "readout")."""
    return sorted(_TABLES[role].names())


def _nearest(name: object, known: Any) -> str:
    near = difflib.get_close_matches(name, list(known), n=1) if isinstance(name, str) else []
    return f"; did you mean {near[0]!r}?" if near else ""


def _resolve(name: str, role: str) -> type:
    return _TABLES[role].load(name)


def make_stage(name: str, params: Mapping[str, Any] | None = None, *, role: str = "feature stage"):
    """Build stage ``name`` with ``params``; an unknown parameter names the valid ones."""
    cls = _resolve(name, role)
    params = dict(params or {})
    valid = cls._get_param_names()
    bad = sorted(set(params) - set(valid))
    if bad:
        raise ConfigError(
            f"{role} {name!r}: unknown parameter(s) {bad}; its parameters are {valid}"
            f"{_nearest(bad[0], valid)}"
        )
    stage = cls(**params)
    check = getattr(stage, "_check", None)
    if check is not None:  # parameter values: refused now, not after a drive
        try:
            check()
        except (TypeError, ValueError) as e:
            raise ConfigError(str(e)) from e
    return stage


def _kind_params(spec: Any) -> tuple[str | None, dict[str, Any]]:
    """``(kind, params)`` of a stage spec: a mapping or a config model with those fields."""
    if isinstance(spec, Mapping):
        kind, params = spec.get("kind"), spec.get("params")
    else:
        kind, params = getattr(spec, "kind", None), getattr(spec, "params", None)
    return (None if kind is None else str(kind)), dict(params or {})


def build_pipeline(
    features: Sequence[Any] = (),
    readout: Any = None,
    *,
    default_readout: tuple[str, Mapping[str, Any]],
    washout: int = 0,
    sample_ndim: int = 2,
    events: bool = False,
    rows_only: bool = False,
) -> Pipeline:
    """The pipeline a run fits: feature stages, then the readout.

    ``features`` / ``readout``: stage specs (``kind`` + ``params``, mappings
    or config models); ``readout`` None (or without a kind) means the task's
    ``default_readout``. ``washout`` (task steps) reaches the readout unless
    set; after a ``pool`` stage it is the pool's ``skip`` instead (each
    episode is one row by then). Episodes of frames or arrays (``sample_ndim``
    > 2) are flattened first unless a frame stage reads them; event windows
    get an ``events`` stage (counts per task step) unless one is configured.
    ``rows_only`` drops the stages that cannot read plain rows (the raw-input
    control runs the rest).
    """
    steps: list[tuple[str, Any]] = []
    kinds: list[tuple[str, dict[str, Any]]] = []
    for i, f in enumerate(features):
        kind, params = _kind_params(f)
        if kind is None:
            raise ConfigError(f"features[{i}] names no stage kind; known: {stage_names()}")
        kinds.append((kind, params))
    if rows_only:
        kinds = [
            (k, p)
            for k, p in kinds
            if getattr(_resolve(k, "feature stage"), "takes_rows", True) and k != "frame"
        ]
    else:
        first = kinds[0][0] if kinds else None
        if events and not any(k == "events" for k, _ in kinds):
            kinds.insert(0, ("events", {}))
        elif not events and sample_ndim > 2 and first not in ("frame", "flatten"):
            kinds.insert(0, ("flatten", {}))
    pooled = False
    for i, (kind, params) in enumerate(kinds):
        if kind == "pool":
            params.setdefault("skip", washout)
            pooled = True
        steps.append((f"{i}_{kind}", make_stage(kind, params)))
    r_kind, r_params = (None, {}) if readout is None else _kind_params(readout)
    d_kind, d_params = default_readout
    kind = r_kind or d_kind
    params = dict(d_params) if kind == d_kind else {}
    params.update(r_params)
    cls = _resolve(kind, "readout")
    if "washout" in cls._get_param_names():
        if pooled:
            params["washout"] = 0  # one row per episode: the pool already skipped the washout
        else:
            params.setdefault("washout", washout)
    steps.append(("readout", make_stage(kind, params, role="readout")))
    return Pipeline(steps)


def check_stream(features: Sequence[Any], stream: str, *, events: bool, sample_ndim: int) -> None:
    """Refuse feature stages that cannot read the device's ``stream`` (before any run).

    ``events``: the stream carries ``t_ns``/``channel`` records (the ``events``
    stage bins them and must come first); ``sample_ndim``: dimensions of a
    sample's rows (3 or more for image frames, which a ``frame`` stage reads).
    """
    kinds = [_kind_params(f)[0] for f in features]
    if "events" in kinds and not events:
        raise ConfigError(
            f"feature stage 'events' reads an event stream (t_ns/channel records); the "
            f"device's stream {stream!r} is not one: drop the stage or read an event stream"
        )
    if events and "events" in kinds and kinds[0] != "events":
        raise ConfigError(
            f"feature stage 'events' must come first on event stream {stream!r} (the others "
            f"read its rows), got {kinds}"
        )
    if "frame" in kinds and (events or sample_ndim < 3):
        raise ConfigError(
            f"feature stage 'frame' reads image frames (T, H, W[, C]); the device's stream "
            f"{stream!r} is not a frame stream: drop the stage"
        )


def fit_pipeline(pipe: Pipeline, X: Any, make_y: Callable[[int], Any]) -> Any:
    """Fit every stage once; returns the readout's input (the training feature rows).

    ``make_y(n_features)`` gives the targets once the feature width is known
    (memory capacity scores at most twice as many delays as features).
    """
    Z = pipe[:-1].fit_transform(X) if len(pipe) > 1 else X
    first = Z[0] if isinstance(Z, (list, tuple)) else Z
    pipe[-1].fit(Z, make_y(int(np.asarray(first).shape[-1])))
    return Z
