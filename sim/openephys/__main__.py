"""``python -m physres.sim.openephys``: an emulated Open Ephys GUI in a process of its own.

Prints one JSON line with its ports (``{"data_port": ..., "http_port": ...}``)
and serves until SIGTERM, SIGINT or the end of its standard input (so it dies with
the process that started it, however that ends). ``drivers.openephys`` in mock
mode starts it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from physres.sim.openephys.gui import OpenEphysEmulator
from physres.sim.openephys.sources import CultureSource, SyntheticSource


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m physres.sim.openephys", description=__doc__)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--block", type=int, default=250, help="samples per channel per block")
    ap.add_argument("--source", choices=("synthetic", "culture"), default="synthetic")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layout", default="grid8x8", help="the culture's electrode layout")
    ap.add_argument("--data-port", type=int, default=0, help="0: the OS picks")
    ap.add_argument("--http-port", type=int, default=0, help="0: the OS picks (the GUI: 37497)")
    args = ap.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def watch_stdin() -> None:
        while sys.stdin.buffer.read(4096):
            pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    if args.source == "culture":
        source = CultureSource({"layout": args.layout, "seed": args.seed})
        channels = source.n_channels
    else:
        source = SyntheticSource(args.channels, seed=args.seed)
        channels = args.channels
    gui = OpenEphysEmulator(
        source,
        n_channels=channels,
        block=args.block,
        data_port=args.data_port,
        http_port=args.http_port,
    )
    with gui:
        print(json.dumps({"data_port": gui.data_port, "http_port": gui.http_port}), flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
