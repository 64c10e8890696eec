"""The dashboard: frame-to-screen latency and the server's CPU cost per stream.

    python bench/dashboard.py            # ~1 min
    python bench/dashboard.py --quick    # shorter phases, for a smoke test

``physres dashboard`` runs in a process of its own on a private bus (it
starts the broker); this process publishes the streams and drives headless
Debian chromium (Selenium) on the page. Frame-to-screen latency is measured
by the page itself: the time a snapshot is drawn minus the publisher's host
time in the bus header (one clock: loopback), reported back over the
WebSocket. The baseline is a raw pyzmq SUB socket on the same stream in this
process, measuring receive time minus the same header time. CPU per stream is
the server process's user+system time per second of wall time (from
/proc/PID/stat) while one stream runs, minus the idle figure.

Phases: idle; 30 fps 640x480 RGB video; a 64-channel 25 kHz float32 signal
(50 messages/s of 500 samples); both at once with four pages that never read,
during which the e-stop round trip (HTTP POST to the answer of a node offering
``estop``) is measured beside the idle one. The last line printed is the
frame-to-screen p95 over the raw pyzmq p95.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import httpx
import numpy as np
import websockets
import zmq

from physres.bus import BusConfig, Node, Publisher
from physres.bus.codec import decode


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _publish(cfg: BusConfig, stop: threading.Event, video: bool, signal: bool) -> None:
    ctx = zmq.Context.instance()
    pub = Publisher(ctx, cfg, "bench")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (1, 480, 640, 3), dtype=np.uint8) for _ in range(4)]
    chunk = rng.normal(size=(500, 64)).astype(np.float32)
    t0 = time.monotonic()
    try:
        for tick in range(10**9):  # 150 ticks/s: video every 5th (30 fps), signal every 3rd
            if stop.wait(max(0.0, t0 + tick / 150 - time.monotonic())):
                return
            if video and tick % 5 == 0:
                pub.publish("video", {"video": frames[tick % 4]})
            if signal and tick % 3 == 0:
                pub.publish("mea", {"mea": chunk}, units={"mea": "uV"})
    finally:
        pub.close()


def _raw_latency(cfg: BusConfig, stop: threading.Event, out: list[float]) -> None:
    """The baseline: a bare pyzmq SUB on the broker, receive time minus header host time."""
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.SUBSCRIBE, b"bench/video")
    s.setsockopt(zmq.RCVTIMEO, 100)
    s.connect(cfg.endpoints.sub)
    try:
        while not stop.is_set():
            try:
                frames = s.recv_multipart(copy=False)
            except zmq.Again:
                continue
            t = time.time_ns()
            out.append((t - decode(frames).t_host) / 1e6)
    finally:
        s.close(linger=0)


def _estop_node(cfg: BusConfig, stop: threading.Event) -> None:
    node = Node("bench-arm", cfg, zmq.Context.instance(), kind="bench")
    node.command("estop", lambda: {"fault": "e-stop"})
    try:
        while not stop.is_set():
            node.spin_once(0.01)
    finally:
        node.close()


def _estop_ms(base: str, n: int) -> list[float]:
    out = []
    with httpx.Client() as http:
        for _ in range(n):
            t0 = time.perf_counter()
            r = http.post(f"{base}/api/estop", timeout=30)
            out.append((time.perf_counter() - t0) * 1000)
            assert r.json()["ok"], r.text
            time.sleep(0.1)
    return out


def _pct(v: list[float], q: float) -> float:
    return float(np.percentile(v, q)) if v else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    phase_s = 4.0 if args.quick else 10.0
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        sys.exit("bench/dashboard.py needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    cfg = BusConfig(name=f"bench-dash-{uuid.uuid4().hex[:6]}", heartbeat_s=0.2)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "physres.cli", "dashboard", "--bus", cfg.name, "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    stop_all = threading.Event()
    threads = [threading.Thread(target=_estop_node, args=(cfg, stop_all), daemon=True)]
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(a)
    browser = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/api/state", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the dashboard did not start") from None
                time.sleep(0.2)
        threads[0].start()
        browser = webdriver.Chrome(service=Service(driver_path), options=opts)
        browser.get(base + "/")
        time.sleep(2.0)

        def measure(video: bool, signal: bool) -> tuple[float, list[float], list[float]]:
            stop = threading.Event()
            raw: list[float] = []
            ts = [threading.Thread(target=_publish, args=(cfg, stop, video, signal), daemon=True)]
            if video:
                ts.append(threading.Thread(target=_raw_latency, args=(cfg, stop, raw), daemon=True))
            for t in ts:
                t.start()
            time.sleep(1.5)  # panels made, pages caught up
            seen = len(httpx.get(f"{base}/api/latency").json()["ms"])
            c0, w0 = _cpu_s(server.pid), time.monotonic()
            time.sleep(phase_s)
            cpu = (_cpu_s(server.pid) - c0) / (time.monotonic() - w0)
            time.sleep(1.2)  # the page reports once a second
            screen = httpx.get(f"{base}/api/latency").json()["ms"][seen:]
            stop.set()
            for t in ts:
                t.join(5)
            time.sleep(0.5)
            return cpu, screen, raw

        idle_cpu, _, _ = measure(False, False)
        estop_idle = _estop_ms(base, 20)
        video_cpu, screen, raw = measure(True, False)
        mea_cpu, mea_screen, _ = measure(False, True)

        async def stalled_pages() -> list[Any]:
            return [
                await websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=None)
                for _ in range(4)
            ]

        loop = asyncio.new_event_loop()
        stalled = loop.run_until_complete(stalled_pages())
        stop = threading.Event()
        flood = threading.Thread(target=_publish, args=(cfg, stop, True, True), daemon=True)
        flood.start()
        time.sleep(2.0)
        estop_flooded = _estop_ms(base, 20)
        stop.set()
        flood.join(5)
        for ws in stalled:
            ws.transport.abort()
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
    finally:
        stop_all.set()
        if browser is not None:
            browser.quit()
        server.send_signal(2)  # Ctrl-C
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        for t in threads:
            t.join(5)

    print(f"server CPU idle (page open): {idle_cpu:.3f} s/s")
    print(f"server CPU for 30 fps 640x480 video: {video_cpu - idle_cpu:.3f} s/s above idle")
    print(f"server CPU for 64 ch x 25 kHz float32: {mea_cpu - idle_cpu:.3f} s/s above idle")
    print(
        f"signal frame-to-screen: p50 {_pct(mea_screen, 50):.1f} ms, "
        f"p95 {_pct(mea_screen, 95):.1f} ms"
    )
    print(
        f"e-stop round trip idle: p50 {_pct(estop_idle, 50):.1f} ms, "
        f"p95 {_pct(estop_idle, 95):.1f} ms"
    )
    print(
        f"e-stop round trip flooded (video + signal + 4 stalled pages): p50 "
        f"{_pct(estop_flooded, 50):.1f} ms, p95 {_pct(estop_flooded, 95):.1f} ms"
    )
    print(
        f"video frame-to-screen ({len(screen)} frames drawn): p50 {_pct(screen, 50):.1f} ms, "
        f"p95 {_pct(screen, 95):.1f} ms (goal <= 200 ms)"
    )
    print(
        f"raw pyzmq SUB on the same stream ({len(raw)} frames): p50 {_pct(raw, 50):.2f} ms, "
        f"p95 {_pct(raw, 95):.2f} ms"
    )
    print(f"frame-to-screen p95 / raw pyzmq p95: {_pct(screen, 95) / _pct(raw, 95):.1f}x")


if __name__ == "__main__":
    main()
