"""Bus throughput and latency, as ratios against raw pyzmq measured in the same run.

    python bench/bus.py            # full run (~2 min)
    python bench/bus.py --quick    # smaller counts, for a smoke test
    python bench/bus.py --tcp      # across hosts over CURVE (bench/bus_tcp.py; netns as root)

Every figure runs publisher and subscriber in separate processes over ipc, as
a lab's device node and readout would. Raw pyzmq baselines: PUB→SUB direct with
``copy=False`` both sides (frames), single-part sends (small messages), and a
direct REQ/REP pair (commands). physres subscribes to the node directly (the
broker hop is reported beside it), validates every header and tracks sequence
numbers. Raw and physres run back to back, alternating which goes first, and
each figure is the median of the pairs' ratios. The last line printed is the
frame throughput ratio (physres / raw pyzmq).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zmq

FRAME_SHAPE = (480, 640, 3)


# --------------------------------------------------------------- subscribers
def _raw_sub(addr: str, ready: Any, result: Any, window_s: float, copy: bool) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.RCVHWM, 10 if not copy else 1000)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(addr)
    ready.set()
    s.recv_multipart(copy=copy)  # first message starts the clock
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while (time.perf_counter() - t0) < window_s:
        if s.poll(200):
            s.recv_multipart(copy=copy)
            n += 1
    result.put((n / (time.perf_counter() - t0), n / max(time.process_time() - c0, 1e-9)))
    s.close(linger=0)
    ctx.term()


def _physres_sub(
    cfg_json: str, ready: Any, result: Any, window_s: float, hwm: int, endpoint: str | None
) -> None:
    from physres.bus import BusConfig, Subscriber

    cfg = BusConfig.model_validate_json(cfg_json).model_copy(update={"rcvhwm": hwm})
    ctx = zmq.Context()
    sub = Subscriber(ctx, cfg, ["bench/"], endpoint=endpoint)
    ready.set()
    while sub.recv(1.0) is None:
        pass
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while (time.perf_counter() - t0) < window_s:
        m = sub.recv(0.2)
        if m is not None:
            _ = m.arrays  # decoded and validated
            n += 1
    cpu_rate = n / max(time.process_time() - c0, 1e-9)
    result.put((n / (time.perf_counter() - t0), sub.seq.dropped, cpu_rate))
    sub.close()
    ctx.term()


# ---------------------------------------------------------------- publishers
def _flood(send: Any, stop: Any) -> None:
    while not stop.is_set():
        for _ in range(200):
            send()


def bench_raw_stream(payload: Any, window_s: float, copy: bool) -> tuple[float, float]:
    addr = f"ipc://{tempfile.gettempdir()}/physres-bench-{uuid.uuid4().hex[:8]}"
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 10 if not copy else 1000)
    pub.bind(addr)
    ready, result = mp.Event(), mp.Queue()
    p = mp.Process(target=_raw_sub, args=(addr, ready, result, window_s, copy))
    p.start()
    ready.wait()
    time.sleep(0.3)
    deadline = time.perf_counter() + window_s + 3
    if isinstance(payload, np.ndarray):
        frames = [b"bench/frame", payload]
        while result.empty() and time.perf_counter() < deadline:
            pub.send_multipart(frames, copy=False)
    else:
        while result.empty() and time.perf_counter() < deadline:
            for _ in range(200):
                pub.send(payload)
    rate = result.get()  # (per wall second, per CPU second of the subscriber)
    p.join()
    pub.close(linger=0)
    ctx.term()
    return rate


def bench_physres_stream(
    payload: np.ndarray, window_s: float, hwm: int, direct: bool
) -> tuple[float, int, float]:
    """physres publisher → subscriber: straight to the node's socket, or via the broker.

    Returns (messages per wall second, HWM drops counted, messages per subscriber CPU second).
    """
    from physres.bus import Broker, BusConfig, Publisher

    cfg = BusConfig(name=f"bench{uuid.uuid4().hex[:6]}", sndhwm=hwm, rcvhwm=hwm)
    ctx = zmq.Context()
    broker = Broker(cfg, ctx).start()
    pub = Publisher(ctx, cfg, "bench", bind=cfg.node_endpoint("bench", "pub") if direct else None)
    ready, result = mp.Event(), mp.Queue()
    p = mp.Process(
        target=_physres_sub,
        args=(cfg.model_dump_json(), ready, result, window_s, hwm, pub.direct_endpoint),
    )
    p.start()
    ready.wait()
    time.sleep(0.3)
    deadline = time.perf_counter() + window_s + 3
    arrays = {"frame": payload}
    while result.empty() and time.perf_counter() < deadline:
        for _ in range(50 if payload.nbytes > 10_000 else 500):
            pub.publish("frame", arrays)
    rate, dropped, cpu_rate = result.get()
    p.join()
    pub.close()
    broker.stop()
    ctx.term()
    return rate, dropped, cpu_rate


# ------------------------------------------------------------------ commands
def _raw_rep(addr: str, ready: Any) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.REP)
    s.bind(addr)
    ready.set()
    while True:
        msg = s.recv()
        if msg == b"stop":
            s.send(b"")
            break
        s.send(msg)
    s.close(linger=0)
    ctx.term()


def bench_raw_reqrep(n: int) -> list[float]:
    addr = f"ipc://{tempfile.gettempdir()}/physres-bench-rr-{uuid.uuid4().hex[:8]}"
    ready = mp.Event()
    p = mp.Process(target=_raw_rep, args=(addr, ready))
    p.start()
    ready.wait()
    ctx = zmq.Context()
    s = ctx.socket(zmq.REQ)
    s.connect(addr)
    payload = b"x" * 32
    times = []
    for i in range(n + 50):
        t0 = time.perf_counter()
        s.send(payload)
        s.recv()
        if i >= 50:
            times.append(time.perf_counter() - t0)
    s.send(b"stop")
    s.recv()
    p.join()
    s.close(linger=0)
    ctx.term()
    return times


def _physres_node(cfg_json: str, ready: Any, stop: Any) -> None:
    from physres.bus import BusConfig, Node

    cfg = BusConfig.model_validate_json(cfg_json)
    node = Node("echo", cfg)
    node.command("echo", lambda data: data)
    ready.set()
    while not stop.is_set():
        node.spin_once(0.05)
    node.close()


def bench_physres_commands(n: int) -> list[float]:
    from physres.bus import Broker, BusConfig, CommandClient

    cfg = BusConfig(name=f"bench{uuid.uuid4().hex[:6]}")
    ctx = zmq.Context()
    broker = Broker(cfg, ctx).start()
    ready, stop = mp.Event(), mp.Event()
    p = mp.Process(target=_physres_node, args=(cfg.model_dump_json(), ready, stop))
    p.start()
    ready.wait()
    client = CommandClient(ctx, cfg)
    payload = "x" * 32
    times = []
    for i in range(n + 50):
        t0 = time.perf_counter()
        client.call("echo", "echo", data=payload)
        if i >= 50:
            times.append(time.perf_counter() - t0)
    stop.set()
    p.join()
    client.close()
    broker.stop()
    ctx.term()
    return times


@dataclass
class Pair:
    """One back-to-back measurement: messages/s (wall) and per subscriber CPU second."""

    raw: float
    raw_cpu: float
    phy: float
    phy_cpu: float
    broker: float
    drops: int

    @property
    def ratio(self) -> float:
        return self.phy / self.raw

    @property
    def cpu_ratio(self) -> float:
        return self.phy_cpu / self.raw_cpu


def measure_pair(
    raw_payload: Any, payload: np.ndarray, window: float, *, copy: bool, hwm: int, raw_first: bool
) -> Pair:
    """Raw pyzmq and physres direct back to back (``raw_first`` alternates the order between
    pairs, so a drift in machine load favours neither), then physres through the broker."""
    if raw_first:
        raw, raw_cpu = bench_raw_stream(raw_payload, window, copy=copy)
    phy, drops, phy_cpu = bench_physres_stream(payload, window, hwm=hwm, direct=True)
    if not raw_first:
        raw, raw_cpu = bench_raw_stream(raw_payload, window, copy=copy)
    broker = bench_physres_stream(payload, window, hwm=hwm, direct=False)[0]
    return Pair(raw, raw_cpu, phy, phy_cpu, broker, drops)


def main() -> None:
    import sys

    if "--tcp" in sys.argv[1:]:  # crossing hosts: its own figures (bench/bus_tcp.py)
        sys.path.insert(0, str(Path(__file__).parent))
        from bus_tcp import main as tcp_main

        tcp_main([a for a in sys.argv[1:] if a != "--tcp"])
        return
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="shorter windows and fewer round trips")
    ap.add_argument("--repeats", type=int, default=7, help="raw/physres pairs per figure")
    args = ap.parse_args()
    window = 1.0 if args.quick else 1.5
    n_rtt = 300 if args.quick else 1000
    reps = 1 if args.quick else args.repeats
    frame = np.random.default_rng(0).integers(0, 256, FRAME_SHAPE, dtype=np.uint8)
    small_raw = b"bench/x " + b"\0" * 56  # 64 bytes on the wire
    small = np.zeros(8, np.float64)  # 64 bytes of payload

    # Each repeat measures raw and physres back to back and keeps their ratio: on a
    # shared machine the load changes between seconds, the ratio of neighbours much less.
    kinds = {
        "frames": (frame, frame, False, 10),  # (raw payload, physres payload, copy, hwm)
        "small": (small_raw, small, True, 1000),
    }
    pairs: dict[str, list[Pair]] = {k: [] for k in kinds}
    rtts: list[tuple[float, float]] = []
    for i in range(reps):
        for kind, (raw_payload, payload, copy, hwm) in kinds.items():
            pairs[kind].append(
                measure_pair(raw_payload, payload, window, copy=copy, hwm=hwm, raw_first=i % 2 == 0)
            )
        rtts.append(
            (
                statistics.median(bench_raw_reqrep(n_rtt)),
                statistics.median(bench_physres_commands(n_rtt)),
            )
        )

    med = statistics.median
    f, s = pairs["frames"], pairs["small"]
    mb = frame.nbytes / 1e6
    raw_f = med(p.raw for p in f)
    print(
        f"frames 640x480x3: raw pyzmq {raw_f:8.0f}/s ({raw_f * mb / 1e3:.2f} GB/s)  "
        f"physres direct {med(p.phy for p in f):8.0f}/s"
    )
    print(
        f"64-byte messages: raw pyzmq {med(p.raw for p in s):8.0f}/s  "
        f"physres direct {med(p.phy for p in s):8.0f}/s "
        f"(HWM drops counted by physres: {sum(p.drops for p in s)})"
    )
    print(
        f"command round trip p50: raw REQ/REP {med(r for r, _ in rtts) * 1e6:6.0f} us  "
        f"physres {med(q for _, q in rtts) * 1e6:6.0f} us"
    )
    print(
        f"via the broker (one more hop, XSUB/XPUB proxy): frames "
        f"{med(p.broker / p.raw for p in f):.2f}, small {med(p.broker / p.raw for p in s):.2f} "
        "of raw direct"
    )
    print(
        f"(median of {reps} back-to-back pairs; per-pair frame ratios "
        f"{', '.join(f'{p.ratio:.2f}' for p in f)})"
    )
    print(
        f"per subscriber CPU second (load-independent): frames {med(p.cpu_ratio for p in f):.2f}, "
        f"small messages {med(p.cpu_ratio for p in s):.2f} of raw"
    )
    print(f"small-message ratio physres/raw = {med(p.ratio for p in s):.2f} (goal >= 0.5)")
    print(f"command p50 ratio physres/raw = {med(q / r for r, q in rtts):.2f} (goal <= 2.0)")
    print(f"frame throughput ratio physres/raw = {med(p.ratio for p in f):.2f} (goal >= 0.8)")


if __name__ == "__main__":
    main()
