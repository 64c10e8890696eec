"""The Open Ephys GUI's side, emulated: ZMQ Interface plugin sockets and the HTTP control API.

What a client sees of a GUI running a signal chain "acquisition board → ZMQ
Interface": a PUB data socket sending each processing block as one message
per channel in the plugin's exact framing (:mod:`physres.drivers.mea.oe_protocol`),
a REP listening socket on data port + 1 that answers heartbeats as the plugin
does and marks a client dead 5 s after its last one, and the GUI's HTTP
server (``/api/status`` IDLE / ACQUIRE / RECORD, ``/api/recording``,
``/api/processors``, ``/api/message``) served by Starlette on uvicorn, which
``open_ephys.control.OpenEphysHTTPServer`` drives unchanged. Samples come in
real time from a source: the simulated culture's raw (``sim.mea``) or a
synthetic recording with known spikes.

:class:`Faults` makes it misbehave on purpose: lost messages (a gap in
``message_num``), garbled ones (truncated payload, broken JSON, a wrong part
count, an unknown envelope), a listening socket that stops answering
heartbeats, and acquisition that stops by itself mid-run.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import uvicorn
import zmq
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from physres.drivers.mea import oe_protocol as oe

__all__ = ["MODES", "Faults", "OpenEphysEmulator", "Source"]

MODES = ("IDLE", "ACQUIRE", "RECORD")
#: a block source: ``source(n_samples) -> (n_samples, n_channels)`` float32 µV
Source = Callable[[int], np.ndarray]
#: seconds without a heartbeat after which the plugin shows a client as dead
CLIENT_TIMEOUT_S = 5.0


@dataclass
class Faults:
    """Misbehaviour on purpose (0 / None: off)."""

    #: every n-th data message is never sent (its message_num is skipped)
    drop_every: int = 0
    #: every n-th data message is sent damaged (cycling through four kinds of damage)
    garble_every: int = 0
    #: the listening socket stops answering heartbeats this long after start (s)
    heartbeat_stops_after_s: float | None = None
    #: acquisition stops by itself (mode → IDLE) after this many seconds of acquiring
    stop_after_s: float | None = None


@dataclass
class Client:
    application: str
    uuid: str
    last_seen: float
    heartbeats: int = 0

    @property
    def alive(self) -> bool:
        return time.monotonic() - self.last_seen <= CLIENT_TIMEOUT_S


@dataclass
class _Counters:
    messages: int = 0  # message_num of the last message (sent or dropped)
    sent: int = 0
    dropped: int = 0
    garbled: int = 0
    blocks: int = 0
    samples: int = 0
    bad_requests: int = 0
    garble_kinds: dict[str, int] = field(default_factory=dict)


class OpenEphysEmulator:
    """One emulated GUI with a ZMQ Interface; ``start()``, then connect clients to its ports.

    ``data_port=0`` / ``http_port=0`` let the OS pick (the listening socket
    always takes data port + 1, as the plugin's does). ``block`` samples per
    channel go out per processing block, every ``block / rate_hz`` seconds.
    """

    def __init__(
        self,
        source: Source,
        *,
        n_channels: int,
        rate_hz: float = 25_000.0,
        block: int = 250,
        host: str = "127.0.0.1",
        data_port: int = 0,
        http_port: int = 0,
        stream: str = "emulated_mea",
        faults: Faults | None = None,
    ) -> None:
        self.source = source
        self.n_channels = int(n_channels)
        self.rate_hz = float(rate_hz)
        self.block = int(block)
        self.host = host
        self.stream = stream
        self.faults = faults or Faults()
        self._want_data_port = int(data_port)
        self._want_http_port = int(http_port)
        self.data_port = 0
        self.http_port = 0
        self.mode = "IDLE"
        self.recording: dict[str, Any] = {
            "parent_directory": "",
            "base_text": "",
            "prepend_text": "",
            "append_text": "",
            "record_nodes": [],
        }
        self.clients: dict[str, Client] = {}
        self.count = _Counters()
        #: why acquisition last stopped ("http", "fault", "close")
        self.stop_reason = ""
        self._lock = threading.Lock()
        self._mode_changed = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ctx = zmq.Context()
        self._server: uvicorn.Server | None = None
        self._t_start = 0.0
        self._runs = 0  # acquisitions ended so far

    # ------------------------------------------------------------- lifecycle
    def start(self) -> OpenEphysEmulator:
        pub, rep = self._bind_zmq()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._want_http_port))
        self.http_port = sock.getsockname()[1]
        config = uvicorn.Config(self._app(), log_level="error", lifespan="off")
        self._server = uvicorn.Server(config)
        self._t_start = time.monotonic()
        self._threads = [
            threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True),
            threading.Thread(target=self._acquire_loop, args=(pub,), daemon=True),
            threading.Thread(target=self._listen_loop, args=(rep,), daemon=True),
        ]
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + 10.0
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.005)
        if not self._server.started:
            self.close()
            raise RuntimeError(f"emulated Open Ephys HTTP server did not start on {self.http_port}")
        return self

    def close(self) -> None:
        self._stop.set()
        self._mode_changed.set()
        if self._server is not None:
            self._server.should_exit = True
        for t in self._threads:
            t.join(timeout=5.0)
        self._threads = []
        self._ctx.destroy(linger=0)

    def __enter__(self) -> OpenEphysEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _bind_zmq(self) -> tuple[zmq.Socket, zmq.Socket]:
        """PUB on the data port and REP on data port + 1, as the plugin binds them."""
        for _ in range(50):
            pub = self._ctx.socket(zmq.PUB)
            pub.setsockopt(zmq.LINGER, 0)
            pub.setsockopt(zmq.SNDHWM, 100_000)
            if self._want_data_port:
                pub.bind(f"tcp://{self.host}:{self._want_data_port}")
                port = self._want_data_port
            else:
                port = pub.bind_to_random_port(f"tcp://{self.host}", 20_000, 60_000)
            rep = self._ctx.socket(zmq.REP)
            rep.setsockopt(zmq.LINGER, 0)
            try:
                rep.bind(f"tcp://{self.host}:{port + 1}")
            except zmq.ZMQError:
                rep.close()
                pub.close()
                if self._want_data_port:
                    raise
                continue
            self.data_port = port
            return pub, rep
        raise RuntimeError("no free pair of ports for the emulated ZMQ Interface")

    # ------------------------------------------------------------------ mode
    def set_mode(self, mode: str, reason: str = "http") -> str:
        """What ``PUT /api/status`` does: IDLE, ACQUIRE or RECORD."""
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {MODES}")
        with self._lock:
            if mode == "IDLE" and self.mode != "IDLE":
                self.stop_reason = reason
                self._runs += 1  # ends the acquisition even if ACQUIRE follows at once
            self.mode = mode
        self._mode_changed.set()
        return mode

    # ------------------------------------------------------------- data side
    def _acquire_loop(self, pub: zmq.Socket) -> None:
        try:
            while not self._stop.is_set():
                self._mode_changed.wait(0.1)
                self._mode_changed.clear()
                if self.mode != "IDLE":
                    self._acquire(pub)
        finally:
            pub.close(linger=0)

    def _acquire(self, pub: zmq.Socket) -> None:
        """One acquisition: sample and message numbers start again from 0, and a source that
        can rewinds (like a file played from its start), so acquisitions repeat."""
        f = self.faults
        self.count.messages = 0
        rewind = getattr(self.source, "rewind", None)
        if rewind is not None:
            rewind()
        t0 = time.monotonic()
        sample = 0
        run = self._runs
        while not self._stop.is_set() and self._runs == run:
            due = t0 + (sample + self.block) / self.rate_hz
            wait = due - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            if f.stop_after_s is not None and time.monotonic() - t0 >= f.stop_after_s:
                self.set_mode("IDLE", reason="fault")
                return
            data = np.asarray(self.source(self.block), np.float32)
            stamp = int(time.time() * 1000)
            for ch in range(self.n_channels):
                self.count.messages += 1
                num = self.count.messages
                frames = oe.encode_data(
                    num,
                    stream=self.stream,
                    channel_num=ch,
                    channel_name=f"CH{ch + 1}",
                    samples=data[:, ch],
                    sample_num=sample,
                    sample_rate=self.rate_hz,
                    timestamp_ms=stamp,
                )
                if f.drop_every and num % f.drop_every == 0:
                    self.count.dropped += 1
                    continue
                if f.garble_every and num % f.garble_every == 0:
                    frames = self._garble(frames, num // f.garble_every)
                pub.send_multipart(frames, copy=False)
                self.count.sent += 1
            sample += self.block
            self.count.blocks += 1
            self.count.samples = sample

    def _garble(self, frames: list[bytes], k: int) -> list[bytes]:
        how = ("payload", "json", "parts", "envelope")[k % 4]
        self.count.garbled += 1
        self.count.garble_kinds[how] = self.count.garble_kinds.get(how, 0) + 1
        if how == "payload":
            return [frames[0], frames[1], frames[2][:-3]]
        if how == "json":
            return [frames[0], frames[1][: len(frames[1]) // 2], frames[2]]
        if how == "parts":
            return [frames[0]]
        return [b"\xff\xfeNOISE", frames[1], frames[2]]

    # ------------------------------------------------------- listening side
    def _listen_loop(self, rep: zmq.Socket) -> None:
        stop_at = self.faults.heartbeat_stops_after_s
        try:
            while not self._stop.is_set():
                if stop_at is not None and time.monotonic() - self._t_start >= stop_at:
                    self._stop.wait(0.1)  # hung: requests pile up unanswered
                    continue
                if not rep.poll(100):
                    continue
                raw = rep.recv()
                obj = oe.parse_heartbeat(raw)
                if obj is None:
                    self.count.bad_requests += 1
                    rep.send(oe.BAD_JSON_REPLY)
                    continue
                uid, app = str(obj.get("uuid", "")), str(obj.get("application", ""))
                with self._lock:
                    c = self.clients.setdefault(uid, Client(app, uid, time.monotonic()))
                    c.last_seen = time.monotonic()
                    c.heartbeats += obj.get("type") != "event"
                rep.send(oe.EVENT_REPLY if obj.get("type") == "event" else oe.HEARTBEAT_REPLY)
        finally:
            rep.close(linger=0)

    # ----------------------------------------------------------------- HTTP
    def _app(self) -> Starlette:
        async def body(request: Request) -> dict[str, Any] | None:
            raw = await request.body()
            if not raw:
                return {}
            try:
                obj = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                return None
            return obj if isinstance(obj, dict) else None

        def bad(text: str) -> JSONResponse:
            self.count.bad_requests += 1
            return JSONResponse({"error": text}, status_code=400)

        async def status(request: Request) -> JSONResponse:
            if request.method == "PUT":
                obj = await body(request)
                if obj is None or "mode" not in obj:
                    return bad('expected JSON {"mode": "IDLE" | "ACQUIRE" | "RECORD"}')
                try:
                    self.set_mode(str(obj["mode"]))
                except ValueError as e:
                    return bad(str(e))
            return JSONResponse({"mode": self.mode})

        async def recording(request: Request) -> JSONResponse:
            if request.method == "PUT":
                obj = await body(request)
                if obj is None:
                    return bad("expected a JSON object")
                for key in ("parent_directory", "base_text", "prepend_text", "append_text"):
                    if key in obj:
                        self.recording[key] = str(obj[key])
            return JSONResponse(self.recording)

        async def processors(request: Request) -> JSONResponse:
            return JSONResponse(
                {
                    "processors": [
                        {"id": 100, "name": "Emulated MEA source"},
                        {"id": 101, "name": "ZMQ Interface", "data_port": self.data_port},
                    ]
                }
            )

        async def message(request: Request) -> JSONResponse:
            obj = await body(request)
            if obj is None or "text" not in obj:
                return bad('expected JSON {"text": ...}')
            return JSONResponse({"info": "Message sent."})

        routes = [
            Route("/api/status", status, methods=["GET", "PUT"]),
            Route("/api/recording", recording, methods=["GET", "PUT"]),
            Route("/api/processors", processors, methods=["GET"]),
            Route("/api/message", message, methods=["PUT"]),
        ]
        return Starlette(routes=routes)
