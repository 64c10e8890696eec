"""A leaky-integrator echo state network as a device: the reference substrate.

Every physical reservoir is compared against this one. The weights are the
"hardware" (fixed by ``params.seed``); ``reset(seed=)`` clears the state and
reseeds only the state noise, as resetting a bucket leaves the bucket the same.

The pure part is :func:`run_chunk`; :class:`ESN` is the stateful Device shell.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from physres.device import (
    Chunk,
    Description,
    Device,
    InputSpec,
    PendingChunk,
    StreamSpec,
)

__all__ = ["ESN", "ESNParams", "make_weights", "run_chunk"]


class ESNParams(BaseModel):
    """Reservoir hyper-parameters (names follow the ESN literature)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: the field that receives a task's input count (see physres.registry.bind_task)
    task_inputs: ClassVar[str | None] = "n_inputs"

    n_units: int = Field(100, ge=1, le=100_000)
    n_inputs: int = Field(1, ge=1, le=10_000)
    spectral_radius: float = Field(0.95, ge=0, allow_inf_nan=False)
    input_scaling: float = Field(1.0, ge=0, allow_inf_nan=False)
    bias_scaling: float = Field(0.0, ge=0, allow_inf_nan=False)
    leak_rate: float = Field(1.0, gt=0, le=1, allow_inf_nan=False)
    #: fraction of non-zero recurrent weights (sparse reservoirs are cheaper and as good)
    density: float = Field(0.1, gt=0, le=1)
    #: fraction of non-zero input weights
    input_density: float = Field(1.0, gt=0, le=1)
    #: "random" sparse Gaussian W, or "orthogonal" (all |eigenvalues| equal; best memory)
    topology: Literal["random", "orthogonal"] = "random"
    #: "uniform" in [-1, 1] or "bernoulli" ±1 input weights
    input_distribution: Literal["uniform", "bernoulli"] = "uniform"
    activation: Literal["tanh", "linear"] = "tanh"
    #: standard deviation of noise added to the pre-activation each step
    noise: float = Field(0.0, ge=0, allow_inf_nan=False)
    #: nominal sample rate, so the reservoir has a time base like any device
    rate_hz: float = Field(100.0, gt=0, allow_inf_nan=False)
    #: |u| above this is refused (a stand-in for an actuator's range)
    input_limit: float = Field(1e3, gt=0, allow_inf_nan=False)
    seed: int = 0


def _spectral_radius(W: sp.csr_matrix | np.ndarray) -> float:
    n = W.shape[0]
    if n <= 1500:
        dense = W.toarray() if sp.issparse(W) else W
        return float(np.max(np.abs(np.linalg.eigvals(dense))))
    from scipy.sparse.linalg import eigs

    return float(np.abs(eigs(sp.csr_matrix(W), k=1, which="LM", return_eigenvectors=False))[0])


def _check_memory(p: ESNParams) -> None:
    """ResourceError before drawing a W the machine cannot hold (n_units allows 100,000:
    a dense one is 80 GB), with the estimate and the memory available."""
    from physres.errors import ResourceError
    from physres.readout.stats import available_memory_bytes

    n2 = float(p.n_units) ** 2
    if p.topology == "orthogonal":
        need = 3 * 8 * n2  # the Gaussian draw, Q and R
    else:  # COO draw (value, row, col) and its CSR copy; dense too above density 0.3
        need = 40 * p.density * n2 + (8 * n2 if p.density > 0.3 else 0)
    avail = available_memory_bytes()
    if avail is not None and need > avail:
        raise ResourceError(
            f"sim.esn: {p.n_units:,} units ({p.topology}, density {p.density:g}) need about "
            f"{need / 2**30:.1f} GiB for the weights but {avail / 2**30:.1f} GiB are "
            "available; use fewer units or a lower density"
        )


def make_weights(p: ESNParams) -> tuple[sp.csr_matrix | np.ndarray, np.ndarray, np.ndarray]:
    """(W, W_in, bias) drawn from ``p.seed``; W is scaled to ``p.spectral_radius``."""
    _check_memory(p)
    ss = np.random.SeedSequence(p.seed)
    rng_w, rng_in, rng_b = (np.random.default_rng(s) for s in ss.spawn(3))
    n = p.n_units
    if p.topology == "orthogonal":
        q, r = np.linalg.qr(rng_w.standard_normal((n, n)))
        W: sp.csr_matrix | np.ndarray = q * np.sign(np.diag(r)) * p.spectral_radius
    else:
        W = sp.random(n, n, density=p.density, random_state=rng_w, data_rvs=rng_w.standard_normal)
        W = sp.csr_matrix(W)
        rho = _spectral_radius(W)
        if rho > 0:
            W = W * (p.spectral_radius / rho)
        if p.density > 0.3:
            W = W.toarray()
    shape = (n, p.n_inputs)
    if p.input_distribution == "bernoulli":
        win = rng_in.choice([-1.0, 1.0], size=shape)
    else:
        win = rng_in.uniform(-1.0, 1.0, size=shape)
    if p.input_density < 1:
        win *= rng_in.random(shape) < p.input_density
    bias = rng_b.uniform(-1.0, 1.0, size=n) * p.bias_scaling
    return W, win * p.input_scaling, bias


def run_chunk(
    x: np.ndarray,
    drive: np.ndarray,
    W: sp.csr_matrix | np.ndarray,
    leak: float,
    activation: str = "tanh",
) -> np.ndarray:
    """States for a chunk: ``x_t = (1-a) x_{t-1} + a f(W x_{t-1} + drive_t)``.

    ``drive`` is the input projection plus bias (and noise) for every step,
    computed for the whole chunk at once; only the recurrence is sequential.
    """
    T = drive.shape[0]
    out = np.empty((T, x.shape[0]))
    f = np.tanh if activation == "tanh" else (lambda z: z)
    for t in range(T):
        pre = W @ x + drive[t]
        x = f(pre) if leak == 1.0 else (1.0 - leak) * x + leak * f(pre)
        out[t] = x
    return out


class ESN(Device):
    """``sim.esn``: input ``u`` (n_inputs,), state stream ``state`` (n_units,)."""

    Params = ESNParams
    default_kind = "sim.esn"
    clock = "stepped"
    params: ESNParams

    def __init__(self, name: str | None = None, *, mock: bool = False, **params: object) -> None:
        super().__init__(name or "esn", mock=mock, **params)
        self._weights: tuple | None = None
        self._x = np.zeros(self.params.n_units)
        self._pending = PendingChunk(np.zeros((0, self.params.n_units)))
        self._noise_rng = np.random.default_rng(self.params.seed)

    def describe(self) -> Description:
        p = self.params
        return self._description(
            streams=[
                StreamSpec(
                    name="state",
                    dtype="<f8",
                    shape=(p.n_units,),
                    rate_hz=p.rate_hz,
                    carries="state",
                    units="a.u.",
                    doc="reservoir activations",
                )
            ],
            inputs=[
                InputSpec.analog(
                    p.n_inputs,
                    rate_hz=p.rate_hz,
                    limit=p.input_limit,
                    doc="input drive, one row per step",
                )
            ],
            meta={"params": p.model_dump()},
        )

    @property
    def weights(self) -> tuple:
        if self._weights is None:
            self._weights = make_weights(self.params)
        return self._weights

    def _connect(self) -> None:
        _ = self.weights

    def _apply(self, inputs: dict[str, np.ndarray]) -> None:
        W, win, bias = self.weights
        u = inputs["u"]
        drive = u @ win.T + bias
        if self.params.noise:
            drive += self._noise_rng.standard_normal(drive.shape) * self.params.noise
        states = run_chunk(self._x, drive, W, self.params.leak_rate, self.params.activation)
        if len(states):
            self._x = states[-1].copy()
        self._pending.add(states, self._clock_ns)
        self._clock_ns += round(len(u) * 1e9 / self.params.rate_hz)

    def _read(self) -> dict[str, Chunk]:
        return {"state": self._pending.take(self._clock_ns)}

    def _reset(self, seed: int | None) -> None:
        self._x = np.zeros(self.params.n_units)
        self._pending.clear()
        self._noise_rng = np.random.default_rng(self.params.seed if seed is None else seed)

    @property
    def state(self) -> np.ndarray:
        """The current state vector (a copy)."""
        return self._x.copy()
