"""``physres``: the only module that talks to a person.

Subcommands: run, bus, ls, record, replay, check (and, from their own modules,
bench and robot). Errors from physres are printed as one clear message and a
non-zero exit code, never a traceback; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import time
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from physres import __version__
from physres.errors import ConfigError, PhysresError

__all__ = ["main"]

console = Console()
err_console = Console(stderr=True)

#: entry-point group of ``register(subparsers)`` functions that add subcommands: a family
#: (``physres robot ...``) plugs in from pyproject, so this module imports no simulator or driver
EXTENSION_GROUP = "physres.cli"


def _bus_cfg(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from physres.bus import BusConfig

    kw: dict[str, Any] = {"name": args.bus}
    try:
        if args.tcp:
            host, _, port = args.tcp.rpartition(":")
            if not port.isdigit():
                raise ValueError(f"expected HOST:PORT with a numeric port, got port {port!r}")
            kw.update(transport="tcp", host=host or "127.0.0.1", port=int(port))
        return BusConfig(**kw)
    except (ValueError, ValidationError) as e:
        first = e.errors()[0]["msg"] if isinstance(e, ValidationError) else str(e)
        raise ConfigError(f"--bus {args.bus!r} --tcp {args.tcp!r}: {first}") from None


def _seconds(positive: bool) -> Callable[[str], float]:
    """argparse type: a finite number of seconds (> 0, or >= 0)."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(v) or v < 0 or (positive and v == 0):
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected a finite number {'> 0' if positive else '>= 0'}"
            )
        return v

    return parse


def _add_bus_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bus", default="default", help="bus name (one machine, ipc sockets; default: %(default)s)"
    )
    p.add_argument("--tcp", metavar="HOST:PORT", help="use TCP at HOST:PORT..PORT+2 instead of ipc")


# ------------------------------------------------------------------- commands
def cmd_run(args: argparse.Namespace) -> int:
    from physres.config import load_config
    from physres.experiments.run import run_experiment

    cfg = load_config(args.config)
    if args.bus != "default" or args.tcp:
        cfg = cfg.model_copy(update={"bus": _bus_cfg(args)})
    out = (
        Path(args.out)
        if args.out
        else Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    result = run_experiment(
        cfg, out, config_path=Path(args.config), console=console, progress=not args.quiet
    )
    return 0 if result.get("status") == "ok" else 1


def cmd_bus(args: argparse.Namespace) -> int:
    from physres.bus import Broker

    cfg = _bus_cfg(args)
    ep = cfg.endpoints
    console.print(
        f"physres bus [bold]{cfg.name}[/]: pub {ep.pub}  sub {ep.sub}  cmd {ep.cmd}  (Ctrl-C stops)"
    )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    Broker(cfg).run()
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    import zmq

    from physres.bus import CommandClient
    from physres.errors import CommandTimeout

    cfg = _bus_cfg(args)
    client = CommandClient(zmq.Context.instance(), cfg)
    try:
        rows = client.call("_broker", "ls", timeout_s=args.timeout)
    except CommandTimeout as e:
        raise PhysresError(
            f"no broker answers on bus {cfg.name!r} ({cfg.endpoints.cmd}); start one with "
            "`physres bus` or `physres run`"
        ) from e
    finally:
        client.close()
    if args.json:
        import json

        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"bus {cfg.name}")
    for col in (
        "node",
        "kind",
        "state",
        "streams (dtype shape @ rate)",
        "commands",
        "published",
        "dropped",
        "garbage",
    ):
        table.add_column(col)
    for r in rows:
        streams = "\n".join(
            f"{n}: {s.get('dtype')} {tuple(s.get('shape', ()))} @ {s.get('rate_hz') or '-'} Hz"
            for n, s in (r.get("streams") or {}).items()
        )
        state = "[green]alive[/]" if r["alive"] else f"[red]gone[/] ({r['silent_s']:.1f} s silent)"
        drops = {k: v for k, v in (r.get("dropped") or {}).items() if v}
        table.add_row(
            r["name"],
            str(r.get("kind", "")),
            state,
            streams,
            ", ".join(r.get("commands", [])),
            str(sum((r.get("published") or {}).values())),
            str(drops or 0),
            str(r.get("garbage") or 0),
        )
    console.print(table)
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from physres.bus import ensure_broker
    from physres.bus.record import Recorder

    cfg = _bus_cfg(args)
    broker = ensure_broker(cfg) if args.start_broker else None
    rec = Recorder(args.out, args.topics or [""], cfg, flush_s=args.flush)
    signal.signal(signal.SIGTERM, lambda *_: rec.stop("SIGTERM"))
    err_console.print(f"recording {args.topics or ['(all)']} on bus {cfg.name!r} to {args.out}")
    try:
        rec.run(duration_s=args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        if broker:
            broker.stop()
    err_console.print(
        f"{rec.stats.get('messages', 0)} messages, {rec.stats.get('dropped', 0)} dropped, "
        f"garbage {rec.stats.get('garbage') or 0}"
    )
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from physres.bus import ensure_broker
    from physres.bus.replay import replay

    cfg = _bus_cfg(args)
    broker = ensure_broker(cfg)
    try:
        info, n = replay(
            args.file, cfg, topics=args.topics or None, speed=args.speed, wait_s=args.wait
        )
    finally:
        if broker:
            broker.stop()
    console.print(f"replayed {n} messages from {args.file} (recording ended: {info.end_reason})")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from physres import registry
    from physres.config import load_config
    from physres.device import check_device

    cfg = load_config(args.config)
    failed = 0
    for name, dev in cfg.devices.items():
        rep = check_device(registry.create(dev.kind, name, dev.params), raise_on_failure=False)
        for p in rep.passed:
            console.print(f"[green]PASS[/] {rep.device}: {p}")
        for f in rep.failed:
            console.print(f"[red]FAIL[/] {rep.device}: {f}")
        failed += len(rep.failed)
    return 1 if failed else 0


# ---------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="physres", description="Physical reservoir computing over a ZeroMQ bus."
    )
    p.add_argument("--version", action="version", version=f"physres {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    r = sub.add_parser("run", help="run an experiment config: drive → record → fit → score")
    r.add_argument("config", help="YAML run config (see examples/)")
    r.add_argument("--out", help="run folder (default: runs/<name>-<time>)")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_bus_args(r)
    r.set_defaults(func=cmd_run)

    b = sub.add_parser(
        "bus", help="run the broker in the foreground (multi-process / multi-host setups)"
    )
    _add_bus_args(b)
    b.set_defaults(func=cmd_bus)

    ls = sub.add_parser("ls", help="list live nodes, their streams, commands and drop counts")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.add_argument(
        "--timeout",
        type=_seconds(positive=True),
        default=2.0,
        help="seconds to wait for the broker",
    )
    _add_bus_args(ls)
    ls.set_defaults(func=cmd_ls)

    rec = sub.add_parser("record", help="record topics to an MCAP file (crash-safe, append-only)")
    rec.add_argument("topics", nargs="*", help="topic prefixes (default: everything)")
    rec.add_argument("--out", required=True, help="output .mcap file")
    rec.add_argument(
        "--flush",
        type=_seconds(positive=True),
        default=0.5,
        help="seconds between fsyncs (max loss on crash)",
    )
    rec.add_argument(
        "--duration", type=_seconds(positive=True), help="stop after this many seconds"
    )
    rec.add_argument(
        "--start-broker", action="store_true", help="start a broker if none is running"
    )
    _add_bus_args(rec)
    rec.set_defaults(func=cmd_record)

    rp = sub.add_parser("replay", help="republish a recording with its original timing")
    rp.add_argument("file", help="recording (.mcap)")
    rp.add_argument("topics", nargs="*", help="only these topic prefixes")
    rp.add_argument(
        "--speed",
        type=_seconds(positive=False),
        default=1.0,
        help="time scale; 0 = as fast as possible",
    )
    rp.add_argument(
        "--wait",
        type=_seconds(positive=False),
        default=5.0,
        help="seconds to wait for a subscriber first",
    )
    _add_bus_args(rp)
    rp.set_defaults(func=cmd_replay)

    c = sub.add_parser("check", help="run the device conformance checks on a config's devices")
    c.add_argument("config")
    c.set_defaults(func=cmd_check)

    found = sorted(entry_points(group=EXTENSION_GROUP), key=lambda e: e.name)
    if not found:  # metadata from before the group existed, or no install at all
        logging.getLogger(__name__).warning(
            "no %r entry points: `physres bench` and `physres robot` are missing; "
            "run `pip install -e .` again",
            EXTENSION_GROUP,
        )
    for ep in found:
        try:
            ep.load()(sub)
        except ImportError as e:  # an optional extra is missing: say so only when asked
            logging.getLogger(__name__).debug("CLI extension %s unavailable: %s", ep.value, e)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except PhysresError as e:
        if args.debug:
            raise
        err_console.print(f"[bold red]error:[/] {e}", highlight=False)
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
