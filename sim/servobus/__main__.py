"""``python -m physres.sim.servobus --link PATH``: an emulated SO-101 bus as a process.

The pty's slave path is linked at ``PATH`` (a stable name, as udev gives a USB
adapter) so a driver config can say ``port: PATH``; the link is removed on
SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

from physres.sim.servobus.bus import SO101_JOINTS, ServoBus


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m physres.sim.servobus", description=__doc__)
    ap.add_argument("--link", required=True, help="path to symlink to the pty slave")
    ap.add_argument(
        "--ids", default=",".join(map(str, SO101_JOINTS)),
        help="comma-separated servo IDs (default: the SO-101's 1..6)",
    )
    ap.add_argument("--mute", default="", help="comma-separated IDs that never answer")
    args = ap.parse_args(argv)
    ids = [int(s) for s in args.ids.split(",") if s]
    unknown = [i for i in ids if i not in SO101_JOINTS]
    if unknown:
        ap.error(f"--ids {unknown} are not SO-101 joints; valid IDs: {sorted(SO101_JOINTS)}")
    bus = ServoBus({i: SO101_JOINTS[i] for i in ids})
    for sid in (int(s) for s in args.mute.split(",") if s):
        bus.mute(sid)
    bus.start()
    if os.path.lexists(args.link):
        os.unlink(args.link)
    os.symlink(bus.port, args.link)
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"servobus: servos {ids} on {args.link} -> {bus.port}", flush=True)
    try:
        while not done.wait(0.2):
            pass
    finally:
        bus.stop()
        if os.path.islink(args.link):
            os.unlink(args.link)
        print(
            f"servobus: stopped after {len(bus.log)} packets, {bus.replies} replies, "
            f"{bus.parser.garbage_bytes} garbage bytes, {bus.parser.bad_checksums} bad checksums",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
