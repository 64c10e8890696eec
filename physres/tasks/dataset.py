"""Any time-series data set as a task: a file, a split, an input mapping, a readout.

``task: {kind: dataset, params: {path: train.ts, test_path: test.ts}}`` turns
a file (sktime ``.ts``, long-form CSV or ``.npz``; see
:mod:`physres.tasks.files`) into honest train/test episodes:

* **problem**: ``classification`` (one label per sequence, variable lengths;
  scored by accuracy) or ``regression`` (per-step ``target`` columns; NRMSE).
* **split**: ``given`` (a separate ``test_path``), ``group`` (whole groups,
  e.g. speakers, held out: ``test_groups`` or a seeded ``test_fraction`` of
  them), ``stratified`` (a seeded ``test_fraction`` of each class) or ``tail``
  (the last ``test_fraction`` of every sequence, for one long recording).
  A split that leaves a class without training sequences is refused.
* **inputs**: ``inputs`` picks columns (names in a CSV, indices otherwise);
  ``normalise`` scales each one on the *training split only* (``minmax``:
  the training range onto [-1, 1], ``zscore``: mean 0, std ``1 / scale``...);
  ``clip`` keeps held-out values inside [-1, 1], so the task's drive mapping
  (gain/offset from the device's limits) never leaves a motor's duty range.
  ``channels`` and ``hold`` (every task's) place the inputs on device channels
  and hold each sample for that many device steps.
* **readout**: sequence classification defaults to a per-step ridge
  classifier with pooled decisions (``pool``); a config's ``features:`` with a
  ``pool`` stage (``how: last`` or ``stats``) gives one state vector per
  sequence instead.

Without a ``path`` the task reads UCI Japanese Vowels, shipped in
``physres/tasks/data/`` (see its README); ``japanese_vowels`` names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from physres.errors import DataError
from physres.tasks.base import Episode, Episodes, TaskData, TaskParams
from physres.tasks.files import Sequences, read_sequences
from physres.tasks.kinds import ClassificationParams, RegressionTask, SequenceClassificationTask

__all__ = ["DatasetParams", "DatasetTask", "JapaneseVowels"]

DATA = Path(__file__).with_name("data")


class DatasetParams(ClassificationParams):
    #: the data file (the training split when ``split`` is ``given``); None: the
    #: shipped Japanese Vowels (both files), so every registered task runs by name
    path: str | None = None
    #: the held-out file of a ``given`` split
    test_path: str | None = None
    #: file format; None: from the suffix (.ts, .csv, .npz)
    format: Literal["ts", "csv", "npz"] | None = None
    #: what is scored; regression needs per-step targets (CSV ``target`` columns)
    problem: Literal["classification", "regression"] = "classification"
    #: which data columns drive the device (CSV names or indices); None: all
    inputs: list[str | int] | None = None
    #: CSV column names: sequence id, class label, per-step targets, group
    sequence: str | None = "sequence"
    label: str | None = "label"
    target: list[str] | None = None
    group: str | None = "group"
    split: Literal["given", "group", "stratified", "tail"] = "given"
    #: groups held out by a ``group`` split; None: a seeded ``test_fraction`` of them
    test_groups: list[str] | None = None
    test_fraction: float = Field(0.25, gt=0, lt=1)
    #: per-input scaling fitted on the training split only (a device's duty
    #: range is the framework's business, not the user's)
    normalise: Literal["none", "minmax", "zscore"] = "minmax"
    #: multiplies the normalised inputs (zscore: 1/3 puts ±3 sd at ±1)
    scale: float = Field(1.0, gt=0, allow_inf_nan=False)
    #: clip normalised inputs to [-1, 1] (held-out data can exceed the training range)
    clip: bool = True

    @model_validator(mode="before")
    @classmethod
    def _default_data(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("path") is None:
            if data.get("test_path") is not None:
                raise ValueError("test_path is set but path is not")
            split = data.get("split", "given")
            data = {**data, "path": str(DATA / "JapaneseVowels_TRAIN.ts")}
            if split == "given":
                data["test_path"] = str(DATA / "JapaneseVowels_TEST.ts")
        return data

    @model_validator(mode="after")
    def _split_needs(self) -> DatasetParams:
        if self.split == "given" and self.test_path is None:
            raise ValueError("split 'given' needs test_path (or choose group/stratified/tail)")
        if self.split != "given" and self.test_path is not None:
            raise ValueError(f"test_path is only read by split 'given', not {self.split!r}")
        if self.problem == "regression" and self.split == "stratified":
            raise ValueError("split 'stratified' needs class labels; regression uses tail/group")
        for f in (self.path, self.test_path):  # `physres check` sees a missing file
            if f is not None and not Path(f).is_file():
                raise ValueError(f"{f}: no such data file")
        return self


class DatasetTask(SequenceClassificationTask):
    """Sequences from a file, scored as classification or per-step regression."""

    name: ClassVar[str] = "dataset"
    Params: ClassVar[type[TaskParams]] = DatasetParams
    params: DatasetParams
    _targets = staticmethod(RegressionTask._targets)  # what RegressionTask's scoring reads

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.params.problem == "regression":
            self.metric = "nrmse"  # type: ignore[misc]
            self.higher_is_better = False  # type: ignore[misc]

    # ------------------------------------------------------------------ data
    def _read(self, path: str) -> Sequences:
        p = self.params
        seqs = read_sequences(
            path,
            p.format,
            **(
                {"sequence": p.sequence, "label": p.label, "target": p.target, "group": p.group}
                if (p.format or Path(path).suffix.lstrip(".").lower()) == "csv"
                else {}
            ),
        )
        if p.problem == "classification" and seqs.labels is None:
            raise DataError(f"{seqs.path}: classification needs a label per sequence; none found")
        if p.problem == "regression" and seqs.targets is None:
            raise DataError(f"{seqs.path}: regression needs per-step targets; none found")
        widths = {x.shape[1] for x in seqs.inputs}
        if len(widths) != 1:
            raise DataError(f"{seqs.path}: sequences have different input counts {sorted(widths)}")
        return seqs

    def _columns(self, seqs: Sequences) -> list[int]:
        p = self.params
        if p.inputs is None:
            return list(range(seqs.n_inputs))
        out = []
        for c in p.inputs:
            if isinstance(c, str):
                if c not in seqs.names:
                    raise DataError(f"{seqs.path}: inputs names {c!r}; the inputs are {seqs.names}")
                out.append(seqs.names.index(c))
            elif not 0 <= c < seqs.n_inputs:
                raise DataError(f"{seqs.path}: inputs index {c} is outside 0..{seqs.n_inputs - 1}")
            else:
                out.append(c)
        return out

    def _split(self, seqs: Sequences, seed: int) -> tuple[list[int], list[int]]:
        p = self.params
        n = len(seqs.inputs)
        rng = np.random.default_rng(seed)
        if p.split == "group":
            if seqs.groups is None:
                raise DataError(f"{seqs.path}: split 'group' needs a {p.group!r} column or key")
            names = sorted(set(seqs.groups))
            if p.test_groups is not None:
                unknown = sorted(set(p.test_groups) - set(names))
                if unknown:
                    raise DataError(
                        f"{seqs.path}: test_groups {unknown} not in the file's groups {names}"
                    )
                held = set(p.test_groups)
            else:
                k = max(1, round(p.test_fraction * len(names)))
                held = set(rng.choice(names, size=k, replace=False).tolist())
            test = [i for i in range(n) if seqs.groups[i] in held]
            return [i for i in range(n) if i not in set(test)], test
        assert seqs.labels is not None
        test = []
        for c in sorted(set(seqs.labels)):
            idx = [i for i in range(n) if seqs.labels[i] == c]
            k = max(1, round(p.test_fraction * len(idx))) if len(idx) > 1 else 0
            test += rng.choice(idx, size=k, replace=False).tolist()
        return sorted(set(range(n)) - set(test)), sorted(test)

    def generate(self, seed: int = 0) -> TaskData:
        """Read, split, normalise on the training split; no randomness beyond the split."""
        p = self.params
        assert p.path is not None  # filled in by the Params model
        seqs = self._read(p.path)
        cols = self._columns(seqs)
        if p.split == "given":
            assert p.test_path is not None
            tseqs = self._read(p.test_path)
            if tseqs.n_inputs != seqs.n_inputs:
                raise DataError(
                    f"{tseqs.path}: {tseqs.n_inputs} inputs, the training file {seqs.path} has "
                    f"{seqs.n_inputs}"
                )
            train_x, test_x = list(seqs.inputs), list(tseqs.inputs)
            train_y, test_y = self._ys(seqs), self._ys(tseqs)
            train_g, test_g = seqs.groups, tseqs.groups
            test_file = tseqs.path
        elif p.split == "tail":
            train_x, test_x, train_y, test_y = [], [], [], []
            ys = self._ys(seqs)
            for x, y in zip(seqs.inputs, ys):
                cut = len(x) - max(1, round(p.test_fraction * len(x)))
                if cut <= p.washout or len(x) - cut <= p.washout:
                    raise DataError(
                        f"{seqs.path}: a sequence of {len(x)} steps is too short to split"
                    )
                train_x.append(x[:cut])
                test_x.append(x[cut:])
                is_label = isinstance(y, str)
                train_y.append(y if is_label else y[:cut])
                test_y.append(y if is_label else y[cut:])
            train_g = test_g = seqs.groups
            test_file = seqs.path
        else:
            tr, te = self._split(seqs, seed)
            ys = self._ys(seqs)
            train_x, test_x = [seqs.inputs[i] for i in tr], [seqs.inputs[i] for i in te]
            train_y, test_y = [ys[i] for i in tr], [ys[i] for i in te]
            g = seqs.groups
            train_g = None if g is None else [g[i] for i in tr]
            test_g = None if g is None else [g[i] for i in te]
            test_file = seqs.path
        classes: tuple[str, ...] = ()
        if p.problem == "classification":
            classes = seqs.classes or tuple(sorted(set(train_y)))
            for split, ys_, where in (("train", train_y, seqs.path), ("test", test_y, test_file)):
                missing = [c for c in classes if c not in set(ys_)]
                if split == "train" and missing:
                    raise DataError(
                        f"{where}: the {p.split} split leaves class(es) {missing} without "
                        f"training sequences"
                    )
                stray = sorted(set(ys_) - set(classes))
                if stray:
                    raise DataError(f"{where}: labels {stray} are not among the classes {classes}")
            if not test_y:
                raise DataError(f"{seqs.path}: the {p.split} split leaves no test sequences")
        train_x = [x[:, cols] for x in train_x]
        test_x = [x[:, cols] for x in test_x]
        lo, hi = self._fit_scaling(train_x)
        train = self._episodes(train_x, train_y, train_g, classes, lo, hi)
        test = self._episodes(test_x, test_y, test_g, classes, lo, hi)
        n_out = 1 if p.problem == "classification" else train[0].y.shape[1]  # type: ignore[union-attr]
        return TaskData(
            train=train,
            test=test,
            washout=p.washout,
            n_inputs=len(cols),
            n_outputs=n_out,
            problem=p.problem,
            classes=classes,
            meta={"path": str(seqs.path), "split": p.split, "normalise": p.normalise},
        )

    def _ys(self, seqs: Sequences) -> list[Any]:
        if self.params.problem == "classification":
            assert seqs.labels is not None
            return list(seqs.labels)
        assert seqs.targets is not None
        return list(seqs.targets)

    def _fit_scaling(self, xs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``(centre, half-width)`` per input from the training split: u = (x - c) / w."""
        allx = np.concatenate(xs)
        p = self.params
        if p.normalise == "none":
            return np.zeros(allx.shape[1]), np.ones(allx.shape[1])
        if p.normalise == "minmax":
            lo, hi = allx.min(axis=0), allx.max(axis=0)
            centre, width = (hi + lo) / 2, (hi - lo) / 2
        else:
            centre, width = allx.mean(axis=0), allx.std(axis=0)
        return centre, np.where(width > 0, width, 1.0)

    def _episodes(
        self,
        xs: list[np.ndarray],
        ys: list[Any],
        groups: list[str] | None,
        classes: tuple[str, ...],
        centre: np.ndarray,
        width: np.ndarray,
    ) -> list[Episode]:
        p = self.params
        out = []
        for i, (x, y) in enumerate(zip(xs, ys)):
            u = (x - centre) / width * p.scale
            if p.clip:
                u = np.clip(u, -1.0, 1.0)
            label = classes.index(y) if p.problem == "classification" else y
            meta = {"index": i} if groups is None else {"index": i, "group": groups[i]}
            out.append(Episode(u=u, y=label, meta=meta))
        return out

    # --------------------------------------------------------------- scoring
    def readout_spec(self, data: TaskData) -> tuple[str, dict[str, Any]]:
        if self.params.problem == "regression":
            return RegressionTask.readout_spec(self, data)  # type: ignore[arg-type]
        return super().readout_spec(data)

    def targets(self, episodes: Episodes, data: TaskData, n_features: int) -> Any:
        if self.params.problem == "regression":
            return RegressionTask.targets(self, episodes, data, n_features)  # type: ignore[arg-type]
        return super().targets(episodes, data, n_features)

    def predict(self, readout: Any, states: Any) -> Any:
        if self.params.problem == "regression":
            return RegressionTask.predict(self, readout, states)  # type: ignore[arg-type]
        return super().predict(readout, states)

    def score(self, predictions: Any, episodes: Episodes, data: TaskData) -> dict[str, float]:
        if self.params.problem == "regression":
            return RegressionTask.score(self, predictions, episodes, data)  # type: ignore[arg-type]
        return super().score(predictions, episodes, data)


class JapaneseVowels(DatasetTask):
    """UCI Japanese Vowels: 9 speakers, 12 LPC cepstra, 7–29 frames; 270 train / 370 test.

    The published split (``given``); the class is the speaker. Published
    reservoir figure: an ESN with a per-step readout gets 98–99 % (Jaeger et
    al. 2007, leaky-integrator ESNs).
    """

    name: ClassVar[str] = "japanese_vowels"
