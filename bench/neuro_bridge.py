"""Output events/s through the bridge firmware's emulated UART vs the link budget.

The host build of ``firmware/neuro_bridge`` with ``--baud B`` lets bytes leave no
faster than a UART at B baud (8N1), in front of an emulated chip whose 1,024
neurons all fire (far more than any of these links carries), so the spike
stream saturates the link. Measured in the same run: the bytes/s the host
receives (the emulated UART's own rate, against B/10) and the output events/s
it decodes, against the budget of ``firmware/PROTOCOL.md`` (28 spikes per
124-byte EVT_SPIKES frame: B / 10 / 124 · 28).

Run:  python bench/neuro_bridge.py [--bauds 38400,115200,1000000] [--seconds 3]
Prints the events/s ratio to the budget at the last baud rate LAST.
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np

from physres.drivers.neuromorphic import protocol as P
from physres.drivers.neuromorphic.bridge import NeuroBridge, emulator_args
from physres.drivers.neuromorphic.firmware import BridgeFirmware
from physres.neuro.params import NeuroParams
from physres.wire import Packet

#: every neuron fires on its own (a strong DC bias), no input needed
LOUD = {"chip": "dynapse", "cores": {"dc": [3, 200]}, "inputs": {"n_channels": 1, "n_neurons": 8}}
FRAME_BYTES = 124  # an EVT_SPIKES frame of 28 spikes on the wire


def measure(baud: int, seconds: float) -> tuple[float, float]:
    """(bytes/s, spikes/s) the host receives while the chip saturates the link."""
    fw = BridgeFirmware("host", chip_args=emulator_args(NeuroParams(config=LOUD)), baud=baud)
    fw.start()
    try:
        dev = NeuroBridge(config=LOUD, port=fw.port, status_s=0)
        with dev:
            spikes = 0
            lock = threading.Lock()
            link = dev.link
            assert link is not None
            inner = link.on_event

            def count(p: Packet) -> None:
                nonlocal spikes
                with lock:
                    spikes += len(P.parse_spikes(p.payload).addr)
                if inner is not None:
                    inner(p)

            link.on_event = count
            time.sleep(0.5)  # the FIFO is full and the link busy from here on
            b0, s0, t0 = link.bytes_in, spikes, time.monotonic()
            time.sleep(seconds)
            b1, s1, t1 = link.bytes_in, spikes, time.monotonic()
            st = dev.board_status()
            assert st["out_overflow"] > 0, "the chip did not saturate the link"
        return (b1 - b0) / (t1 - t0), (s1 - s0) / (t1 - t0)
    finally:
        fw.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bauds", default="38400,115200,1000000")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    ratio = float("nan")
    for baud in (int(b) for b in args.bauds.split(",")):
        bytes_s, spikes_s = measure(baud, args.seconds)
        budget = baud / 10 / FRAME_BYTES * 28
        ratio = spikes_s / budget
        print(
            f"{baud:>9} baud: {bytes_s:9.0f} B/s received ({bytes_s / (baud / 10):.3f} of the "
            f"UART's {baud // 10}), {spikes_s:8.0f} spikes/s, budget {budget:8.0f}"
        )
    print(f"output events/s / link budget at the last rate: {ratio:.3f}")


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
