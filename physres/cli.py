"""``physres``: the only module that talks to a person.

Subcommands: run, bus, ls, record, replay, info, export, check (and, from their own modules,
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
from rich.markup import escape as _escape_markup
from rich.table import Table

from physres import __version__
from physres._messages import printable
from physres.errors import ConfigError, PhysresError

__all__ = ["main"]

console = Console()
err_console = Console(stderr=True)

#: entry-point group of ``register(subparsers)`` functions that add subcommands: a family
#: (``physres robot ...``) plugs in from pyproject, so this module imports no simulator or driver
EXTENSION_GROUP = "physres.cli"
#: formats of `physres export` that a family adds (nwb, foxglove): ``register(subparsers)``
EXPORT_GROUP = "physres.export"


def _bus_cfg(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from physres.bus import BusConfig, bus_from_env

    kw: dict[str, Any] = {} if args.bus is None else {"name": args.bus}
    try:
        if args.tcp:
            host, _, port = args.tcp.rpartition(":")
            if not port.isdigit():
                raise ValueError(f"expected HOST:PORT with a numeric port, got port {port!r}")
            kw.update(transport="tcp", host=host or "127.0.0.1", port=int(port))
        return bus_from_env(BusConfig(**kw))  # PHYSRES_BUS*: address and keys
    except (ValueError, ValidationError) as e:
        first = e.errors()[0]["msg"] if isinstance(e, ValidationError) else str(e)
        raise ConfigError(f"--bus {args.bus!r} --tcp {args.tcp!r}: {first}") from None


def escape(text: str) -> str:
    """Rich markup escaped and control characters shown as text (names come from files
    and the bus; an escape sequence in one must not reach the terminal)."""
    return _escape_markup(printable(text))


def _print_error(e: BaseException) -> None:
    """One line whatever the message holds: no wrapping, no markup read from user values."""
    msg = escape(" ".join(str(e).split()))
    err_console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True, emoji=False)


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


class _ShowDefaults(argparse.HelpFormatter):
    """--help names each option's default, where it has one worth naming."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        skip = (None, False, argparse.SUPPRESS)
        if "%(default)" in text or action.required or action.default in skip:
            return text
        return f"{text} (default: %(default)s)"


def _add_bus_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bus",
        help="bus name (one machine, ipc sockets; default: 'default', except that "
        "`physres run` gets a private bus unless its config or this option names one)",
    )
    p.add_argument("--tcp", metavar="HOST:PORT", help="use TCP at HOST:PORT..PORT+2 instead of ipc")


# ------------------------------------------------------------------- commands
def cmd_run(args: argparse.Namespace) -> int:
    from physres.bus import bus_from_env
    from physres.bus.interrupts import Terminated, terminate_like_ctrl_c
    from physres.config import load_config
    from physres.experiments.run import run_experiment

    cfg = load_config(args.config)
    if args.bus is not None or args.tcp:  # named on purpose: join that bus
        cfg = cfg.model_copy(update={"bus": _bus_cfg(args)})
    else:
        cfg = cfg.model_copy(update={"bus": bus_from_env(cfg.bus)})
    out = (
        Path(args.out)
        if args.out
        else Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    try:
        with terminate_like_ctrl_c():
            result = run_experiment(
                cfg,
                out,
                config_path=Path(args.config),
                console=console,
                progress=not args.quiet,
                overwrite=args.overwrite,
            )
    except Terminated:
        err_console.print(f"terminated; {out / 'run.json'} says so")
        return 128 + signal.SIGTERM
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
    from physres.bus.listing import ls_table

    table = ls_table(rows, f"bus {cfg.name}")
    console.print(table)
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from physres.bus import ensure_broker
    from physres.bus.record import Recorder

    cfg = _bus_cfg(args)
    broker = ensure_broker(cfg) if args.start_broker else None
    rec = Recorder(
        args.out, args.topics or [""], cfg, flush_s=args.flush, compression=args.compression
    )
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


def _warn(text: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, emoji=False)


def cmd_replay(args: argparse.Namespace) -> int:
    from physres.bus import ensure_broker
    from physres.bus.record import check_recording_path
    from physres.bus.replay import replay

    check_recording_path(args.file)  # before a broker starts for nothing
    cfg = _bus_cfg(args)
    broker = ensure_broker(cfg)
    try:
        info, n = replay(
            args.file,
            cfg,
            topics=args.topics or None,
            speed=args.speed,
            wait_s=args.wait,
            warn=_warn,
        )
    finally:
        if broker:
            broker.stop()
    console.print(
        printable(f"replayed {n} messages from {args.file} (recording ended: {info.end_reason})"),
        markup=False,
        emoji=False,
    )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import json

    from physres.bus.recinfo import summarize

    s = summarize(args.file)
    status = 1 if s["damaged"] or s["corrupt"] or s["lost"] else 0
    if args.json:
        print(json.dumps(s, indent=2))
        return status
    table = Table(
        title=f"{escape(s['path'])}  ({s['bytes'] / 1e6:.1f} MB, {s['duration_s']:.2f} s)"
    )
    for col in ("topic", "messages", "rate (Hz)", "arrays", "seq gaps"):
        table.add_column(col)
    for topic, t in s["topics"].items():
        arrays = ", ".join(
            f"{n}: {a['dtype']}{tuple(a['shape'])}{' ' + a['units'] if a['units'] else ''}"
            for n, a in t["arrays"].items()
        )
        if t["layout_changes"]:
            arrays += f" (changes {t['layout_changes']}×)"
        rate = f"{t['rate_hz']:.1f}" if t["rate_hz"] else "-"
        table.add_row(escape(topic), str(t["count"]), rate, escape(arrays), str(t["seq_gaps"]))
    console.print(table)
    console.print(
        printable(f"{s['messages']} messages; recording ended: {s['end_reason']}"),
        markup=False,
        emoji=False,
    )
    return status


def cmd_export(args: argparse.Namespace) -> int:
    from physres.bus.recexport import export

    r = export(args.file, args.topic, args.out)
    console.print(
        printable(f"wrote {r.rows} rows of {args.topic} to {r.out}"), markup=False, emoji=False
    )
    if r.mismatched:
        _warn(
            f"skipped {r.mismatched} messages whose arrays differ in name, dtype or shape "
            "from the first one's"
        )
    if r.info.is_damaged:
        _warn(f"exported the intact records only: {r.info.end_reason}")
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate every config whole (devices, reference, task), then run the device checks."""
    from physres import registry
    from physres.config import load_config
    from physres.device import check_device

    configs = []
    for path in args.config:
        try:
            configs.append(load_config(path))
        except ConfigError as e:
            if len(args.config) == 1:
                raise
            _print_error(e)
    if len(configs) < len(args.config):
        return 2
    failed = 0
    for cfg in configs:
        for name, dev in cfg.devices.items():
            rep = check_device(registry.create(dev.kind, name, dev.params), raise_on_failure=False)
            for p in rep.passed:
                console.print(f"[green]PASS[/] {rep.device}: {p}")
            for f in rep.failed:
                console.print(f"[red]FAIL[/] {rep.device}: {f}")
            failed += len(rep.failed)
    return 1 if failed else 0


# ---------------------------------------------------------------------- main
class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help shows defaults; subcommands (extensions too) inherit it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _ShowDefaults)
        super().__init__(*args, **kwargs)


def _extend(group: str, sub: Any) -> bool:
    """Let each entry point of ``group`` add its subcommands; False when the group is empty."""
    found = sorted(entry_points(group=group), key=lambda e: e.name)
    for ep in found:
        try:
            ep.load()(sub)
        except ImportError as e:  # an optional extra is missing: say so only when asked
            logging.getLogger(__name__).debug("CLI extension %s unavailable: %s", ep.value, e)
    return bool(found)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="physres", description="Physical reservoir computing over a ZeroMQ bus.")
    p.add_argument("--version", action="version", version=f"physres {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    r = sub.add_parser("run", help="run an experiment config: drive → record → fit → score")
    r.add_argument("config", help="YAML run config (see examples/)")
    r.add_argument("--out", help="run folder (default: runs/<name>-<time>)")
    r.add_argument(
        "--overwrite", action="store_true", help="replace the earlier run in a non-empty --out"
    )
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

    rec = sub.add_parser(
        "record",
        help="record topics to an MCAP file (crash-safe, append-only)",
        formatter_class=_ShowDefaults,
    )
    rec.add_argument("topics", nargs="*", help="topic prefixes (default: everything)")
    rec.add_argument("--out", required=True, help="output .mcap file")
    rec.add_argument(
        "--flush",
        type=_seconds(positive=True),
        default=0.5,
        help="seconds between flushes to disk (max loss on crash)",
    )
    rec.add_argument(
        "--duration", type=_seconds(positive=True), help="stop after this many seconds"
    )
    rec.add_argument(
        "--compression",
        choices=["lz4", "zstd", "none"],
        default="lz4",
        help="chunk compression (zstd needs the zstandard package)",
    )
    rec.add_argument(
        "--start-broker", action="store_true", help="start a broker if none is running"
    )
    _add_bus_args(rec)
    rec.set_defaults(func=cmd_record)

    rp = sub.add_parser(
        "replay",
        help="republish a recording with its original timing",
        formatter_class=_ShowDefaults,
    )
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

    inf = sub.add_parser(
        "info",
        help="what a recording holds: topics, counts, dtype/shape, time span, rates, damage"
        " (exit status 1 if damaged)",
        formatter_class=_ShowDefaults,
    )
    inf.add_argument("file", help="recording (.mcap)")
    inf.add_argument("--json", action="store_true", help="machine-readable output")
    inf.set_defaults(func=cmd_info)

    ex = sub.add_parser(
        "export",
        help="a recording or run in another format: one topic as .npy/.csv, or a format"
        " family adds (nwb, foxglove)",
    )
    formats = ex.add_subparsers(dest="format", metavar="FORMAT", required=True)
    top = formats.add_parser(
        "topic",
        help="one topic of a recording to a NumPy .npy or a CSV table with timestamps",
        formatter_class=_ShowDefaults,
    )
    top.add_argument("file", help="recording (.mcap)")
    top.add_argument("topic", help="exact topic name, as `physres info` lists it")
    top.add_argument("--out", required=True, help="output file, F.npy or F.csv")
    top.set_defaults(func=cmd_export)
    _extend(EXPORT_GROUP, formats)

    c = sub.add_parser(
        "check", help="validate configs whole (task included), then check their devices"
    )
    c.add_argument("config", nargs="+", help="YAML run configs")
    c.set_defaults(func=cmd_check)

    if not _extend(EXTENSION_GROUP, sub):  # metadata from before the group existed
        logging.getLogger(__name__).warning(
            "no %r entry points: `physres bench` and `physres robot` are missing; "
            "run `pip install -e .` again",
            EXTENSION_GROUP,
        )
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from physres.bus.interrupts import keep_interrupts

    try:
        with keep_interrupts():  # a Ctrl-C pyzmq drops while freeing a message still stops
            return int(args.func(args) or 0)
    except PhysresError as e:
        if args.debug:
            raise
        _print_error(e)
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
