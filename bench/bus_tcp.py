"""Crossing hosts: ``python bench/bus.py --tcp`` (this module does the work).

Publisher on host A, subscriber on host B, over TCP with CURVE encryption and
key authentication on both sides of every comparison. "Another host" is a
network namespace joined by a veth pair (root and ``ip`` needed); without
them both ends run on loopback, and the first line says so.

Baseline: raw pyzmq PUB (A) → SUB (B), CURVE server/client keys and a ZAP
authenticator, ``copy=False`` for frames. physres: a Node on A (the broker
beside it) publishing on its own CURVE server socket, which accepts the keys
the broker hands it; a Subscriber on B that looks the node up through the
broker (``Subscriber.direct``: its address and public key) and connects to it
straight, validating every header and tracking sequence numbers. This is the
path a heavy stream (a camera) takes across hosts. Raw and physres
run back to back, alternating which goes first; each figure is the median of
the pairs' ratios. The last line printed is the frame throughput ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

FRAME_SHAPE = (480, 640, 3)
PAYLOADS = {"frames": 10, "small": 1000}  # payload kind -> HWM


def _payload(kind: str) -> np.ndarray:
    if kind == "frames":
        return np.random.default_rng(0).integers(0, 256, FRAME_SHAPE, dtype=np.uint8)
    return np.zeros(8, np.float64)  # 64 bytes


def _bus(a: argparse.Namespace, who: str) -> Any:
    from physres.bus import BusConfig

    k = Path(a.keys)
    extra = {"curve_allowed": str(k / "allowed")} if who == "broker" else {}
    return BusConfig(
        name="benchtcp",
        transport="tcp",
        host=a.addr,
        port=a.port,
        sndhwm=PAYLOADS[a.payload],
        rcvhwm=PAYLOADS[a.payload],
        curve_secret=str(k / f"{who}.key_secret"),
        curve_broker=str(k / "broker.key"),
        **extra,
    )


def role_pub(a: argparse.Namespace) -> None:
    """Host A: flood until killed."""
    import zmq.auth
    from zmq.auth.thread import ThreadAuthenticator

    payload = _payload(a.payload)
    ctx = zmq.Context()
    if a.impl == "raw":
        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.configure_curve(domain="*", location=str(Path(a.keys) / "allowed"))
        pub, sec = zmq.auth.load_certificate(Path(a.keys) / "broker.key_secret")
        s = ctx.socket(zmq.PUB)
        s.curve_publickey, s.curve_secretkey, s.curve_server = pub, sec, True
        s.setsockopt(zmq.SNDHWM, PAYLOADS[a.payload])
        s.bind(f"tcp://{a.addr}:{a.port}")
        print("ready", flush=True)
        if a.payload == "frames":
            parts = [b"bench/frame", payload]
            while True:
                s.send_multipart(parts, copy=False)
        small = b"bench/x " + b"\0" * 56
        while True:
            for _ in range(200):
                s.send(small)
    from physres.bus import Broker, Node

    cfg = _bus(a, "broker")
    Broker(cfg, ctx).start()
    node = Node("bench", _bus(a, "hostA"), ctx)  # binds its own authenticated socket
    p = node.pub
    beat = threading.Thread(target=lambda: [node.spin_once(0.2) for _ in iter(int, 1)])
    beat.daemon = True  # stay listed (alive) while flooding
    beat.start()
    print("ready", flush=True)
    arrays = {"frame": payload}
    while True:
        for _ in range(50):
            p.publish("frame", arrays)


def role_sub(a: argparse.Namespace) -> None:
    """Host B: count what arrives in the window; print {rate, cpu_rate} as JSON."""
    import zmq.auth

    ctx = zmq.Context()
    k = Path(a.keys)
    if a.impl == "raw":
        s = ctx.socket(zmq.SUB)
        s.curve_publickey, s.curve_secretkey = zmq.auth.load_certificate(k / "hostB.key_secret")
        s.curve_serverkey = zmq.auth.load_certificate(k / "broker.key")[0]
        s.setsockopt(zmq.RCVHWM, PAYLOADS[a.payload])
        s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect(f"tcp://{a.addr}:{a.port}")
        copy = a.payload != "frames"

        def recv(timeout_ms: int) -> bool:
            if s.poll(timeout_ms):
                s.recv_multipart(copy=copy)
                return True
            return False
    else:
        from physres.bus import Subscriber

        sub = Subscriber.direct(ctx, _bus(a, "hostB"), "bench", ["bench/"])
        if sub.sock.last_endpoint.decode().endswith(f":{a.port + 1}"):
            print(json.dumps({"error": "bench/ advertised no direct address"}), flush=True)
            return

        def recv(timeout_ms: int) -> bool:
            m = sub.recv(timeout_ms / 1000)
            if m is None:
                return False
            _ = m.arrays  # decoded and validated
            return True

    if not recv(20_000):
        print(json.dumps({"error": "nothing arrived in 20 s"}), flush=True)
        return
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < a.window:
        n += recv(200)
    wall = time.perf_counter() - t0
    print(json.dumps({"rate": n / wall, "cpu_rate": n / max(time.process_time() - c0, 1e-9)}))
    os._exit(0)  # sockets with queued frames: do not linger on teardown


class Hosts:
    """Host A and host B: network namespaces on a veth pair, or loopback."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.ns: dict[str, str] = {}
        why = self._netns()
        self.where = (
            "between network namespaces on a veth pair (10.232.0.1 -> 10.232.0.2)"
            if why is None
            else f"on loopback ({why})"
        )
        self.addr = "10.232.0.1" if why is None else "127.0.0.1"

    def _netns(self) -> str | None:
        if shutil.which("ip") is None or os.geteuid() != 0:
            return "network namespaces need root and `ip`"
        ns = {"a": f"pba{self.tag}", "b": f"pbb{self.tag}"}
        va, vb = f"bva{self.tag}", f"bvb{self.tag}"
        try:
            for n in ns.values():
                _ip("netns", "add", n)
            self.ns = ns
            _ip("link", "add", va, "type", "veth", "peer", "name", vb)
            for h, v, ip in (("a", va, "10.232.0.1"), ("b", vb, "10.232.0.2")):
                _ip("link", "set", v, "netns", ns[h])
                _ip("-n", ns[h], "addr", "add", f"{ip}/24", "dev", v)
                _ip("-n", ns[h], "link", "set", v, "up")
                _ip("-n", ns[h], "link", "set", "lo", "up")
        except subprocess.CalledProcessError as e:
            self.close()
            return f"`ip {' '.join(e.cmd[1:])}` failed"
        return None

    def popen(self, host: str, args: list[str]) -> subprocess.Popen:
        pre = ["ip", "netns", "exec", self.ns[host]] if self.ns else []
        cmd = [*pre, sys.executable, str(Path(__file__).with_name("bus.py")), "--tcp", *args]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)

    def close(self) -> None:
        for n in self.ns.values():
            subprocess.run(["ip", "netns", "del", n], capture_output=True)
        self.ns = {}


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def measure(hosts: Hosts, keys: str, impl: str, payload: str, window: float) -> dict:
    common = ["--keys", keys, "--addr", hosts.addr, "--port", "7790", "--impl", impl]
    common += ["--payload", payload, "--window", str(window)]
    pub = hosts.popen("a", ["--role", "pub", *common])
    try:
        assert pub.stdout is not None and pub.stdout.readline().strip() == "ready"
        sub = hosts.popen("b", ["--role", "sub", *common])
        out, _ = sub.communicate(timeout=window + 60)
    finally:
        pub.kill()
        pub.wait()
    result = json.loads(out.strip().splitlines()[-1])
    if "error" in result:
        raise SystemExit(f"{impl} {payload}: {result['error']}")
    return result


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--role", choices=["pub", "sub"])
    ap.add_argument("--impl", choices=["raw", "physres"])
    ap.add_argument("--payload", choices=list(PAYLOADS), default="frames")
    ap.add_argument("--keys")
    ap.add_argument("--addr")
    ap.add_argument("--port", type=int, default=7790)
    ap.add_argument("--window", type=float, default=1.5)
    a = ap.parse_args(argv)
    if a.role == "pub":
        role_pub(a)
        return
    if a.role == "sub":
        role_sub(a)
        return
    from physres.bus.keys import allow_key, new_keys

    window = 1.0 if a.quick else a.window
    reps = 1 if a.quick else a.repeats
    hosts = Hosts()
    try:
        with tempfile.TemporaryDirectory() as keys:
            for name in ("broker", "hostA", "hostB"):
                new_keys(keys, name)
                allow_key(Path(keys) / f"{name}.key", Path(keys) / "allowed")
            print(f"host A -> host B {hosts.where}, CURVE on both sides")
            ratios: dict[str, list[tuple[float, float, float]]] = {k: [] for k in PAYLOADS}
            for i in range(reps):
                for kind in PAYLOADS:
                    order = ["raw", "physres"] if i % 2 == 0 else ["physres", "raw"]
                    r = {impl: measure(hosts, keys, impl, kind, window) for impl in order}
                    ratios[kind].append(
                        (
                            r["raw"]["rate"],
                            r["physres"]["rate"],
                            r["physres"]["cpu_rate"] / r["raw"]["cpu_rate"],
                        )
                    )
    finally:
        hosts.close()
    med = statistics.median
    f, s = ratios["frames"], ratios["small"]
    mb = float(np.prod(FRAME_SHAPE)) / 1e6
    print(
        f"frames 640x480x3 over CURVE: raw pyzmq {med(x[0] for x in f):7.0f}/s "
        f"({med(x[0] for x in f) * mb / 1e3:.2f} GB/s)  physres {med(x[1] for x in f):7.0f}/s"
    )
    print(
        f"64-byte messages over CURVE: raw pyzmq {med(x[0] for x in s):8.0f}/s  "
        f"physres {med(x[1] for x in s):8.0f}/s"
    )
    print(
        f"(median of {reps} back-to-back pairs; per subscriber CPU second: frames "
        f"{med(x[2] for x in f):.2f}, small {med(x[2] for x in s):.2f} of raw)"
    )
    print(f"small-message ratio physres/raw over CURVE = {med(x[1] / x[0] for x in s):.2f}")
    print(
        f"frame throughput ratio physres/raw over CURVE = {med(x[1] / x[0] for x in f):.2f} "
        "(goal >= 0.8)"
    )
