"""A network built with the nir API runs on the emulated chip and spikes as the NIR
equations say (within what quantising its weights costs); what cannot map is
refused naming the node; a configured chip exports to NIR and imports back equal."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest

from physres.errors import ConfigError
from physres.neuro import ChipConfig, RateEncoder
from physres.neuro.nirgraph import NirMapping, from_nir, to_nir
from physres.sim.neuromorphic import Chip

N, N_IN = 6, 2
TAU_MEM, TAU_SYN = 0.02, 0.005


def _graph(w_in: np.ndarray, w_rec: np.ndarray, **lif: np.ndarray) -> nir.NIRGraph:
    """Input → Affine → CubaLIF (↺ Linear) → Output, as a trained network would export."""
    ones = np.ones(N)
    params = {
        "tau_syn": ones * TAU_SYN,
        "tau_mem": ones * TAU_MEM,
        "r": ones.copy(),
        "v_leak": np.zeros(N),
        "v_threshold": ones.copy(),
        "w_in": ones.copy(),
    } | lif
    return nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type={"input": np.array([N_IN])}),
            "fc": nir.Affine(weight=w_in, bias=np.zeros(N)),
            "lif": nir.CubaLIF(**params),
            "rec": nir.Linear(weight=w_rec),
            "out": nir.Output(output_type={"output": np.array([N])}),
        },
        edges=[("in", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")],
    )


def _weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w_rec = rng.uniform(0.0, 0.003, (N, N))
    np.fill_diagonal(w_rec, 0)
    return rng.uniform(0.002, 0.006, (N, N_IN)), w_rec


def _input_spikes(dt_us: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """80 Hz Poisson spikes per input channel, on the chip's step grid."""
    rng = np.random.default_rng(1)
    n_steps = int(seconds * 1e6 / dt_us)
    t, ch = [], []
    for c in range(N_IN):
        k = np.flatnonzero(rng.random(n_steps) < 80 * dt_us * 1e-6)
        t.append(k * dt_us)
        ch.append(np.full(k.size, c))
    tt, cc = np.concatenate(t), np.concatenate(ch)
    order = np.argsort(tt, kind="stable")
    return tt[order], cc[order]


def _reference(
    w_in: np.ndarray, w_rec: np.ndarray, t: np.ndarray, ch: np.ndarray, dt_us: float, T: float
) -> np.ndarray:
    """Spike counts of the NIR CubaLIF equations, integrated exactly on a 10× finer grid:
    τ_syn dI/dt = −I + w_in·W·x(t), τ_mem dv/dt = −v + r·I, spike at v > v_threshold."""
    sub = 10
    h = dt_us * 1e-6 / sub
    ds, dm = np.exp(-h / TAU_SYN), np.exp(-h / TAU_MEM)
    i_syn, v = np.zeros(N), np.zeros(N)
    fired = np.zeros(N, bool)
    counts = np.zeros(N, np.int64)
    step_of = np.rint(t / dt_us).astype(np.int64)
    ptr = 0
    for k in range(int(T * 1e6 / dt_us)):
        x = np.zeros(N_IN)
        while ptr < len(step_of) and step_of[ptr] == k:
            x[ch[ptr]] += 1
            ptr += 1
        i_syn += (w_in @ x + w_rec @ fired) / TAU_SYN  # a spike arrives one step later
        fired[:] = False
        for _ in range(sub):
            i_syn *= ds
            v = v * dm + (1 - dm) * i_syn
            spk = v > 1.0
            v[spk] = 0.0
            fired |= spk
            counts += spk
    return counts


def _run_on_chip(
    m: NirMapping, t: np.ndarray, ch: np.ndarray, T: float, **chip: object
) -> np.ndarray:
    cfg = m.config
    c = Chip(cfg, **chip)  # type: ignore[arg-type]
    ev = RateEncoder(cfg.input_maps(), cfg.model).expand(t, ch)
    out, _ = c.run(ev, T * 1e6)
    g = out["core"].astype(np.int64) * cfg.model.neurons_per_core + out["neuron"]
    pop = m.populations["lif"]
    return np.array([(g == i).sum() for i in pop])


def _dequantised(m: NirMapping, w_in: np.ndarray, w_rec: np.ndarray) -> tuple[np.ndarray, ...]:
    """The weights the chip really has, in NIR units (level × weight bias / gain)."""
    from physres.neuro import dac

    cfg = m.config
    b = cfg.core_biases()[0]
    unit = {s: float(dac.current(*getattr(b, f"w_{s}"))) * 1e12 for s in ("ampa", "gaba_a")}
    sign = {"ampa": 1.0, "gaba_a": -1.0}
    g = m.gain["lif"]
    q_in, q_rec = np.zeros_like(w_in), np.zeros_like(w_rec)
    for im in cfg.input_maps():
        for tgt in im.targets:
            q_in[tgt, im.channel] += sign[im.syn] * im.weight * unit[im.syn] / g
    conn = cfg.connectivity()
    for s, tgt, syn, lv in zip(conn.source, conn.target, conn.syn, conn.weight):
        name = cfg.model.synapse_types[syn]
        q_rec[tgt, s] += sign[name] * lv * unit[name] / g
    return q_in, q_rec


def test_a_nir_network_spikes_on_the_chip_as_its_equations_say_within_quantisation() -> None:
    w_in, w_rec = _weights()
    m = from_nir(_graph(w_in, w_rec))
    cfg = m.config
    assert m.populations["lif"].tolist() == list(range(N)) and m.n_inputs == N_IN
    assert 0 < m.max_weight_error < 0.5  # 15 levels: small weights round coarsely
    assert np.all(np.bincount(cfg.connectivity().target, minlength=N)[:N] <= cfg.model.slots)
    T = 2.0
    dt = cfg.model.dt_us
    t, ch = _input_spikes(dt, T)
    chip = _run_on_chip(m, t, ch, T, mismatch=False, noise=0.0)
    exact = _reference(w_in, w_rec, t, ch, dt, T)
    quant = _reference(*_dequantised(m, w_in, w_rec), t, ch, dt, T)
    assert exact.sum() > 50  # the network is driven, not silent
    # against the quantised weights the chip is exact but for its clock (a spike or two)
    assert np.all(np.abs(chip - quant) <= 2 + 0.05 * quant), (chip, quant)
    # against the trained weights, the difference is what rounding the weights made it
    assert np.all(np.abs(chip - exact) <= 2 + np.abs(quant - exact) + 0.05 * exact), (chip, exact)
    # mismatch (15 % on every parameter) moves each neuron, and the network stays alive
    mism = _run_on_chip(m, t, ch, T, mismatch=True, noise=0.0, chip_seed=3)
    assert not np.array_equal(mism, chip) and mism.sum() > 0.3 * chip.sum()


def test_an_exported_chip_imports_back_equal_through_a_nir_file(tmp_path: Path) -> None:
    cfg = ChipConfig(
        reservoir={"n_neurons": 300, "fan_in": 12, "seed": 2},
        inputs={"n_channels": 2, "n_neurons": 300, "fraction": 0.1},
        cores=[{"thr": (2, 100)}, {"tau_ampa": (2, 80)}, {}, {}],
    )
    graph = to_nir(cfg)
    assert {"input", "core0", "core1", "output0", "output1"} <= set(graph.nodes)
    assert "core2" not in graph.nodes  # unused cores are not exported
    w = graph.nodes["w_core0_core1"].weight
    assert w.shape == (256, 256) and np.count_nonzero(w) > 0
    assert (w < 0).any() and (w > 0).any()  # inhibitory and excitatory synapses
    path = tmp_path / "chip.nir"
    nir.write(path, graph)
    back = from_nir(nir.read(path)).config
    assert back.model_dump() == cfg.model_dump()
    a, b = back.connectivity(), cfg.connectivity()
    assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("source", "target", "weight"))


def test_what_cannot_map_is_refused_naming_the_node_and_why() -> None:
    w_in, w_rec = _weights()
    with pytest.raises(ConfigError, match=r"'lif': v_leak must be 0"):
        from_nir(_graph(w_in, w_rec, v_leak=np.full(N, 0.1)))
    with pytest.raises(ConfigError, match=r"'lif': tau_mem varies across neurons"):
        from_nir(_graph(w_in, w_rec, tau_mem=np.linspace(0.01, 0.03, N)))
    g = _graph(w_in, w_rec)
    g.nodes["fc"] = nir.Affine(weight=w_in, bias=np.full(N, -0.5))
    with pytest.raises(ConfigError, match=r"'lif': a negative Affine bias"):
        from_nir(g)
    conv = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type={"input": np.array([1, 8, 8])}),
            "conv": nir.Conv2d(
                input_shape=(8, 8),
                weight=np.ones((2, 1, 3, 3)),
                stride=1,
                padding=0,
                dilation=1,
                groups=1,
                bias=np.zeros(2),
            ),
            "out": nir.Output(output_type={"output": np.array([2, 6, 6])}),
        },
        edges=[("in", "conv"), ("conv", "out")],
    )
    with pytest.raises(ConfigError, match=r"'conv' is a Conv2d: only Input, Output, LIF"):
        from_nir(conv)
    big = _graph(w_in, w_rec)
    with pytest.raises(ConfigError, match=r"no free core \(brainscales2 has 2 cores"):
        nodes = dict(big.nodes)
        for k in range(2):
            nodes[f"lif{k}"] = big.nodes["lif"]
        from_nir(nir.NIRGraph(nodes=nodes, edges=big.edges, type_check=False), "brainscales2")


def test_physres_export_nir_writes_the_chip_of_a_run_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from physres.cli import main

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "xor_chip.nir"
    assert (
        main(["export", "nir", str(root / "examples/neuromorphic_xor.yaml"), "--out", str(out)])
        == 0
    )
    assert "core0" in capsys.readouterr().out
    back = from_nir(nir.read(out)).config
    assert back.reservoir is not None and back.reservoir.n_neurons == 256
    bad = tmp_path / "chip.yaml"
    bad.write_text("chip: dynapse\nreservoir: {n_neurons: 10, fan_in: 20}\n")
    assert main(["export", "nir", str(bad), "--out", str(out)]) != 0
    assert "fan_in 20 over the limit 9" in capsys.readouterr().err
