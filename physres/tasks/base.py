"""What a benchmark task is: seeded data, how it drives a device, how it is scored.

A task never sees a device. It produces :class:`Episode` s (inputs in *task
units*, nominally within [-1, 1], plus targets), says how those inputs become a
device's input array (:meth:`Task.encode`: channel mapping, gain/offset into the
device's declared limits, sample-and-hold), and scores state matrices that the
drive loop (:func:`physres.experiments.drive.collect_states`) gathered from any
device. Keeping the three apart is what lets one suite run on an ESN, a bucket
of water or a culture of neurons.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from physres._messages import issues
from physres.device.spec import InputSpec, slew_limit
from physres.errors import ConfigError, DataError, SafetyError

__all__ = [
    "Episode",
    "Episodes",
    "States",
    "Task",
    "TaskData",
    "TaskParams",
    "check_states",
    "nrmse",
    "slew_limit",
]


@dataclass(frozen=True)
class Episode:
    """One input sequence and what the readout should produce from it.

    ``u`` is ``(T, n_in)`` float64 in task units. ``y`` is either ``(T, n_out)``
    per-step targets (regression, per-step labels) or an ``int`` class label for
    the whole sequence (sequence classification, e.g. a spoken word).
    """

    u: np.ndarray
    y: np.ndarray | int
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        u = np.asarray(self.u, dtype=np.float64)
        if u.ndim == 1:
            u = u[:, None]
        if u.ndim != 2 or u.shape[0] == 0:
            raise DataError(f"Episode.u must be (T, n_in) with T > 0, got shape {u.shape}")
        if not np.isfinite(u).all():
            r, c = (int(i) for i in np.argwhere(~np.isfinite(u))[0])
            raise DataError(f"Episode.u[{r}, {c}] = {u[r, c]} is not finite")
        object.__setattr__(self, "u", u)
        if isinstance(self.y, (int, np.integer)):
            object.__setattr__(self, "y", int(self.y))
            return
        y = np.asarray(self.y, dtype=np.float64)
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[0] != u.shape[0]:
            raise DataError(
                f"Episode.y must be an int label or (T, n_out) with T = {u.shape[0]} like u, "
                f"got shape {y.shape}"
            )
        object.__setattr__(self, "y", y)

    @property
    def n_steps(self) -> int:
        return int(self.u.shape[0])

    @property
    def label(self) -> int:
        """The class label of a sequence-classification episode."""
        if not isinstance(self.y, int):
            raise DataError("this episode has per-step targets, not a sequence label")
        return self.y


@dataclass(frozen=True)
class TaskData:
    """Honest splits of one generated data set.

    ``washout`` steps at the start of *every* episode (train and test) are
    driven but never fitted or scored, so results do not depend on whether the
    device was reset between episodes. ``closed_loop`` holds extra held-out
    episodes for tasks scored by feeding predictions back (free-running
    Mackey–Glass); it is empty for the rest.
    """

    train: list[Episode]
    test: list[Episode]
    washout: int
    n_inputs: int
    n_outputs: int
    #: what is scored: per-step values or one class label per episode (not a
    #: ``kind``: that word is for registered names, like the task's own)
    problem: Literal["regression", "classification"] = "regression"
    classes: tuple[str, ...] = ()
    closed_loop: list[Episode] = field(default_factory=list)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.train or not self.test:
            raise DataError(
                f"a task needs train and test episodes, got {len(self.train)} train and "
                f"{len(self.test)} test"
            )
        for split, eps in (("train", self.train), ("test", self.test)):
            for i, ep in enumerate(eps):
                if ep.u.shape[1] != self.n_inputs:
                    raise DataError(
                        f"{split}[{i}] has {ep.u.shape[1]} inputs, the task declares "
                        f"{self.n_inputs}"
                    )
                if self.washout >= ep.n_steps:
                    raise DataError(
                        f"washout {self.washout} leaves nothing of {split}[{i}] "
                        f"({ep.n_steps} steps)"
                    )


def nrmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error divided by the standard deviation of the target.

    Averaged over output columns (each normalised by its own spread). 1.0 is
    what predicting the mean scores; 0 is perfect.
    """
    yt = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    yp = np.asarray(y_pred, dtype=np.float64).reshape(len(y_pred), -1)
    if yt.shape != yp.shape:
        raise DataError(f"nrmse: targets {yt.shape} and predictions {yp.shape} differ")
    sd = yt.std(axis=0)
    if (sd == 0).any():
        raise DataError("nrmse: a target column is constant; NRMSE is undefined")
    return float(np.mean(np.sqrt(np.mean((yt - yp) ** 2, axis=0)) / sd))


def check_states(states: States, episodes: Episodes, split: str) -> None:
    """Refuse states that do not line up with their episodes.

    States are one entry per episode with one sample per task step: rows
    ``(T, F)``, frames ``(T, H, W)``, or event windows (``len`` = T).
    """
    if len(states) != len(episodes):
        raise DataError(f"{split}: {len(states)} state matrices for {len(episodes)} episodes")
    n_feat = None
    for i, (x, ep) in enumerate(zip(states, episodes)):
        if not isinstance(x, np.ndarray) and hasattr(x, "n_steps"):  # an event window
            if x.n_steps != ep.n_steps:
                raise DataError(
                    f"{split}[{i}]: event window has {x.n_steps} steps, the episode {ep.n_steps}"
                )
            continue
        x = np.asarray(x)
        if x.ndim < 2 or x.shape[0] != ep.n_steps:
            raise DataError(
                f"{split}[{i}]: states must be (T={ep.n_steps}, F) aligned to task steps, "
                f"got {x.shape}"
            )
        if n_feat is None:
            n_feat = x.shape[1:]
        elif x.shape[1:] != n_feat:
            raise DataError(
                f"{split}[{i}] has {_width(x.shape[1:])} features, {split}[0] has {_width(n_feat)}"
            )
        if not np.isfinite(x).all():
            r, c = (int(j) for j in np.argwhere(~np.isfinite(x.reshape(len(x), -1)))[0])
            raise DataError(
                f"{split}[{i}] states[{r}, {c}] = {x.reshape(len(x), -1)[r, c]} is not finite"
            )


def _width(shape: tuple[int, ...]) -> str:
    return str(shape[0]) if len(shape) == 1 else "x".join(map(str, shape))


def _sample_shape(states: States) -> tuple[int, ...] | None:
    x = states[0]
    return np.asarray(x).shape[1:] if isinstance(x, np.ndarray) else None


#: per-episode state matrices (T, F), aligned to task steps
States = Sequence[np.ndarray]
#: a split's episodes
Episodes = Sequence["Episode"]


class TaskParams(BaseModel):
    """Parameters every task shares: how inputs reach a device, and the readout's ridge.

    ``gain``/``offset`` map task units to device units (``device = offset +
    gain * u``); left unset they are derived from the device input's limits
    (see :meth:`Task.drive_map`). ``channels`` places task input ``i`` on the
    flattened device channel ``channels[i]``; unused channels sit at ``rest``
    (task units). ``hold`` repeats each task step for that many device samples
    (sample-and-hold), so a slow task can drive a fast device.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    hold: int = Field(1, ge=1, le=100_000)
    gain: float | None = Field(None, allow_inf_nan=False)
    offset: float | None = Field(None, allow_inf_nan=False)
    channels: tuple[int, ...] | None = None
    rest: float = Field(0.0, allow_inf_nan=False)
    #: task steps at the start of every episode that are driven but not fitted or scored
    washout: int = Field(0, ge=0)
    #: ridge penalty of the readout (same meaning as scikit-learn's ``alpha``)
    alpha: float = Field(1e-6, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _channels_unique(self) -> TaskParams:
        ch = self.channels
        if ch is not None and (len(set(ch)) != len(ch) or any(c < 0 for c in ch)):
            raise ValueError(f"channels must be distinct non-negative indices, got {list(ch)}")
        return self


class Task(ABC):
    """Base of every benchmark task; subclasses set ``name``, ``Params``, ``metric``.

    ``generate(seed)`` builds data (seeded, offline), ``encode`` turns task
    inputs into a device input array, ``evaluate`` fits the readout on train
    states and scores test states.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[TaskParams]] = TaskParams
    #: the headline metric ``evaluate`` returns (bench tables show it)
    metric: ClassVar[str] = "nrmse"
    higher_is_better: ClassVar[bool] = False
    params: TaskParams

    def __init__(self, **params: Any) -> None:
        try:
            self.params = self.Params(**params)
        except ValidationError as e:
            raise ConfigError(
                "; ".join(
                    f"task {self.name!r} param {'.'.join(loc) or '(root)'}: {text}"
                    for loc, text in issues(e, self.Params)
                )
            ) from e

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.params.model_dump()}>"

    # ------------------------------------------------------------------ data
    @abstractmethod
    def generate(self, seed: int = 0) -> TaskData:
        """Build train/test episodes from ``seed``; same seed, same data; no downloads."""

    # --------------------------------------------------------------- driving
    def drive_map(self, spec: InputSpec) -> tuple[float, float]:
        """``(gain, offset)`` so that ``device = offset + gain * task_value``.

        Explicit params win. Otherwise: if the device accepts [-1, 1] as is,
        task units are device units (gain 1, offset 0: an ESN sees exactly
        the task's numbers). If both limits are finite and narrower, [-1, 1]
        is stretched onto [low, high] (a motor duty of 0..1 gets -1 → 0,
        +1 → 1). With one finite bound, [-1, 1] is shifted to start there.
        """
        p = self.params
        lim = spec.limits
        lo, hi = lim.low, lim.high
        if p.gain is not None or p.offset is not None:
            return (1.0 if p.gain is None else p.gain, 0.0 if p.offset is None else p.offset)
        if (lo is None or lo <= -1.0) and (hi is None or hi >= 1.0):
            return 1.0, 0.0
        if lo is not None and hi is not None:
            return (hi - lo) / 2.0, (hi + lo) / 2.0
        if lo is not None:
            return 1.0, lo + 1.0
        assert hi is not None
        return 1.0, hi - 1.0

    def drive_info(self, spec: InputSpec) -> dict[str, Any]:
        """How this task will drive ``spec``: for run logs and ``physres run`` summaries."""
        gain, offset = self.drive_map(spec)
        p = self.params
        return {
            "input": spec.name,
            "units": spec.units,
            "gain": gain,
            "offset": offset,
            "channels": list(p.channels) if p.channels is not None else None,
            "rest": offset + gain * p.rest,
            "hold": p.hold,
            "slew_limit": spec.limits.max_step,
        }

    def encode(
        self, u: np.ndarray, spec: InputSpec, *, previous: np.ndarray | None = None
    ) -> np.ndarray:
        """Task inputs ``(T, n_in)`` → device input ``(T * hold, *spec.shape)``.

        Task input ``i`` goes to flattened device channel ``channels[i]``
        (default ``i``); other channels hold the ``rest`` value. Each step is
        held for ``hold`` device samples. If the input has a slew limit
        (``max_step``), jumps are turned into ramps of at most ``max_step``
        per sample, starting from ``previous`` (the last value the device was
        sent, if known): a motor is ramped rather than refused. Integer
        inputs are rounded. The result is checked against the input's limits
        here, so a task that would drive a device out of range fails before
        anything is sent (:class:`SafetyError` naming the value; change
        ``gain``/``offset``).
        """
        p = self.params
        u = np.asarray(u, dtype=np.float64)
        if u.ndim == 1:
            u = u[:, None]
        if u.ndim != 2:
            raise DataError(f"task {self.name}: encode expects (T, n_in) inputs, got {u.shape}")
        if any(s is None for s in spec.shape):
            raise DataError(
                f"task {self.name}: device input {spec.name!r} has a variable shape "
                f"{spec.shape}; tasks drive fixed-size inputs only"
            )
        n_dev = math.prod(spec.shape) if spec.shape else 1
        n_in = u.shape[1]
        channels = p.channels if p.channels is not None else tuple(range(n_in))
        if len(channels) != n_in:
            raise ConfigError(
                f"task {self.name}: channels lists {len(channels)} device channels for "
                f"{n_in} task inputs"
            )
        if max(channels) >= n_dev:
            raise ConfigError(
                f"task {self.name} needs device channel {max(channels)} but input {spec.name!r} "
                f"has {n_dev} channels (shape {spec.shape}); use fewer task inputs or set channels"
            )
        gain, offset = self.drive_map(spec)
        out = np.full((u.shape[0], n_dev), offset + gain * p.rest)
        out[:, list(channels)] = offset + gain * u
        if p.hold > 1:
            out = np.repeat(out, p.hold, axis=0)
        if spec.limits.max_step is not None:
            prev = None if previous is None else np.asarray(previous, np.float64).reshape(-1)
            out = slew_limit(out, spec.limits.max_step, prev)
        out = out.reshape((out.shape[0], *spec.shape))
        dt = spec.np_dtype
        if dt.kind in "iub":
            out = np.rint(out)
        out = out.astype(dt)
        try:
            spec.limits.check(
                out,
                where=f"task {self.name} → input {spec.name}",
                unit=spec.units,
                previous=None if previous is None else np.asarray(previous).reshape(spec.shape),
            )
        except SafetyError as e:
            raise SafetyError(
                f"{e} (gain {gain:g}, offset {offset:g}; set the task's gain/offset)"
            ) from e
        return out

    # --------------------------------------------------------------- readout
    def readout_spec(self, data: TaskData) -> tuple[str, dict[str, Any]]:
        """The readout this task is scored with unless a config names another.

        A ridge regression (``alpha``) on every post-washout step.
        """
        return "ridge", {"alpha": self.params.alpha, "washout": data.washout}

    def pipeline(
        self,
        data: TaskData,
        states: States | None = None,
        *,
        features: Sequence[Any] = (),
        readout: Any = None,
        rows_only: bool = False,
    ) -> Any:
        """An unfitted :class:`sklearn.pipeline.Pipeline`: ``features`` stages, then the readout.

        ``states`` (an example split) tells whether frames need flattening or
        events binning first; see :func:`physres.readout.pipeline.build_pipeline`.
        """
        from physres.readout.pipeline import build_pipeline

        shape = _sample_shape(states) if states else ()
        return build_pipeline(
            features,
            readout,
            default_readout=self.readout_spec(data),
            washout=data.washout,
            sample_ndim=2 if rows_only or shape is None else 1 + len(shape),
            events=bool(states) and shape is None and not rows_only,
            rows_only=rows_only,
        )

    @abstractmethod
    def targets(self, episodes: Episodes, data: TaskData, n_features: int) -> Any:
        """What the readout is fitted towards (``n_features``: the width it reads)."""

    @abstractmethod
    def predict(self, readout: Any, states: Any) -> Any:
        """Predictions of a fitted readout (or pipeline) in the form :meth:`score` takes."""

    @abstractmethod
    def score(self, predictions: Any, episodes: Episodes, data: TaskData) -> dict[str, float]:
        """Metrics of predictions for ``episodes`` (held out, or train for ``train_*``)."""

    def fit_readout(
        self, states: States, episodes: Episodes, data: TaskData, *, pipeline: Any = None
    ) -> Any:
        """Fit ``pipeline`` (default: this task's readout alone) once on training states."""
        from physres.readout.pipeline import fit_pipeline

        pipe = pipeline if pipeline is not None else self.pipeline(data, states)
        fit_pipeline(pipe, list(states), lambda width: self.targets(episodes, data, width))
        return pipe

    def evaluate(
        self,
        states_train: Sequence[Any],
        train: Sequence[Episode],
        states_test: Sequence[Any],
        test: Sequence[Episode],
        data: TaskData | None = None,
        *,
        pipeline: Any = None,
    ) -> dict[str, float]:
        """Fit the readout (or ``pipeline``) once on training states, score test states.

        ``data`` carries the washout and the problem (regression or
        classification); without it they are taken from this task's defaults.
        The training score (``train_<metric>``) reuses the training feature
        rows; ``pipeline`` (unfitted, from :meth:`pipeline`) is fitted in place.
        See each task's ``score`` docstring for the metrics.
        """
        from physres.readout.pipeline import fit_pipeline

        data = data or self._shape_only(train, test)
        check_states(states_train, train, "train")
        check_states(states_test, test, "test")
        s_tr, s_te = _sample_shape(states_train), _sample_shape(states_test)
        if s_tr != s_te:
            raise DataError(
                f"train states have {_width(s_tr or (0,))} features, test states "
                f"{_width(s_te or (0,))}"
            )
        pipe = pipeline if pipeline is not None else self.pipeline(data, states_train)
        Z = fit_pipeline(pipe, list(states_train), lambda width: self.targets(train, data, width))
        metrics = self.score(self.predict(pipe, list(states_test)), test, data)
        train_scores = self.score(self.predict(pipe[-1], Z), train, data)
        if self.metric in train_scores:
            metrics[f"train_{self.metric}"] = train_scores[self.metric]
        return metrics

    def _shape_only(self, train: Sequence[Episode], test: Sequence[Episode]) -> TaskData:
        washout = self.params.washout
        y0 = train[0].y
        return TaskData(
            train=list(train),
            test=list(test),
            washout=washout,
            n_inputs=train[0].u.shape[1],
            n_outputs=1 if isinstance(y0, int) else y0.shape[1],
            problem="classification" if isinstance(y0, int) else "regression",
        )
