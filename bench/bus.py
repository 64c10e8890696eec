"""Bus throughput and latency, as ratios against raw pyzmq measured in the same run.

    python bench/bus.py            # full run (~2 min)
    python bench/bus.py --quick    # smaller counts, for a smoke test

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


def main() -> None:
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
    f_ratio, b_ratio, s_ratio, bs_ratio, c_ratio = [], [], [], [], []
    rates: dict[str, list[float]] = {k: [] for k in ("raw_f", "phy_f", "raw_s", "phy_s")}
    rtts: dict[str, list[float]] = {"raw": [], "phy": []}
    drops = 0
    cpu_f, cpu_s = [], []
    for i in range(reps):
        # alternate which side runs first, so a drift in machine load favours neither
        first_raw = i % 2 == 0
        if first_raw:
            raw, raw_cpu = bench_raw_stream(frame, window, copy=False)
        phy, _d, phy_cpu = bench_physres_stream(frame, window, hwm=10, direct=True)
        if not first_raw:
            raw, raw_cpu = bench_raw_stream(frame, window, copy=False)
        brk = bench_physres_stream(frame, window, hwm=10, direct=False)[0]
        rates["raw_f"].append(raw)
        rates["phy_f"].append(phy)
        f_ratio.append(phy / raw)
        cpu_f.append(phy_cpu / raw_cpu)
        b_ratio.append(brk / raw)
        if first_raw:
            raw, raw_cpu = bench_raw_stream(small_raw, window, copy=True)
        phy, d, phy_cpu = bench_physres_stream(small, window, hwm=1000, direct=True)
        if not first_raw:
            raw, raw_cpu = bench_raw_stream(small_raw, window, copy=True)
        brk = bench_physres_stream(small, window, hwm=1000, direct=False)[0]
        drops += d
        rates["raw_s"].append(raw)
        rates["phy_s"].append(phy)
        s_ratio.append(phy / raw)
        cpu_s.append(phy_cpu / raw_cpu)
        bs_ratio.append(brk / raw)
        r = statistics.median(bench_raw_reqrep(n_rtt))
        p = statistics.median(bench_physres_commands(n_rtt))
        rtts["raw"].append(r)
        rtts["phy"].append(p)
        c_ratio.append(p / r)

    med = statistics.median
    mb = frame.nbytes / 1e6
    print(
        f"frames 640x480x3: raw pyzmq {med(rates['raw_f']):8.0f}/s "
        f"({med(rates['raw_f']) * mb / 1e3:.2f} GB/s)  physres direct {med(rates['phy_f']):8.0f}/s"
    )
    print(
        f"64-byte messages: raw pyzmq {med(rates['raw_s']):8.0f}/s  "
        f"physres direct {med(rates['phy_s']):8.0f}/s (HWM drops counted by physres: {drops})"
    )
    print(
        f"command round trip p50: raw REQ/REP {med(rtts['raw']) * 1e6:6.0f} us  "
        f"physres {med(rtts['phy']) * 1e6:6.0f} us"
    )
    print(
        f"via the broker (one more hop, XSUB/XPUB proxy): frames {med(b_ratio):.2f}, "
        f"small {med(bs_ratio):.2f} of raw direct"
    )
    print(
        f"(median of {reps} back-to-back pairs; per-pair frame ratios "
        f"{', '.join(f'{x:.2f}' for x in f_ratio)})"
    )
    print(
        f"per subscriber CPU second (load-independent): frames {med(cpu_f):.2f}, "
        f"small messages {med(cpu_s):.2f} of raw"
    )
    print(f"small-message ratio physres/raw = {med(s_ratio):.2f} (goal >= 0.5)")
    print(f"command p50 ratio physres/raw = {med(c_ratio):.2f} (goal <= 2.0)")
    print(f"frame throughput ratio physres/raw = {med(f_ratio):.2f} (goal >= 0.8)")


if __name__ == "__main__":
    main()
