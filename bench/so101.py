"""SO-101 driver control loop over the vendor SDK and a pty: how fast can it close the loop?

The emulator runs as its own process (``python -m physres.sim.servobus``), as
real servos are on their own bus, so the timings are the driver's and the
SDK's, not a shared GIL's. Measured, per control cycle:

* ``read()``: one sync read of present position + speed from all six servos,
  plus forward kinematics;
* ``apply({"ee": ...})`` + ``read()``: IK, safety clipping, one sync write of
  goal position/time/speed, then the read: a full control cycle.

The baseline is what a driver without sync read must do: six single-servo
read transactions (one request/reply each) through the same SDK and port.

    python bench/so101.py [--cycles 500]

Prints the sync-read speed-up over six single reads LAST.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from physres.drivers.arm import SO101


def percentiles(ts: list[float]) -> str:
    a = np.array(ts) * 1000
    return f"median {np.median(a):.2f} ms, p99 {np.percentile(a, 99):.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=500)
    args = ap.parse_args()
    link = Path(tempfile.mkdtemp()) / "so101"
    proc = subprocess.Popen([sys.executable, "-m", "physres.sim.servobus", "--link", str(link)],
                            stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not link.is_symlink():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the servo-bus emulator did not start")
            time.sleep(0.05)
        with SO101(port=str(link), timeout_s=0.1, rate_hz=100.0) as arm:
            reads, cycles, singles = [], [], []
            for _ in range(args.cycles):
                t = time.perf_counter()
                arm.read()
                reads.append(time.perf_counter() - t)
            rng = np.random.default_rng(0)
            low, high = np.array(arm.params.workspace_low), np.array(arm.params.workspace_high)
            for _ in range(args.cycles):
                pose = rng.uniform(low, high)
                t = time.perf_counter()
                arm.apply({"ee": pose, "gripper": 0.5})
                arm.read()
                cycles.append(time.perf_counter() - t)
            bus = arm._bus  # the same SDK session: six one-servo reads, as without sync read
            assert bus is not None
            for _ in range(args.cycles):
                t = time.perf_counter()
                for sid in arm.params.ids:
                    bus._transact("read", sid, lambda s=sid: bus._ph.readTxRx(bus._p(), s, 56, 4))
                singles.append(time.perf_counter() - t)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    print(f"read() (sync read 6 servos + FK):         {percentiles(reads)}")
    print(f"apply(ee) + read() full control cycle:    {percentiles(cycles)}  "
          f"-> {1 / np.median(cycles):.0f} Hz possible")
    print(f"6 single-servo reads (baseline):          {percentiles(singles)}")
    print(f"cpu count {os.cpu_count()}")
    print(f"sync-read speed-up over 6 single reads: {np.median(singles) / np.median(reads):.2f}x")


if __name__ == "__main__":
    main()
