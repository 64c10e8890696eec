"""Recording size and the recorder's drop-free rate, lz4 chunks against uncompressed.

    python bench/record.py            # 3 pairs × 200 frames per content (~2 min)
    python bench/record.py --quick    # 1 pair × 80 frames, a smoke test

A camera-sized stream (640×480×3 uint8) goes over a real bus (in-process
broker, ipc) to a recorder in its own process, as ``physres record`` runs it.
The publisher and every socket run with high-water mark 0, so nothing is
dropped and the recorder's own pace shows: its drop-free rate is the frames
per second it wrote (from the first to the last frame's receive time, as the
file records them). A stream published faster than that fills its queues and,
with finite high-water marks, drops. Two contents: a rendered scene (smooth,
no sensor noise, like the simulators' frames) and the same scene with
Gaussian sensor noise σ = 2 counts (a real camera; lz4 cannot shrink noise).
Each content runs ``--repeat`` pairs (lz4 and uncompressed, alternating which
goes first); figures are medians. The last line is the drop-free rate ratio
lz4 / uncompressed (median of the pairs' ratios; the worse of the two contents).
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import zmq

from physres.bus import Broker, BusConfig, CommandClient, Publisher
from physres.bus.record import read_recording
from physres.errors import BusError

SHAPE = (480, 640, 3)


def frames(noise: float, n_distinct: int = 8) -> list[np.ndarray]:
    """A moving smooth pattern (caustic-like), optionally with sensor noise."""
    y, x = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    rng = np.random.default_rng(0)
    out = []
    for k in range(n_distinct):
        scene = 128 + 60 * np.sin(x / 23.0 + k) * np.cos(y / 31.0) + 30 * np.sin((x + y) / 11.0)
        img = scene[..., None] + rng.normal(0, noise, SHAPE) if noise else scene[..., None]
        out.append(np.clip(np.broadcast_to(img, SHAPE), 0, 255).astype(np.uint8))
    return out


def record_once(
    cfg: BusConfig, ctx: zmq.Context, out: Path, compression: str, imgs, n: int, python: str
):
    """(MB per frame, recorder frames/s) for one recording of n frames."""
    # another checkout's recorder (--recorder-python) writes its own default format
    flag = ("--compression", compression) if python == sys.executable else ()
    proc = subprocess.Popen(
        [
            *(python, "-m", "physres.cli", "record", "cam/", "--out", str(out)),
            *("--bus", cfg.name, *flag),
        ],
        stderr=subprocess.DEVNULL,
        cwd=out.parent,  # each interpreter imports its own installed physres, not ours by cwd
    )
    client = CommandClient(ctx, cfg)
    pub = Publisher(ctx, cfg, "cam")
    try:
        deadline = time.monotonic() + 30
        while True:  # the recorder answers once its sockets are up
            try:
                client.call("recorder", "stats", timeout_s=1.0)
                break
            except BusError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        time.sleep(0.3)
        for i in range(n):
            pub.publish("frame", {"img": imgs[i % len(imgs)]})
        deadline = time.monotonic() + 120
        while client.call("recorder", "stats")["messages"] < n:
            if time.monotonic() > deadline:
                raise RuntimeError("the recorder did not get every frame")
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        pub.close()
        client.close()
    info, msgs = read_recording(out)
    times = [t for t, _ in msgs]
    assert len(times) == n and not info.is_damaged, (len(times), info.end_reason)
    rate = (n - 1) / ((times[-1] - times[0]) / 1e9)
    return out.stat().st_size / n / 1e6, rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames per case, one pair")
    ap.add_argument("--repeat", type=int, default=3, help="pairs per content (median)")
    ap.add_argument(
        "--recorder-python",
        default=sys.executable,
        help="run the recorder with another checkout's interpreter (a before figure; "
        "it writes its own default format, reported as 'none')",
    )
    args = ap.parse_args()
    n = 80 if args.quick else 200
    if args.quick:
        args.repeat = 1
    tmp = Path(tempfile.mkdtemp(prefix="physres-bench-record-"))
    cfg = BusConfig(name=f"benchrec{uuid.uuid4().hex[:6]}", sndhwm=0, rcvhwm=0)
    ctx = zmq.Context()
    broker = Broker(cfg, ctx).start()
    ratios = {}
    try:
        for content, noise in (("rendered", 0.0), ("noisy camera", 2.0)):
            imgs = frames(noise)
            res: dict[str, list[tuple[float, float]]] = {"none": [], "lz4": []}
            for rep in range(args.repeat):  # alternate the order: the machine's load drifts
                for comp in ("none", "lz4") if rep % 2 == 0 else ("lz4", "none"):
                    out = tmp / f"{comp}-{noise}.mcap"
                    python = args.recorder_python if comp == "none" else sys.executable
                    res[comp].append(record_once(cfg, ctx, out, comp, imgs, n, python))
                    out.unlink()
            pair = [b[1] / a[1] for a, b in zip(res["none"], res["lz4"])]
            for comp in ("none", "lz4"):
                mb = statistics.median(r[0] for r in res[comp])
                rate = statistics.median(r[1] for r in res[comp])
                print(f"{content:13s} {comp:5s} {mb:6.3f} MB/frame  drop-free {rate:7.1f} frames/s")
            size = res["lz4"][0][0] / res["none"][0][0]
            ratios[content] = statistics.median(pair)
            print(f"{content:13s} size ratio lz4/none = {size:.2f}")
    finally:
        broker.stop()
        ctx.term()
    print(json.dumps({k: round(v, 2) for k, v in ratios.items()}))
    print(f"drop-free rate ratio lz4/none = {min(ratios.values()):.2f}")


if __name__ == "__main__":
    main()
