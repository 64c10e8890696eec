"""NIR graphs onto the chip and back: import (quantise, place, check) and export.

NIR (the Neuromorphic Intermediate Representation, ``nir`` on PyPI) is how
Rockpool, Sinabs, Lava, snnTorch and Norse exchange trained networks. A graph
of ``Input`` → ``Affine``/``Linear`` → ``LIF``/``CubaLIF`` (→ weights → more
neurons, recurrence included) → ``Output`` maps onto the chip as follows:

* each neuron node becomes one population on a core of its own (the chip
  sets time constants and threshold per core, so a node's ``tau``,
  ``v_threshold`` and ``r`` must be uniform; DPI currents leak to zero, so
  ``v_leak`` and ``v_reset`` must be 0);
* the membrane ``v`` becomes the membrane current ``I_mem = s·v`` with
  ``s = I_thr / v_threshold`` (the threshold bias sets the scale);
* a weight ``W`` into a CubaLIF is a synaptic-current jump of about
  ``s·r·w_in·W/τ_syn``, exactly the one whose charge on the clocked chip
  equals the continuous model's (a LIF gets a fast synapse, ``τ_syn`` = 2
  steps, carrying the same charge); each core gets one weight bias per sign
  (positive: AMPA, negative: GABA_A with the same τ), chosen so the largest
  jump is the top level, and every weight is rounded to an integer level;
  weights that round to 0 are dropped, and counted;
* an ``Input`` dimension is an input channel (a spike source): its weights
  become repeated input events (a level-3 weight is three events);
* an ``Affine`` bias becomes the core's DC bias (uniform and ≥ 0 only).

What cannot map is refused naming the node and why. Mismatch is the chip's
(the emulator draws it at run time). :func:`to_nir` exports a configuration
back: one CubaLIF per used core, Linear weights between them, the ideal
(mismatch-free) values; ``metadata["physres_chip"]`` carries the
configuration itself, so an exported graph imports back to an equal one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from physres.errors import ConfigError
from physres.neuro import dac
from physres.neuro.chips import CHIPS, ChipModel
from physres.neuro.config import ChipConfig, CoreBiases, load_chip_config

__all__ = ["NirMapping", "from_nir", "to_nir"]

_NEURONS = ("LIF", "CubaLIF")
_WEIGHTS = ("Affine", "Linear")
#: a node's per-neuron parameters may vary this much (relative) and still share a core
_UNIFORM = 1e-6
#: a LIF's synapse on the chip lasts this many steps (its charge is what counts)
_LIF_SYN_STEPS = 2.0


@dataclass
class NirMapping:
    """Where a NIR graph landed: the configuration, populations and what quantising cost."""

    config: ChipConfig
    #: node name → global neuron ids of its population, in the node's order
    populations: dict[str, np.ndarray]
    #: node name → current per unit of v (pA per v unit): I_mem = scale · v
    scale: dict[str, float]
    #: node name → synaptic-current jump (pA) per unit of NIR weight into it
    gain: dict[str, float]
    n_inputs: int
    #: largest relative error of a kept weight after rounding to a level
    max_weight_error: float = 0.0
    #: nonzero weights that rounded to level 0 and were dropped
    dropped_weights: int = 0
    notes: list[str] = field(default_factory=list)


def _nir() -> Any:
    try:
        import nir
    except ImportError as e:  # pragma: no cover - nir is in the neuro extra
        raise ConfigError(
            "NIR import/export needs the nir package: pip install physres[neuro]"
        ) from e
    return nir


def _uniform(node_name: str, what: str, values: Any) -> float:
    v = np.asarray(values, np.float64).reshape(-1)
    if not v.size:
        raise ConfigError(f"NIR node {node_name!r}: {what} is empty")
    ref = float(v[0])
    if np.any(np.abs(v - ref) > _UNIFORM * max(abs(ref), 1e-12)):
        raise ConfigError(
            f"NIR node {node_name!r}: {what} varies across neurons ({v.min():g}..{v.max():g}); "
            "the chip sets it once per core"
        )
    return ref


def _code_for_current(i_amp: float) -> tuple[int, int]:
    """The (coarse, fine) code nearest a current (A), preferring the finest range."""
    best: tuple[float, int, int] | None = None
    for c, top in enumerate(dac.COARSE_A):
        f = int(np.clip(round(i_amp / top * dac.FINE_MAX), 1, dac.FINE_MAX))
        err = abs(np.log(top * f / dac.FINE_MAX / i_amp))
        if best is None or err < best[0] - 1e-12:
            best = (err, c, f)
    assert best is not None
    return best[1], best[2]


def from_nir(
    graph: Any, chip: str = "dynapse", *, threshold_code: tuple[int, int] = (2, 128)
) -> NirMapping:
    """Place and quantise a NIR graph on ``chip`` (see the module docstring)."""
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise ConfigError(f"expected a nir.NIRGraph, got {type(graph).__name__}")
    meta = graph.metadata or {}
    if "physres_chip" in meta:  # our own export: the configuration itself
        data = meta["physres_chip"]
        if isinstance(data, bytes):
            data = data.decode()
        cfg = load_chip_config(json.loads(data) if isinstance(data, str) else data)
        return _mapping_of_export(cfg, graph)
    model = CHIPS[chip]
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    for name, k in kinds.items():
        if k not in (*_NEURONS, *_WEIGHTS, "Input", "Output"):
            raise ConfigError(
                f"NIR node {name!r} is a {k}: only Input, Output, LIF, CubaLIF, Affine and "
                "Linear map onto the chip"
            )
    pops = [n for n, k in kinds.items() if k in _NEURONS]
    inputs = [n for n, k in kinds.items() if k == "Input"]
    if len(inputs) != 1:
        raise ConfigError(f"the NIR graph needs exactly one Input node, has {inputs}")
    if len(pops) > model.n_cores:
        raise ConfigError(
            f"NIR node {pops[model.n_cores]!r}: no free core ({model.name} has {model.n_cores} "
            f"cores, one per neuron node; the graph has {len(pops)} neuron nodes)"
        )
    in_name = inputs[0]
    n_in = int(np.prod(graph.nodes[in_name].input_type["input"]))
    # ------------------------------------------------------ place populations
    population: dict[str, np.ndarray] = {}
    core_of: dict[str, int] = {}
    for k, name in enumerate(pops):
        node = graph.nodes[name]
        size = int(np.asarray(node.v_threshold).size)
        if size > model.neurons_per_core:
            raise ConfigError(
                f"NIR node {name!r}: {size} neurons, over a core's {model.neurons_per_core}"
            )
        core_of[name] = k
        population[name] = k * model.neurons_per_core + np.arange(size)
    # ------------------------------------------------------ per-core physics
    dt = model.dt_us * 1e-6
    thr_amp = dac.current(*threshold_code)
    cores = [CoreBiases(dc=(0, 0), thr=threshold_code) for _ in range(model.n_cores)]
    scale: dict[str, float] = {}
    tau_syn: dict[str, float] = {}
    gain: dict[str, float] = {}  # chip pA of synaptic jump per unit NIR weight
    for name in pops:
        node = graph.nodes[name]
        cuba = type(node).__name__ == "CubaLIF"
        tau_m = _uniform(name, "tau_mem" if cuba else "tau", node.tau_mem if cuba else node.tau)
        v_thr = _uniform(name, "v_threshold", node.v_threshold)
        r = _uniform(name, "r", node.r)
        for what in ("v_leak", "v_reset"):
            if np.any(np.asarray(getattr(node, what)) != 0):
                raise ConfigError(
                    f"NIR node {name!r}: {what} must be 0 (a DPI membrane current leaks to zero "
                    "and resets to zero)"
                )
        if v_thr <= 0 or r <= 0:
            raise ConfigError(f"NIR node {name!r}: v_threshold and r must be > 0")
        ts = _uniform(name, "tau_syn", node.tau_syn) if cuba else _LIF_SYN_STEPS * dt
        w_in = _uniform(name, "w_in", node.w_in) if cuba else 1.0
        s = thr_amp * 1e12 / v_thr
        scale[name] = s
        tau_syn[name] = ts
        tau_codes = {
            "tau_mem": dac.fine_for("tau_mem", tau_m, model.acceleration),
            "tau_ampa": dac.fine_for("tau_ampa", ts, model.acceleration),
            "tau_gaba_a": dac.fine_for("tau_gaba_a", ts, model.acceleration),
            # the shortest refractory the DAC gives (ns): NIR neurons have none
            "refractory": (7, 255),
        }
        cores[core_of[name]] = cores[core_of[name]].model_copy(update=tau_codes)
        # the jump whose charge, as the clocked chip integrates it (the synapse decays
        # by a each step, the membrane takes 1 − a_m of its drive), is r·w_in·W/τ_mem
        # in v: the continuous CubaLIF's; with the time constants the DAC codes give
        a = np.exp(
            -dt
            / dac.time_constant("tau_ampa", dac.current(*tau_codes["tau_ampa"]), model.acceleration)
        )
        a_m = np.exp(
            -dt
            / dac.time_constant("tau_mem", dac.current(*tau_codes["tau_mem"]), model.acceleration)
        )
        gain[name] = s * r * w_in * (1 - a) / (a * tau_m * (1 - a_m))
    # ------------------------------------------------------ weights
    edges = list(graph.edges)
    incoming: dict[str, list[tuple[str, np.ndarray, np.ndarray | None]]] = {n: [] for n in pops}
    outputs: list[int] = []
    for src, dst in edges:
        ks, kd = kinds[src], kinds[dst]
        if kd == "Output":
            if ks not in _NEURONS:
                raise ConfigError(f"NIR edge {src!r} → {dst!r}: an Output must follow neurons")
            outputs += population[src].tolist()
            continue
        if ks in _WEIGHTS and kd in _NEURONS:
            sources = [s for s, d in edges if d == src]
            if len(sources) != 1 or kinds[sources[0]] not in (*_NEURONS, "Input"):
                raise ConfigError(
                    f"NIR node {src!r}: a weight node needs one source, an Input or neurons "
                    f"(has {sources})"
                )
            w = np.asarray(graph.nodes[src].weight, np.float64)
            bias = np.asarray(graph.nodes[src].bias, np.float64) if ks == "Affine" else None
            incoming[dst].append((sources[0], w, bias))
        elif ks in ("Input", *_NEURONS) and kd in _NEURONS:
            n = population[dst].size
            incoming[dst].append((src, np.eye(n), None))
        elif ks in ("Input", *_NEURONS) and kd in _WEIGHTS:
            continue  # handled from the weight node's side
        else:
            raise ConfigError(f"NIR edge {src!r} ({ks}) → {dst!r} ({kd}) cannot map to the chip")
    connections: list[dict[str, Any]] = []
    input_maps: list[dict[str, Any]] = []
    max_err = 0.0
    dropped = 0
    lv = model.max_weight_level
    for dst in pops:
        core = core_of[dst]
        jumps = []
        for src, w, bias in incoming[dst]:
            n_src = n_in if kinds[src] == "Input" else population[src].size
            if w.shape != (population[dst].size, n_src):
                raise ConfigError(
                    f"NIR node {dst!r}: weights of shape {w.shape} from {src!r}; expected "
                    f"({population[dst].size}, {n_src})"
                )
            jumps.append(w * gain[dst])
            if bias is not None and np.any(bias != 0):
                b = _uniform(dst, "the Affine bias into it", bias)
                if b < 0:
                    raise ConfigError(
                        f"NIR node {dst!r}: a negative Affine bias ({b:g}) has no DC bias to "
                        "map to (the chip's DC current is ≥ 0)"
                    )
                node = graph.nodes[dst]
                r = float(np.asarray(node.r).reshape(-1)[0])
                w_in = (
                    float(np.asarray(node.w_in).reshape(-1)[0])
                    if type(node).__name__ == "CubaLIF"
                    else 1.0
                )
                dc_amp = scale[dst] * r * w_in * b * 1e-12
                cores[core] = cores[core].model_copy(update={"dc": _code_for_current(dc_amp)})
        biases: dict[str, float] = {}
        updates: dict[str, tuple[int, int]] = {}
        for sign, syn in ((1, "ampa"), (-1, "gaba_a")):
            top = max((float(np.max(sign * j, initial=0.0)) for j in jumps), default=0.0)
            if top <= 0:
                continue
            code = _code_for_current(top / lv * 1e-12)
            updates[f"w_{syn}"] = code
            biases[syn] = float(dac.current(*code)) * 1e12
        cores[core] = cores[core].model_copy(update=updates)
        for (src, _, _), j in zip(incoming[dst], jumps):
            for syn, sign in (("ampa", 1), ("gaba_a", -1)):
                if syn not in biases:
                    continue
                mag = np.where(sign * j > 0, sign * j, 0.0)
                level = np.clip(np.rint(mag / biases[syn]), 0, lv).astype(np.int64)
                dropped += int(((mag > 0) & (level == 0)).sum())
                kept = level > 0
                if kept.any():
                    err = np.abs(level[kept] * biases[syn] - mag[kept]) / mag[kept]
                    max_err = max(max_err, float(err.max()))
                ti, sj = np.nonzero(level)
                for i, jj in zip(ti.tolist(), sj.tolist()):
                    tgt = int(population[dst][i])
                    if kinds[src] == "Input":
                        input_maps.append(
                            {
                                "channel": jj,
                                "targets": [tgt],
                                "syn": syn,
                                "weight": int(level[i, jj]),
                            }
                        )
                    else:
                        connections.append(
                            {
                                "source": int(population[src][jj]),
                                "target": tgt,
                                "syn": syn,
                                "weight": int(level[i, jj]),
                            }
                        )
    if not input_maps:
        raise ConfigError(f"NIR Input {in_name!r} reaches no neuron through nonzero weights")
    channels = {m["channel"] for m in input_maps}
    missing = sorted(set(range(n_in)) - channels)
    if missing:  # keep channel numbering: an unused channel still exists
        raise ConfigError(
            f"NIR Input {in_name!r}: input channel {missing[0]} reaches no neuron (all its "
            "weights round to 0); raise them or drop the channel"
        )
    cfg = load_chip_config(
        {
            "chip": model.name,
            "cores": [c.model_dump() for c in cores],
            "connections": connections,
            "inputs": input_maps,
            "input_weight": 1,
            "outputs": sorted(set(outputs)) or None,
        }
    )
    return NirMapping(cfg, population, scale, gain, n_in, max_err, dropped)


def _used_cores(cfg: ChipConfig) -> list[int]:
    m = cfg.model
    conn = cfg.connectivity()
    ids = np.concatenate(
        [conn.source, conn.target, *[np.asarray(im.targets, np.int64) for im in cfg.input_maps()]]
    )
    return sorted(set((ids // m.neurons_per_core).tolist()))


def to_nir(cfg: ChipConfig) -> Any:
    """The configured reservoir as a NIR graph (ideal values; see the module docstring).

    Units: v is the membrane current over the core's threshold (threshold 1,
    r = 1); a weight is the synaptic charge it delivers over the threshold,
    ``level · I_w · τ_syn / I_thr``. Each used core is one CubaLIF node
    ``core<k>`` of all its 256 neurons (τ_syn from its AMPA bias; inhibitory
    weights are negative, with GABA_A's τ taken as equal), read by an Output
    ``output<k>`` where the core has output neurons.
    """
    nir = _nir()
    m: ChipModel = cfg.model
    npc = m.neurons_per_core
    used = _used_cores(cfg)
    biases = cfg.core_biases()
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    n_in = cfg.n_input_channels
    nodes["input"] = nir.Input(input_type={"input": np.array([n_in])})
    jump: dict[int, np.ndarray] = {}  # core → (types,) charge per level over threshold
    for k in used:
        b = biases[k]
        cur = {n: float(dac.current(*getattr(b, n))) for n in type(b).model_fields}
        tau_m = dac.time_constant("tau_mem", cur["tau_mem"], m.acceleration)
        tau_s = dac.time_constant("tau_ampa", cur["tau_ampa"], m.acceleration)
        thr = cur["thr"]
        jump[k] = np.array(
            [
                (-1 if s.startswith("gaba") else 1) * cur[f"w_{s}"] * tau_s / thr
                for s in m.synapse_types
            ]
        )
        ones = np.ones(npc)
        nodes[f"core{k}"] = nir.CubaLIF(
            tau_syn=ones * tau_s,
            tau_mem=ones * tau_m,
            r=ones.copy(),
            v_leak=np.zeros(npc),
            v_threshold=ones.copy(),
            v_reset=np.zeros(npc),
            w_in=ones.copy(),
        )
    conn = cfg.connectivity()
    for a in used:
        for b in used:
            sel = (conn.source // npc == a) & (conn.target // npc == b)
            if not sel.any():
                continue
            w = np.zeros((npc, npc))
            np.add.at(
                w,
                (conn.target[sel] % npc, conn.source[sel] % npc),
                conn.weight[sel] * jump[b][conn.syn[sel]],
            )
            name = f"w_core{a}_core{b}"
            nodes[name] = nir.Linear(weight=w)
            edges += [(f"core{a}", name), (name, f"core{b}")]
    for b in used:
        w = np.zeros((npc, n_in))
        for im in cfg.input_maps():
            t = np.asarray(im.targets, np.int64)
            t = t[t // npc == b]
            w[t % npc, im.channel] += cfg.input_weight * im.weight * jump[b][m.syn_index(im.syn)]
        if w.any():
            name = f"w_input_core{b}"
            nodes[name] = nir.Linear(weight=w)
            edges += [("input", name), (name, f"core{b}")]
    # NIR cannot pick neurons out of a node: an Output per core with output neurons
    # takes the whole core (the exact output list travels in the metadata)
    for k in sorted(set((cfg.output_neurons() // npc).tolist()) & set(used)):
        nodes[f"output{k}"] = nir.Output(output_type={"output": np.array([npc])})
        edges.append((f"core{k}", f"output{k}"))
    return nir.NIRGraph(
        nodes=nodes,
        edges=edges,
        metadata={"physres_chip": json.dumps(cfg.to_yaml_data())},  # a string: HDF5 keeps it
        type_check=False,
    )


def _mapping_of_export(cfg: ChipConfig, graph: Any) -> NirMapping:
    npc = cfg.model.neurons_per_core
    pops = {
        name: int(name[4:]) * npc + np.arange(npc)
        for name in graph.nodes
        if name.startswith("core") and name[4:].isdigit()
    }
    thr = {name: float(dac.current(*cfg.core_biases()[int(name[4:])].thr)) * 1e12 for name in pops}
    return NirMapping(cfg, pops, thr, {}, cfg.n_input_channels)
