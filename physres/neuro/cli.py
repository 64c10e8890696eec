"""``physres export nir``: a chip configuration (or a run config's chip) as a NIR file.

Registered in the ``physres.export`` entry-point group, beside ``topic``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from physres.errors import ConfigError

__all__ = ["chip_of", "register"]


def chip_of(path: Path, device: str | None = None) -> Any:
    """The ChipConfig a file describes: a chip YAML, or a run config's neuromorphic device."""
    from physres.config import load_config
    from physres.neuro.config import load_chip_config
    from physres.neuro.params import NeuroParams

    try:
        head = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        head = None  # load_config below says what is wrong, in one line
    if not (isinstance(head, dict) and "devices" in head):
        return load_chip_config(path)
    cfg = load_config(path)
    chips = {n: d for n, d in cfg.devices.items() if d.kind.endswith(".neuromorphic")}
    if device is not None:
        if device not in chips:
            raise ConfigError(
                f"{path}: no neuromorphic device {device!r}; it has {sorted(chips) or 'none'}"
            )
        chips = {device: chips[device]}
    if len(chips) != 1:
        raise ConfigError(
            f"{path}: {len(chips)} neuromorphic devices ({sorted(chips)}); name one with --device"
        )
    (dev,) = chips.values()
    params = dict(dev.params)
    if isinstance(params.get("config"), str):  # a chip file named relative to the run config
        p = Path(params["config"])
        params["config"] = str(p if p.is_absolute() else path.parent / p)
    return NeuroParams(**params).chip


def _cmd(args: argparse.Namespace) -> int:
    import nir

    from physres.neuro.nirgraph import to_nir

    graph = to_nir(chip_of(Path(args.config), args.device))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    nir.write(out, graph)
    cores = sorted(n for n in graph.nodes if n.startswith("core"))
    print(f"wrote {out}: {len(graph.nodes)} nodes ({', '.join(cores)}), {len(graph.edges)} edges")
    return 0


def register(formats: Any) -> None:
    p = formats.add_parser(
        "nir",
        help="a neuromorphic chip configuration (chip YAML or run config) as a NIR graph file",
    )
    p.add_argument("config", help="chip configuration YAML, or a run config with a chip device")
    p.add_argument("--device", help="which neuromorphic device of a run config")
    p.add_argument("--out", required=True, help="output file (.nir, HDF5)")
    p.set_defaults(func=_cmd)
