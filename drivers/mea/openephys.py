"""``drivers.openephys``: an MEA recorded by the Open Ephys GUI, read through its ZMQ Interface.

The GUI runs the acquisition (any board it supports, at 25 kHz) with the ZMQ
Interface plugin in its signal chain; this driver subscribes to the plugin's
data socket, sends it the heartbeats it expects on data port + 1, and starts,
records and stops acquisition through the GUI's HTTP server (port 37497,
``httpx``). Raw continuous data (one message per channel per block, framed as
:mod:`.oe_protocol` describes) is assembled into ``(samples, channels)``
blocks and run through :class:`physres.mea.detect.SpikeDetector`, the same
code that detects spikes in the simulated culture's raw: it publishes the
MEA interface's ``spikes`` (and ``raw`` with ``raw: true``).

**Time is the GUI's sample clock.** One ``stim`` row is one step of
``step_ms``; ``apply`` returns once the GUI has delivered that step's samples,
so the acquisition paces the experiment exactly as a CL1's loop does, and
event times are sample numbers (× 40 µs) since the first sample this driver
saw. ``reset()`` restarts acquisition when the driver controls it (the sample
clock starts again at 0).

**No stimulation.** Open Ephys acquires; it has no generic stimulator (its
stimulation plugins drive specific hardware such as a Pulse Pal or an
acquisition board's digital outputs, with no common command for "a
biphasic pulse on electrode n"). The ``stim`` input therefore accepts only
zeros (a step without pulses); any pulse is refused with :class:`SafetyError`
before anything is sent.

**Faults** are counted and reported, never fatal by themselves: lost
messages (gaps in ``message_num``), garbled ones (by kind), blocks missing
channels and gaps in ``sample_num`` (NaN in ``raw``, blanked for detection),
heartbeats the GUI did not answer (the socket is reopened, as the plugin's
example client does). ``status()`` and every chunk's ``meta`` carry the
counts. Acquisition that stops mid-run (the GUI went IDLE, or stopped
answering) latches a fault: the data received so far is delivered, then
``apply``/``read`` raise :class:`DeviceError` saying why, which ends a
``physres run`` cleanly with the reason in ``run.json``.

Mock mode starts the emulated GUI (``python -m physres.sim.openephys``) in a
process of its own and talks to it over the same sockets and HTTP.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import numpy as np
import zmq
from pydantic import BaseModel, ConfigDict, Field, model_validator

from physres.device import Chunk, Description, Device, InputSpec, Limits, PendingChunk, command
from physres.errors import DeviceError, DeviceTimeout, FrameError, RuleError, SafetyError
from physres.mea.detect import DetectParams, SpikeDetector
from physres.mea.params import RAW_RATE_HZ, SPIKE_DTYPE, MEAParams, mea_io

from . import oe_protocol as oe

__all__ = ["EMULATOR", "OpenEphys", "OpenEphysParams"]

#: the emulated GUI mock mode starts (a module run with ``python -m``; never imported here)
EMULATOR = "physres.sim.openephys"


class EmulatorParams(BaseModel):
    """What the emulated GUI of mock mode serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: "synthetic": Poisson spikes in noise; "culture": the simulated culture (sim.mea)
    source: str = Field("synthetic", pattern="^(synthetic|culture)$")
    seed: int = 0
    #: samples per channel per processing block (the GUI's buffer size)
    block: int = Field(250, ge=1, le=65_536)


class OpenEphysParams(MEAParams):
    """Where the GUI is, how to keep its plugin's attention, how to detect spikes."""

    #: the host running the Open Ephys GUI
    host: str = "127.0.0.1"
    #: the ZMQ Interface's data port (its editor shows it; heartbeats go to data_port + 1)
    data_port: int = Field(5556, ge=1, le=65_534)
    #: the GUI's HTTP server (Preferences → HTTP server); fixed at 37497 in the GUI
    http_port: int = Field(37497, ge=1, le=65_535)
    #: our name in the plugin's client list
    application: str = "physres"
    #: heartbeat period (the plugin's documentation recommends 2 s; it drops a client after 5 s)
    heartbeat_s: float = Field(2.0, gt=0, le=5.0, allow_inf_nan=False)
    #: a heartbeat unanswered this long is counted as missed and the socket reopened
    heartbeat_timeout_s: float = Field(5.0, gt=0, le=60, allow_inf_nan=False)
    #: put the GUI into ACQUIRE on connect (RECORD with record: true) and back to IDLE on
    #: disconnect; False: read whatever the GUI is already acquiring and leave it so
    acquire: bool = True
    #: record in the GUI (its Record Node writes its own files) while this device is connected
    record: bool = False
    #: no data for this long while waiting for a step: ask the GUI whether it still acquires
    stall_s: float = Field(2.0, gt=0, le=600, allow_inf_nan=False)
    #: acquired samples not yet consumed by steps, at most (s): beyond it the run stops
    #: with that reason instead of buffering without bound (64 channels: 6.4 MB/s of raw)
    max_backlog_s: float = Field(120.0, gt=0, le=3600, allow_inf_nan=False)
    #: HTTP request timeout
    http_timeout_s: float = Field(3.0, gt=0, le=60, allow_inf_nan=False)
    #: channel_num in the GUI's stream of each electrode (index = electrode); None: the same
    channel_map: list[int] | None = None
    #: spike detection on the GUI's raw (band-pass, threshold, refractory, blanking)
    detect: DetectParams = DetectParams()
    #: mock mode only: what the emulated GUI serves
    emulator: EmulatorParams = EmulatorParams()

    @model_validator(mode="after")
    def _channel_map_fits(self) -> OpenEphysParams:
        m = self.channel_map
        if m is not None:
            if len(m) != self.n_channels:
                raise RuleError(
                    "channel_map",
                    f"channel_map has {len(m)} entries; layout {self.layout!r} has "
                    f"{self.n_channels} electrodes",
                )
            if len(set(m)) != len(m) or min(m) < 0:
                raise RuleError("channel_map", "channel_map must name distinct channels >= 0")
        return self


@dataclass
class Counters:
    """What went wrong on the wire so far (all counts since connect)."""

    messages: int = 0
    dropped: int = 0  # message numbers never received
    garbled: dict[str, int] = field(default_factory=dict)
    incomplete_blocks: int = 0  # blocks some channels of which never came
    samples_lost: int = 0  # samples of the gaps in sample_num (filled with NaN)
    stale: int = 0  # messages for samples already past
    unmapped: int = 0  # channels not in the channel map
    events: int = 0  # TTL/message events (not used by this driver)
    gui_spikes: int = 0  # spikes from the GUI's own detector (ignored: we detect our own)
    heartbeats: int = 0
    heartbeat_misses: int = 0
    heartbeat_bad_replies: int = 0
    restarts: int = 0  # acquisitions the GUI restarted under us

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["garbled"] = dict(self.garbled)
        return d


class OpenEphys(Device):
    """The Open Ephys GUI's ZMQ Interface as an MEA device (record and detect; no stim)."""

    Params = OpenEphysParams
    default_kind = "drivers.openephys"
    #: one apply row = one step of the GUI's sample clock (apply waits for its samples)
    clock = "stepped"
    mock_transport = True
    params: OpenEphysParams
    #: wait for the first data after connect / reset at most this long (s)
    first_data_s: ClassVar[float] = 10.0

    def __init__(self, name: str | None = None, *, mock: bool = False, **params: Any) -> None:
        super().__init__(name or "openephys", mock=mock, **params)
        p = self.params
        n = p.n_channels
        self._map = np.asarray(p.channel_map if p.channel_map is not None else range(n), int)
        self._index = {int(c): e for e, c in enumerate(self._map)}  # channel_num → electrode
        self._emulator: subprocess.Popen[str] | None = None
        self._host, self._data_port, self._http_port = p.host, p.data_port, p.http_port
        self._ctx: zmq.Context | None = None
        self._http: httpx.Client | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._cv = threading.Condition()
        self._spikes = PendingChunk(np.zeros(0, SPIKE_DTYPE))
        self._pulses = PendingChunk(np.zeros(0, SPIKE_DTYPE))
        self._raw = PendingChunk(np.zeros((0, n), np.float32))
        self.counters = Counters()
        self._last_num: int | None = None  # message_num of the last message
        self._await_restart = False
        self._reset_stream()

    # ------------------------------------------------------------ describe
    def describe(self) -> Description:
        p = self.params
        streams, inputs, meta = mea_io(p)
        stim = inputs[0]
        inputs = [
            InputSpec(
                name=stim.name,
                dtype=stim.dtype,
                shape=stim.shape,
                units=stim.units,
                rate_hz=stim.rate_hz,
                limits=Limits(low=0.0, high=0.0),
                doc=(
                    "one row per step of the GUI's sample clock; Open Ephys has no generic "
                    "stimulator, so every entry must be 0 (no pulse)"
                ),
            )
        ]
        meta = {
            **meta,
            "gui": f"{p.host}:{p.data_port} (ZMQ Interface), http {p.http_port}",
            "stimulation": "none: Open Ephys acquires only",
        }
        return self._description(streams=streams, inputs=inputs, meta=meta)

    def check_inputs(self, inputs: Any, desc: Description | None = None) -> dict[str, np.ndarray]:
        """Refuse any pulse first, saying why (the limits would only say 'above 0 µA')."""
        stim = inputs.get("stim") if hasattr(inputs, "get") else None
        if stim is not None:
            arr = np.asarray(stim, dtype=float) if np.asarray(stim).dtype.kind in "biuf" else None
            if arr is not None and arr.size and np.isfinite(arr).all() and (arr != 0).any():
                idx = [int(i) for i in np.argwhere(arr != 0)[0]]
                electrode = self.params.stim_electrodes[idx[-1]] if arr.ndim else None
                raise SafetyError(
                    f"{self.name}.stim{idx} = {arr[tuple(idx)]:g} µA (electrode {electrode}) "
                    "refused: Open Ephys has no generic stimulator, drivers.openephys records "
                    "only; send 0 (no pulse), or stimulate with a CL1 (drivers.cl1)"
                )
        return super().check_inputs(inputs, desc)

    # ------------------------------------------------------------ lifecycle
    def _connect(self) -> None:
        p = self.params
        if self.mock:
            self._start_emulator()
        self._ctx = zmq.Context()
        self._http = httpx.Client(
            base_url=f"http://{self._host}:{self._http_port}", timeout=p.http_timeout_s
        )
        try:
            mode = self._gui_mode()
            self._fault = None
            self.counters = Counters()
            self._last_num, self._await_restart = None, False
            self._reset_stream()
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._receive, name=f"{self.name}-zmq", daemon=True
            )
            self._thread.start()
            if p.acquire:
                self._set_mode("RECORD" if p.record else "ACQUIRE")
            elif mode == "IDLE":
                raise DeviceError(
                    f"{self.name}: the Open Ephys GUI at {self._host}:{self._http_port} is IDLE "
                    "and acquire is false: start acquisition in the GUI, or set acquire: true"
                )
            self._wait_first_data()
            self._wait_noise()
        except BaseException:
            self._close()
            raise

    def _disconnect(self) -> None:
        try:
            if self.params.acquire and self._http is not None:
                try:
                    self._set_mode("IDLE")
                except DeviceError:
                    pass  # the GUI is gone: nothing left to stop
        finally:
            self._close()

    def _close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._ctx is not None:
            self._ctx.destroy(linger=0)
            self._ctx = None
        if self._emulator is not None:
            if self._emulator.stdin is not None:
                self._emulator.stdin.close()
            self._emulator.terminate()
            try:
                self._emulator.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self._emulator.kill()
                self._emulator.wait()
            self._emulator = None

    def _reset(self, seed: int | None) -> None:
        """Restart acquisition (when this driver controls it): the sample clock starts at 0."""
        self._spikes.clear()
        self._raw.clear()
        self._pulses.clear()
        if self.params.acquire:
            self._set_mode("IDLE")
            with self._cv:
                self._reset_stream()
                # what the old acquisition still has in flight must not anchor the new one:
                # skip messages until the numbering starts again
                self._await_restart = True
            self._set_mode("RECORD" if self.params.record else "ACQUIRE")
        else:
            with self._cv:
                self._reset_stream()
        self._wait_first_data()

    def _start_emulator(self) -> None:
        """Mock mode: the emulated GUI in its own process; its first line names its ports."""
        p, e = self.params, self.params.emulator
        cmd = [
            sys.executable, "-m", EMULATOR, "--channels", str(int(self._map.max()) + 1),
            "--block", str(e.block), "--source", e.source, "--seed", str(e.seed),
            "--layout", p.layout,
        ]  # fmt: skip
        # its stdin is a pipe only we hold: when this process ends, however, it ends too
        self._emulator = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
        )
        assert self._emulator.stdout is not None
        line = self._emulator.stdout.readline()
        try:
            ports = json.loads(line)
            self._host = "127.0.0.1"
            self._data_port, self._http_port = int(ports["data_port"]), int(ports["http_port"])
        except (ValueError, KeyError, TypeError):
            self._emulator.kill()
            self._emulator.wait()
            self._emulator = None
            raise DeviceError(
                f"{self.name}: the Open Ephys emulator ({' '.join(cmd)}) did not announce its "
                f"ports; it said {line[:200]!r}"
            ) from None

    # --------------------------------------------------------------- HTTP
    def _gui_mode(self) -> str:
        return self._http_call("GET", None)

    def _set_mode(self, mode: str) -> None:
        got = self._http_call("PUT", mode)
        if got != mode:
            raise DeviceError(f"{self.name}: asked the Open Ephys GUI for {mode}, it is {got}")

    def _http_call(self, method: str, mode: str | None) -> str:
        assert self._http is not None
        where = f"the Open Ephys GUI's HTTP server at {self._host}:{self._http_port}"
        try:
            if mode is None:
                r = self._http.get("/api/status")
            else:
                r = self._http.put("/api/status", content=json.dumps({"mode": mode}))
            r.raise_for_status()
            got = r.json().get("mode")
        except httpx.HTTPStatusError as e:
            raise DeviceError(f"{self.name}: {where} refused {method} /api/status: {e}") from e
        except httpx.HTTPError as e:
            raise DeviceError(
                f"{self.name}: {where} did not answer ({type(e).__name__}): is the GUI running "
                "with its HTTP server enabled?"
            ) from e
        except (ValueError, AttributeError) as e:
            raise DeviceError(f"{self.name}: {where} sent a reply that is not its JSON") from e
        if got not in ("IDLE", "ACQUIRE", "RECORD"):
            raise DeviceError(f"{self.name}: {where} reports mode {str(got)[:32]!r}")
        return got

    # ------------------------------------------------------- stream state
    def _reset_stream(self) -> None:
        """Forget the acquisition: step grid, sample buffer, detector (callers hold _cv)."""
        p = self.params
        self._anchor: int | None = None  # sample_num of step 0
        self._received = 0  # samples assembled, counted from the anchor
        self._buf: list[np.ndarray] = []  # raw not yet handed to a step
        self._buf_start = 0
        self._spike_buf: list[np.ndarray] = []  # detected spikes not yet handed to a step
        self._block: dict[str, Any] | None = None
        self._steps = 0
        self._steps_pending = 0  # steps applied since the last read
        self._clock_ns = 0
        self._last_data = time.monotonic()
        # the noise estimate survives a reset: the same electrodes, the same noise
        noise = getattr(self, "_detector", None)
        # nothing is ever announced late (no stimuli; a gap is known before the data after
        # it), so nothing is held back: a step's spikes are final once its samples came
        self._detector = SpikeDetector(p.n_channels, RAW_RATE_HZ, p.detect, holdback=0)
        if noise is not None and noise.noise_uv is not None:
            self._detector.noise_uv = noise.noise_uv

    # ------------------------------------------------------ receiver thread
    def _receive(self) -> None:
        """Data and heartbeats, in one thread (each ZMQ socket stays in its thread)."""
        p = self.params
        assert self._ctx is not None
        sub = self._ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.RCVHWM, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(f"tcp://{self._host}:{self._data_port}")
        me = str(uuid.uuid4())
        req: zmq.Socket | None = None
        sent_at = 0.0
        waiting = False
        poller = zmq.Poller()
        poller.register(sub, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if waiting and now - sent_at > p.heartbeat_timeout_s:
                    self.counters.heartbeat_misses += 1  # lazy pirate: a fresh socket
                    poller.unregister(req)
                    req.close(linger=0)
                    req, waiting = None, False
                if not waiting and now - sent_at >= p.heartbeat_s:
                    if req is None:
                        req = self._ctx.socket(zmq.REQ)
                        req.setsockopt(zmq.LINGER, 0)
                        req.connect(f"tcp://{self._host}:{self._data_port + 1}")
                        poller.register(req, zmq.POLLIN)
                    req.send(oe.heartbeat(p.application, me))
                    sent_at, waiting = now, True
                for sock, _ in poller.poll(20):
                    if sock is req:
                        reply = req.recv()
                        waiting = False
                        if reply == oe.HEARTBEAT_REPLY:
                            self.counters.heartbeats += 1
                        else:
                            self.counters.heartbeat_bad_replies += 1
                    else:
                        for _ in range(1000):  # drain, but let heartbeats run
                            try:
                                parts = sub.recv_multipart(zmq.NOBLOCK)
                            except zmq.Again:
                                break
                            self._on_message(parts)
                self._finish_stale_block()
        except Exception as e:  # a bug here must not look like a silent GUI
            self._latch(f"the receiver thread failed: {type(e).__name__}: {e}")
            raise
        finally:
            sub.close(linger=0)
            if req is not None:
                req.close(linger=0)

    def _on_message(self, parts: list[bytes]) -> None:
        with self._cv:  # a reset between the checks and the block would mix acquisitions
            self._handle(parts)

    def _handle(self, parts: list[bytes]) -> None:
        c = self.counters
        self._last_msg = time.monotonic()
        try:
            msg = oe.decode(parts)
        except FrameError as e:
            c.garbled[e.kind] = c.garbled.get(e.kind, 0) + 1
            return
        c.messages += 1
        last, self._last_num = self._last_num, msg.message_num
        if last is not None:
            if msg.message_num > last:
                c.dropped += msg.message_num - last - 1
            elif self._await_restart:  # the acquisition we restarted: numbered from 1 again
                self._await_restart = False
            else:
                c.restarts += 1  # the GUI restarted acquisition under us
        if self._await_restart:
            return
        if msg.type == "event":
            c.events += 1
            return
        if msg.type == "spike":
            c.gui_spikes += 1
            return
        content = msg.content
        if abs(float(content["sample_rate"]) - RAW_RATE_HZ) > 1e-6:
            self._latch(
                f"the GUI streams {content['sample_rate']:g} Hz; drivers.openephys needs "
                f"{RAW_RATE_HZ} Hz (set the acquisition board's sample rate)"
            )
            return
        electrode = self._index.get(int(content["channel_num"]))
        if electrode is None:
            c.unmapped += 1
            return
        self._add_channel(int(content["sample_num"]), electrode, msg.samples())

    def _add_channel(self, sample_num: int, electrode: int, samples: np.ndarray) -> None:
        """One channel of a block; the block goes to the detector once all its channels came
        (or once a newer block begins, with the missing channels as NaN)."""
        with self._cv:
            if self._anchor is None:
                self._anchor = sample_num
            rel = sample_num - self._anchor
            b = self._block
            if b is None or rel != b["start"] or len(samples) != len(b["data"]):
                if b is not None:
                    self._finish_block()
                if rel < self._received:
                    self.counters.stale += 1
                    return
                b = self._block = {
                    "start": rel,
                    "data": np.full((len(samples), self.params.n_channels), np.nan, np.float32),
                    "seen": np.zeros(self.params.n_channels, bool),
                }
            b["data"][:, electrode] = samples
            b["seen"][electrode] = True
            if b["seen"].all():
                self._finish_block()

    def _finish_stale_block(self) -> None:
        """A block whose last channels never came is closed once newer data is overdue."""
        with self._cv:
            b = self._block
            if b is not None and time.monotonic() - self._last_data > 0.2:
                self._finish_block()

    def _finish_block(self) -> None:
        """Hand the open block to the detector (callers hold _cv)."""
        b, self._block = self._block, None
        if b is None:
            return
        det = self._detector
        gap = b["start"] - self._received
        if gap > 0:  # whole blocks lost: NaN in raw, blanked for detection
            self.counters.samples_lost += gap
            filler = np.full((gap, self.params.n_channels), np.nan, np.float32)
            det.blank(self._received, b["start"])
            self._append(filler, det.process(np.zeros_like(filler)))
        data = b["data"]
        if not b["seen"].all():
            self.counters.incomplete_blocks += 1
            det.blank(b["start"], b["start"] + len(data))
        self._append(data, det.process(np.nan_to_num(data, nan=0.0)))
        self._last_data = time.monotonic()
        self._cv.notify_all()

    def _append(self, raw: np.ndarray, spikes: np.ndarray) -> None:
        if self.params.raw:  # without raw: true only the count is kept, never the samples
            self._buf.append(raw)
        self._received += len(raw)
        if len(spikes):
            self._spike_buf.append(spikes)
        behind = (self._received - self._buf_start) / RAW_RATE_HZ
        if behind > self.params.max_backlog_s:
            self._latch(
                f"the experiment fell {behind:.0f} s behind the acquisition (max_backlog_s "
                f"{self.params.max_backlog_s:g}): apply steps as fast as the GUI sends them"
            )

    def _latch(self, reason: str) -> None:
        with self._cv:
            if self._fault is None:
                self._fault = reason
            self._cv.notify_all()

    # ------------------------------------------------------------- stepping
    def _wait_first_data(self) -> None:
        deadline = time.monotonic() + self.first_data_s
        with self._cv:
            while self._anchor is None and self._fault is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeviceTimeout(
                        f"{self.name}: no data from the ZMQ Interface at "
                        f"{self._host}:{self._data_port} within {self.first_data_s:g} s: is the "
                        "plugin in the signal chain, on that port, after the acquisition board?"
                    )
                self._cv.wait(min(left, 0.05))
        self._raise_fault()

    def _wait_noise(self) -> None:
        """Let the detector learn the noise (``detect.noise_window_s`` of signal), then start
        the step grid at the next block: step 0 is data from now on, and every later
        acquisition (a reset) detects from its first sample with the same thresholds."""
        deadline = time.monotonic() + self.first_data_s + self.params.detect.noise_window_s
        with self._cv:
            while self._detector.noise_uv is None and self._fault is None:
                if time.monotonic() > deadline:
                    raise DeviceTimeout(
                        f"{self.name}: the ZMQ Interface at {self._host}:{self._data_port} sent "
                        f"{self._received} samples, too few to learn the noise from"
                    )
                self._cv.wait(0.05)
            self._reset_stream()
        self._raise_fault()
        self._wait_first_data()

    def _raise_fault(self) -> None:
        if self._fault is not None:
            raise DeviceError(f"{self.name}: {self._fault}")

    def _apply(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each row is a step: wait for its samples, then hand over its raw and spikes."""
        stim = inputs["stim"]
        per = self.params.raw_per_step
        for _ in range(len(stim)):
            self._raise_fault()
            need = (self._steps + 1) * per
            self._wait_samples(need)
            self._take_step(self._steps * per, need)
            self._steps += 1
            self._clock_ns += self.params.step_ns
        return inputs

    def _wait_samples(self, need: int) -> None:
        p = self.params
        with self._cv:
            while self._received < need and self._fault is None:
                if not self._cv.wait(0.05) and time.monotonic() - self._last_data > p.stall_s:
                    break
        if self._fault is not None or self._received >= need:
            self._raise_fault()
            return
        # stalled: ask the GUI what happened, then latch the answer
        try:
            mode = self._gui_mode()
        except DeviceError as e:
            self._latch(f"acquisition stopped mid-run: {e}")
        else:
            got = self._received
            if mode == "IDLE":
                self._latch(
                    f"acquisition stopped mid-run: the Open Ephys GUI went IDLE after {got} "
                    f"samples ({got / RAW_RATE_HZ:.2f} s); {self._count_text()}"
                )
            else:
                self._latch(
                    f"no data for {p.stall_s:g} s while the Open Ephys GUI says {mode}: the ZMQ "
                    f"Interface at {self._host}:{self._data_port} stopped sending after {got} "
                    f"samples; {self._count_text()}"
                )
        self._raise_fault()

    def _count_text(self) -> str:
        c = self.counters
        garbled = sum(c.garbled.values())
        return (
            f"{c.dropped} messages lost, {garbled} garbled, {c.heartbeat_misses} heartbeats "
            "unanswered"
        )

    def _take_step(self, lo: int, hi: int) -> None:
        """Move samples [lo, hi) and the spikes before ``hi`` into the pending chunks (the
        receiver may already hold later ones: they wait for their step)."""
        t_lo = lo * 1_000_000_000 // RAW_RATE_HZ
        t_hi = hi * 1_000_000_000 // RAW_RATE_HZ
        with self._cv:
            if self.params.raw:
                raw = np.concatenate(self._buf) if len(self._buf) > 1 else self._buf[0]
                off = lo - self._buf_start
                step_raw = raw[off : off + hi - lo]
                rest = raw[off + hi - lo :]
                self._buf = [rest] if len(rest) else []
            self._buf_start = hi
            spikes = np.concatenate(self._spike_buf) if self._spike_buf else None
            later = None if spikes is None else spikes[spikes["t_ns"] >= t_hi]
            self._spike_buf = [later] if later is not None and len(later) else []
        if self.params.raw:
            self._raw.add(step_raw.copy(), t_lo)
        now = np.zeros(0, SPIKE_DTYPE) if spikes is None else spikes[spikes["t_ns"] < t_hi]
        self._spikes.add(now, t_lo)
        self._pulses.add(np.zeros(0, SPIKE_DTYPE), t_lo)
        self._steps_pending += 1

    def _read(self) -> dict[str, Chunk]:
        if self._steps_pending == 0:
            self._raise_fault()  # everything received was delivered: say why the stream ended
        self._steps_pending = 0
        now = self._clock_ns
        meta = {"counters": self.counters.as_dict()}
        spikes = self._spikes.take(now)
        out = {
            "spikes": Chunk(spikes.data, spikes.t_dev_ns, meta),
            "pulses": self._pulses.take(now),
        }
        if self.params.raw:
            out["raw"] = self._raw.take(now)
        return out

    # ------------------------------------------------------------- commands
    @command
    def status(self) -> dict[str, Any]:
        """Connection state, the step clock, the wire's fault counters and the latched fault."""
        out = super().status()
        out["counters"] = self.counters.as_dict()
        out["samples"] = self._received
        out["gui"] = {"host": self._host, "data_port": self._data_port, "http": self._http_port}
        return out
