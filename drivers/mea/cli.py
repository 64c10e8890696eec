"""``physres mea replay-file OUT.h5``: a simulated culture as a cl-sdk replay recording.

The source is any MEA kind that publishes ``raw`` (``sim.mea`` by default),
built through the registry and driven without stimulation; its raw voltage
and spikes go to :func:`~physres.drivers.mea.cl1_replay.write_replay`.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

__all__ = ["record_source", "register"]


def record_source(
    kind: str, seconds: float, *, seed: int = 0, params: dict[str, Any] | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Drive MEA ``kind`` with no stimulation for ``seconds``: (raw µV, spikes, provenance)."""
    from physres import registry
    from physres.errors import ConfigError
    from physres.mea.params import MEAParams

    if not seconds > 0:
        raise ConfigError(f"--seconds {seconds}: must be > 0")
    cls, _ = registry.resolve(kind)
    if not issubclass(cls.Params, MEAParams):
        raise ConfigError(f"--kind {kind} is no MEA kind (sim.mea, drivers.cl1...): no raw voltage")
    dev = registry.create(kind, "source", {**(params or {}), "raw": True})
    p = dev.params
    steps = round(seconds * 1000 / p.step_ms)
    raw: list[np.ndarray] = []
    spikes: list[np.ndarray] = []
    with dev:
        dev.reset(seed)
        zeros = np.zeros((min(steps, 100), len(p.stim_electrodes)))
        done = 0
        while done < steps:
            n = min(100, steps - done)
            dev.apply({"stim": zeros[:n]})
            got = dev.read()
            raw.append(got["raw"].data)
            spikes.append(got["spikes"].data)
            done += n
    provenance = {"source": "physres", "kind": kind, "seed": seed, "seconds": seconds}
    return np.concatenate(raw), np.concatenate(spikes), provenance


def _parse_param(text: str) -> tuple[str, Any]:
    import yaml

    from physres.errors import ConfigError

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--param {text!r}: expected KEY=VALUE")
    return key, yaml.safe_load(value)


def _cmd_replay_file(args: argparse.Namespace) -> int:
    from physres.drivers.mea.cl1_replay import write_replay

    params = dict(_parse_param(t) for t in args.param)
    raw, spikes, provenance = record_source(args.kind, args.seconds, seed=args.seed, params=params)
    r = write_replay(args.out, raw, spikes, attributes={**provenance, "params": str(params)})
    print(
        f"wrote {r.path}: {r.seconds:g} s, 64 channels at 25 kHz, {r.spikes} spikes "
        f"({r.spikes_at_edges} too close to an end, {r.clipped} samples clipped); "
        f"replay it with CL_MOCK_REPLAY_PATH={r.path} or `replay:` in a drivers.cl1 config"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    mea = sub.add_parser("mea", help="MEA tools: cl-sdk replay files of a simulated culture")
    cmds = mea.add_subparsers(dest="mea_command", metavar="COMMAND", required=True)
    p = cmds.add_parser(
        "replay-file",
        help="write a simulated culture's activity as a cl-sdk replay recording (.h5)",
        description="Drive an MEA kind (default sim.mea) without stimulation and write its raw "
        "voltage and spikes through cl-sdk's own cl.recording.Recording, so cl-sdk (and "
        "drivers.cl1 on it) replays a culture with bursts. Replay is open-loop: stimulation "
        "does not change it.",
    )
    p.add_argument("out", metavar="OUT.h5", help="the recording to write")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the recording")
    p.add_argument("--kind", default="sim.mea", help="the MEA kind to record (64 channels)")
    p.add_argument("--seed", type=int, default=0, help="the culture's seed (reset(seed))")
    p.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="a param of the kind"
    )
    p.set_defaults(func=_cmd_replay_file)
