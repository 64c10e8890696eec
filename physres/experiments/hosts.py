"""Devices on another machine's bus: ``physres serve`` and ``physres keys``.

Host B runs ``physres serve CONFIG``: the config's devices become nodes on the
bus whose broker runs on host A (``bus.host``, or ``PHYSRES_BUS=HOST:PORT``).
Host A runs ``physres run CONFIG`` with the same config: a device that a live
node already serves (``physres ls``) is driven there instead of being started
locally (:func:`served_elsewhere`). Keys: ``physres keys new NAME`` writes a
CURVE key pair; ``allow``/``revoke`` edit the broker's list of accepted keys.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import zmq

from physres import registry
from physres.errors import CommandTimeout, ConfigError

__all__ = ["plan", "register", "serve", "served_elsewhere"]


def served_elsewhere(ctx: zmq.Context, bus: Any, names: Iterable[str]) -> dict[str, dict]:
    """The rows of ``physres ls`` for those of ``names`` a live node already serves."""
    from physres.bus import CommandClient

    wanted = set(names)
    client = CommandClient(ctx, bus)
    try:
        rows = client.call("_broker", "ls", timeout_s=2.0)
    except CommandTimeout:
        return {}
    finally:
        client.close()
    return {
        r["name"]: r
        for r in rows
        if isinstance(r, dict) and r.get("name") in wanted and r.get("state") == "alive"
    }


def plan(cfg: Any, only: Iterable[str] = ()) -> tuple[Any, list[Any]]:
    """The bus to join and the devices to serve, checked before anything starts."""
    from physres import tasks
    from physres.bus import bus_from_env
    from physres.experiments.lifecycle import device_params

    bus = bus_from_env(cfg.bus)
    if bus.transport != "tcp":
        raise ConfigError(
            "physres serve joins a broker on another machine: set bus.transport: tcp and "
            "bus.host in the config, or PHYSRES_BUS=HOST:PORT"
        )
    names = list(only) or list(cfg.devices)
    unknown = [n for n in names if n not in cfg.devices]
    if unknown:
        raise ConfigError(f"--device {unknown}: the config has devices {sorted(cfg.devices)}")
    n_inputs = None
    if cfg.task is not None:  # the device is built exactly as `physres run` builds it
        task = tasks.create(cfg.task.kind, **dict(cfg.task.params))
        n_inputs = task.generate(cfg.seed).n_inputs
    devices = []
    for n in names:
        dc = cfg.devices[n]
        devices.append(registry.create(dc.kind, n, device_params(dc.kind, dc.params, n_inputs)))
    return bus, devices


def serve(
    bus: Any, devices: list[Any], *, stop: threading.Event, say: Callable[[str], object] = print
) -> None:
    """Serve ``devices`` on ``bus`` until ``stop`` is set (see :func:`plan`).

    The broker lives elsewhere: this process starts none. Nodes that lose the
    broker keep heartbeating and are listed again as soon as it is back.
    """
    from physres.device.node import DeviceNode

    ctx = zmq.Context()
    with ExitStack() as stack:
        stack.callback(ctx.destroy, linger=0)
        for d in devices:
            stack.callback(DeviceNode(d, bus, ctx).start().stop)
            say(f"serving {d.name} ({d.kind}) on bus {bus.name!r} at {bus.endpoints.cmd}")
        stop.wait()


def _cmd_serve(args: argparse.Namespace) -> int:
    from physres.config import load_config

    bus, devices = plan(load_config(args.config), args.device or ())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serve(bus, devices, stop=stop)
    return 0


def _cmd_keys(args: argparse.Namespace) -> int:
    from physres.bus.keys import allow_key, new_keys, revoke_key

    if args.keys_cmd == "new":
        pub, sec = new_keys(args.dir, args.name)
        print(f"{pub}  (public: give it to the broker's curve_allowed folder)")
        print(f"{sec}  (secret: stays on this machine; bus.curve_secret or PHYSRES_BUS_KEY)")
    elif args.keys_cmd == "allow":
        print(f"allowed: {allow_key(args.public, args.allowed)}")
    else:
        print(f"revoked: {revoke_key(args.name, args.allowed)} (refused from its next connection)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``physres serve`` and ``physres keys`` (entry point in pyproject)."""
    p = sub.add_parser("serve", help="put a config's devices on a bus whose broker runs elsewhere")
    p.add_argument("config", type=Path)
    p.add_argument("--device", action="append", help="serve only this device (repeatable)")
    p.set_defaults(func=_cmd_serve)
    k = sub.add_parser("keys", help="CURVE key pairs for an encrypted bus")
    ks = k.add_subparsers(dest="keys_cmd", required=True)
    new = ks.add_parser("new", help="write NAME.key (public) and NAME.key_secret")
    new.add_argument("name")
    new.add_argument("--dir", type=Path, default=Path("keys"), help="folder (default: keys)")
    allow = ks.add_parser("allow", help="copy a public key into the broker's allowed folder")
    allow.add_argument("public", type=Path)
    allow.add_argument("--allowed", type=Path, required=True)
    revoke = ks.add_parser("revoke", help="remove NAME.key from the broker's allowed folder")
    revoke.add_argument("name")
    revoke.add_argument("--allowed", type=Path, required=True)
    k.set_defaults(func=_cmd_keys)
