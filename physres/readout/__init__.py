"""Linear readouts: the only trained part of a physical reservoir.

* :class:`RidgeReadout` — ridge regression on float64 sufficient statistics
  (one BLAS pass, fixed memory, ``partial_fit``); same predictions as
  scikit-learn's ``Ridge``.
* :class:`RidgeCVReadout` — alpha chosen by blocked cross-validation from one
  eigendecomposition per fold, fold statistics by subtraction.
* :class:`RidgeClassifierReadout` — one-hot targets, per-row or pooled per-episode decisions.
* :class:`RLSReadout` — recursive least squares / FORCE for online, closed-loop learning.
* :func:`save_readout` / :func:`load_readout` — versioned, pickle-free files.
* :mod:`physres.readout.features` — frames, events and delays → readout rows.
"""

from physres.readout.classifier import RidgeClassifierReadout
from physres.readout.cv import RidgeCVReadout, default_alphas, fold_curve
from physres.readout.features import (
    DelayEmbedding,
    EventBinner,
    ExpTrace,
    FrameFeatures,
    FramePreprocessor,
    bin_events,
    delay_embed,
    hstack_features,
)
from physres.readout.io import (
    FORMAT_VERSION,
    ReadoutFileError,
    load_readout,
    read_header,
    save_readout,
)
from physres.readout.ridge import RidgeReadout, solve_ridge
from physres.readout.rls import RLSReadout
from physres.readout.stats import SufficientStats

__all__ = [
    "FORMAT_VERSION",
    "DelayEmbedding",
    "EventBinner",
    "ExpTrace",
    "FrameFeatures",
    "FramePreprocessor",
    "RLSReadout",
    "ReadoutFileError",
    "RidgeCVReadout",
    "RidgeClassifierReadout",
    "RidgeReadout",
    "SufficientStats",
    "bin_events",
    "default_alphas",
    "delay_embed",
    "fold_curve",
    "hstack_features",
    "load_readout",
    "read_header",
    "save_readout",
    "solve_ridge",
]
