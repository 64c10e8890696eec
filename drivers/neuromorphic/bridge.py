"""``drivers.neuromorphic``: a spiking chip behind the bridge board, as one Device.

Same parameters and streams as ``sim.neuromorphic`` (the shared
:class:`~physres.neuro.params.NeuroParams`: a chip configuration path or
inline data, analog input ``u`` encoded as spikes by the shared
:class:`~physres.neuro.encode.RateEncoder`, output ``spikes`` as ``(t_ns,
channel)`` records), so a config switches between emulator and board by its
``kind`` line. What the driver does over the bridge protocol
(``firmware/PROTOCOL.md``, "Neuromorphic bridge"):

* **connect**: HELLO until the chip behind the board answers; refuse a chip
  that is not the configuration's model; set the watchdog; measure the board
  clock; upload the configuration by diff (only changed tables are sent) and
  read back what was written: a mismatch raises
  :class:`~physres.drivers.neuromorphic.upload.ConfigMismatch` before any
  input is sent;
* **apply(u, spikes_in)**: rows become input spikes (``spikes_in`` are taken
  as they are, stamped in stream µs); they are queued on the board
  ``lead_ms`` ahead of its clock (flow control by the FIFO room each reply
  reports) and played on the chip at their times; apply returns once the
  chunk has been played and its output spikes (board timestamps) collected.
  A real chip runs in real time, so the device's clock is ``wall``, but its
  stream clock (``now_ns``) advances by exactly the samples applied, as a
  simulator's does, so task steps line up; between two applies the chip runs
  on without input for the host's turnaround, and spikes in those gaps are
  left out of the stream (counted: ``spikes_between``);
* a keepalive thread PINGs when the link is quiet (the board's watchdog
  silences inputs after ``watchdog_ms``) and polls STATUS into the ``status``
  stream: board-side overflow and underflow counts, frames lost.

Mock mode (``mock.neuromorphic``) runs all of this against the host build of
the bridge firmware on a pty, with the emulator process as the chip behind it
(its physics from the ``emulator`` fields of the parameters).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from physres.device import Chunk, Description, PendingChunk, StreamSpec, command
from physres.drivers.neuromorphic import protocol as P
from physres.drivers.neuromorphic.upload import UploadReport, upload
from physres.drivers.serial_board import SerialBoard, check_keepalive
from physres.errors import ConfigError, DeviceError
from physres.neuro.aer import BUS_EVENT, check_input_events
from physres.neuro.encode import RateEncoder
from physres.neuro.params import NeuroParams, neuro_specs
from physres.neuro.tables import BIAS_SLOTS, ChipTables, tables_from_config
from physres.wire.framing import Packet

__all__ = ["STATUS_DTYPE", "BridgeParams", "NeuroBridge", "emulator_args"]

#: one row per STATUS the board answered (counters since the board started)
STATUS_DTYPE = np.dtype(
    [
        ("t_host_ns", "<i8"),
        ("uptime_us", "<i8"),
        ("frames_bad", "<u4"),
        ("wd_trips", "<u2"),
        ("flags", "u1"),
        ("in_total", "<u4"),
        ("in_overflow", "<u4"),
        ("in_underflow", "<u4"),
        ("in_flushed", "<u4"),
        ("out_total", "<u4"),
        ("out_overflow", "<u4"),
        ("tx_dropped", "<u2"),
        ("chip_errors", "<u2"),
    ]
)


class BridgeParams(NeuroParams):
    """:class:`NeuroParams` plus where the board is and how the link behaves.

    Of the shared fields, ``link`` (the emulator's model of a bridge) has nothing
    to model here: the bridge is real. The ``emulator`` fields reach the chip
    only in mock mode, where the chip is the emulator behind the host build.
    """

    #: any pyserial URL: /dev/ttyACM0, a pty path, spy://..., socket://...
    port: str | None = None
    baudrate: int = Field(1_000_000, gt=0)
    #: reply timeout per attempt (a ROW_CRC of 56 rows reads 3,584 slots from the chip)
    timeout_s: float = Field(1.0, gt=0, le=30)
    retries: int = Field(3, ge=0, le=20)
    #: how long to keep saying HELLO until the board and the chip behind it answer
    #: (the emulator process takes a few seconds to import on a loaded machine)
    handshake_timeout_s: float = Field(20.0, gt=0, le=120)
    #: PING when the link was quiet this long (the board's watchdog silences inputs)
    keepalive_s: float = Field(0.05, gt=0, le=10)
    #: poll STATUS into the status stream this often (0: only on request)
    status_s: float = Field(0.5, ge=0, le=60)
    #: the board's watchdog (ms); None keeps its default (250)
    watchdog_ms: int | None = Field(None, ge=1, le=65535)
    #: input events are queued this far ahead of the board clock: longer than any
    #: host stall, shorter than the FIFO (4,096 events on the host build)
    lead_ms: float = Field(50.0, gt=0, le=5000, allow_inf_nan=False)
    #: after a chunk's last sample, wait this long for its last spikes to arrive
    drain_ms: float = Field(20.0, ge=0, le=5000, allow_inf_nan=False)

    @model_validator(mode="after")
    def _keepalive_inside_watchdog(self) -> BridgeParams:
        check_keepalive(self.keepalive_s, self.watchdog_ms, "the watchdog would silence the inputs")
        return self


def emulator_args(p: NeuroParams) -> list[str]:
    """Options for the emulated chip behind the host build: the physics ``sim.neuromorphic``
    runs for the same parameters (its bridge-link model aside: here the link is real)."""
    return [
        "--chip", p.chip.chip, "--seed", str(p.seed), "--chip-seed", str(p.chip_seed),
        "--mismatch-cv", str(p.mismatch_cv if p.mismatch else 0.0), "--noise", str(p.noise),
    ]  # fmt: skip


class _BoardClock:
    """The board's µs clock seen from the host: unwrapped, and its offset to monotonic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hi = 0
        self._last: int | None = None
        self.offset_ns: int | None = None  # host monotonic − board time, best estimate

    def unwrap(self, t_us: int) -> int:
        """u32 board µs (wraps every 71.6 min) → µs since the board started. Replies and
        spike stamps come from two threads, slightly out of order: a stamp from just
        before a wrap that arrives after one from just after it stays before it."""
        with self._lock:
            if self._last is None:
                self._last = t_us
            if t_us < self._last and self._last - t_us > 1 << 31:
                self._hi += 1 << 32
            elif t_us > self._last and t_us - self._last > 1 << 31:
                return self._hi - (1 << 32) + t_us  # older than the newest: no new wrap
            self._last = t_us
            return self._hi + t_us

    def unwrap_many(self, t_us: np.ndarray) -> np.ndarray:
        return np.array([self.unwrap(int(t)) for t in t_us], np.int64)

    def observe(self, board_us: int, sent_ns: int, got_ns: int) -> None:
        """A reply stamped ``board_us`` came between ``sent_ns`` and ``got_ns`` (host)."""
        mid = (sent_ns + got_ns) // 2
        est = mid - board_us * 1000
        with self._lock:
            # the shortest round trip bounds the error; keep the estimate that is
            # consistent with every reply (a reply cannot precede its board time)
            if self.offset_ns is None or est < self.offset_ns:
                self.offset_ns = est

    def now_us(self) -> int:
        if self.offset_ns is None:
            raise DeviceError("the board clock was never measured (connect first)")
        return (time.monotonic_ns() - self.offset_ns) // 1000


class NeuroBridge(SerialBoard):
    """Inputs ``u`` and ``spikes_in``, stream ``spikes`` (as ``sim.neuromorphic``), ``status``."""

    Params = BridgeParams
    default_kind = "drivers.neuromorphic"
    #: a real chip runs in real time (bit-for-bit repeats are not its contract); apply()
    #: plays its samples and returns once they are played, and the stream's clock
    #: (now_ns) advances by the samples applied (see the module docstring)
    clock = "wall"
    params: BridgeParams
    msgs = P.Msg
    proto_version = P.PROTO_VERSION
    replies = P.replies
    #: drop queued inputs
    goodbye = P.Msg.CLEAR
    #: the chip behind the board may take a while to answer a HELLO's identify
    hello_attempt_s = 1.0
    hello_hint = "the bridge firmware flashed, the chip powered"

    def __init__(self, name: str | None = None, *, mock: bool = False, **params: Any) -> None:
        super().__init__(name or "neuro", mock=mock, **params)
        p = self.params
        self.chip_config = p.chip
        self.tables: ChipTables = tables_from_config(self.chip_config)
        self._outputs = np.zeros(self.chip_config.model.n_cores * 256, bool)
        self._outputs[self.chip_config.output_neurons()] = True
        self.encoder = RateEncoder(
            self.chip_config.input_maps(),
            self.chip_config.model,
            max_rate_hz=p.max_rate_hz,
            encoding=p.encoding,
        )
        self._rng = np.random.default_rng(p.seed)
        self.hello: P.Hello | None = None
        self.last_upload: UploadReport | None = None
        self.last_status: P.Status | None = None
        self._clock_board = _BoardClock()
        self._lock = threading.Lock()
        self._spk_t: list[np.ndarray] = []  # board µs (unwrapped)
        self._spk_a: list[np.ndarray] = []
        self._pending = PendingChunk(np.zeros(0, BUS_EVENT))
        self._status_rows: list[tuple[int, ...]] = []
        self._evt_seq: int | None = None
        self._overflow16: int | None = None
        #: counters the host keeps (board_status() adds the board's)
        self.frames_lost = 0  # EVT_SPIKES frames that never arrived (sequence gaps)
        self.out_overflow = 0  # output events the board dropped, from the frames' counts
        self.spikes_between = 0  # spikes while no chunk was playing (left out of the stream)
        self.bad_spike_frames = 0  # EVT_SPIKES frames with a malformed body (skipped)
        self.late_inputs = 0  # spikes_in events timed before the stream's now (played at once)
        self._in_free = 0

    # ------------------------------------------------------------- contract
    def describe(self) -> Description:
        """``sim.neuromorphic``'s description (:func:`neuro_specs`) plus the board's status."""
        p = self.params
        streams, inputs, meta = neuro_specs(p)
        streams.append(
            StreamSpec(
                name="status",
                dtype=STATUS_DTYPE.descr,
                shape=(),
                carries="state",
                rate_hz=1.0 / p.status_s if p.status_s else None,
                doc="the board's counters from each STATUS",
            )
        )
        meta.update(port=p.port, output_neurons=int(self._outputs.sum()))
        if self.hello is not None:
            meta["firmware"] = {
                "version": self.hello.fw_version_str,
                "chip": self.hello.chip.name.lower(),
                "in_fifo": self.hello.in_fifo,
                "out_fifo": self.hello.out_fifo,
                "watchdog_ms": self.hello.watchdog_ms,
            }
        if self.last_upload is not None:
            meta["upload"] = self.last_upload.as_dict()
        return self._description(streams=streams, inputs=inputs, meta=meta)

    def _start_firmware(self) -> Any:
        """Mock mode: the host build of the bridge, the emulator as the chip behind it."""
        from physres.drivers.neuromorphic.firmware import BridgeFirmware

        return BridgeFirmware("host", chip_args=emulator_args(self.params)).start()

    def _parse_hello(self, reply: bytes) -> P.Hello:
        return P.parse_hello(reply, self._where)

    def _not_ready(self, hello: P.Hello) -> str | None:
        if hello.chip == P.ChipModelId.NONE:
            return "the board answers but no chip answers behind it"
        return None

    def _start_session(self) -> None:
        """Measure the board clock, clear the queues, upload the configuration by diff."""
        self._sync_clock()
        self._clear()
        self._upload()

    def _upload(self) -> UploadReport:
        self.last_upload = upload(
            self._request, self.tables, self.chip_config.model.neurons_per_core, self._where
        )
        return self.last_upload

    def _check_board(self, h: P.Hello) -> None:
        m = self.chip_config.model
        got = (h.chip.name.lower(), h.n_cores, h.neurons_per_core, h.slots, h.n_syn)
        got += (h.max_weight, h.n_bias)
        need = (m.name, m.n_cores, m.neurons_per_core, m.slots, len(m.synapse_types))
        need += (m.max_weight_level, BIAS_SLOTS)
        if got != need:
            names = (
                "model",
                "cores",
                "neurons per core",
                "slots",
                "synapse types",
                "max weight",
                "bias registers",
            )
            diff = [f"{n} {g} (configured {w})" for n, g, w in zip(names, got, need) if g != w]
            raise ConfigError(
                f"device {self.name!r}: the chip behind the bridge on {self._port!r} is not the "
                f"configuration's {m.name}: {', '.join(str(d) for d in diff)}"
            )

    def _timed(self, msg: P.Msg, payload: bytes = b"") -> tuple[bytes, int, int]:
        t0 = time.monotonic_ns()
        out = self._request(msg, payload)
        return out, t0, time.monotonic_ns()

    def _board_time(self, msg: P.Msg) -> int:
        """Send ``msg`` (PING, CLEAR); its reply's board time, unwrapped. Every round trip
        sharpens the board clock's offset."""
        reply, t0, t1 = self._timed(msg)
        t = self._clock_board.unwrap(P.parse_time(msg, reply, self._where))
        self._clock_board.observe(t, t0, t1)
        return t

    def _ping(self) -> None:
        self._board_time(P.Msg.PING)

    def _sync_clock(self) -> None:
        """The board clock's offset from the shortest of 8 PING round trips."""
        for _ in range(8):
            self._ping()

    def _clear(self) -> int:
        t = self._board_time(P.Msg.CLEAR)
        self._in_free = self.hello.in_fifo if self.hello else 0
        with self._lock:
            self._spk_t.clear()
            self._spk_a.clear()
        return t

    # ----------------------------------------------------------------- apply
    def _apply(self, inputs: dict[str, np.ndarray]) -> None:
        """Play ``u`` (encoded) and ``spikes_in`` (stream-time µs) on the chip, as
        ``sim.neuromorphic`` runs them: the chunk lasts the rows of ``u``, or past the
        last event by one emulator step; events before the stream's now play at once."""
        p = self.params
        model = self.chip_config.model
        stream_us = self._clock_ns / 1000.0
        parts, dur_us = [], 0.0
        if "u" in inputs:
            sample_us = 1e6 / p.rate_hz
            parts.append(self.encoder.encode(inputs["u"], stream_us, sample_us, self._rng))
            dur_us = len(inputs["u"]) * sample_us
        if "spikes_in" in inputs:
            ev = inputs["spikes_in"]
            check_input_events(ev, model, f"{self.name}.spikes_in")
            parts.append(ev)
            if len(ev):
                dur_us = max(dur_us, float(ev["t_us"].max()) + model.dt_us - stream_us)
        ev = np.concatenate(parts) if len(parts) > 1 else parts[0]
        ev = ev[np.argsort(ev["t_us"], kind="stable")]
        rel = ev["t_us"].astype(np.int64) - round(stream_us)
        self.late_inputs += int((rel < 0).sum())
        start = self._clock_board.now_us() + int(p.lead_ms * 1000)
        addr = ev["core"].astype(np.int64) * P.NEURONS_PER_CORE_MAX + ev["neuron"]
        self._send_events(start + np.maximum(rel, 0), addr, ev["syn"].astype(np.int64))
        end = start + round(dur_us)
        self._wait_board(end + int(p.drain_ms * 1000))
        self._collect(start, end, stream_us)
        self._clock_ns += round(dur_us * 1000)

    def _send_events(self, t: np.ndarray, addr: np.ndarray, syn: np.ndarray) -> None:
        """Queue events on the board no further than ``lead_ms`` ahead of its clock and
        never more than its FIFO has room for (each reply says the room left)."""
        ahead_us = int(self.params.lead_ms * 1000)
        i = 0
        while i < len(t):
            now = self._clock_board.now_us()
            room = min(P.IN_PER_FRAME, self._in_free)
            if t[i] > now + ahead_us or room == 0:
                self._check_link()
                time.sleep(0.002)
                if room == 0:  # the board plays the queue out meanwhile: ask for the room
                    self._in_free = self._poll_status().in_free
                continue
            j = i + 1
            while j < len(t) and j - i < room and t[j] - t[i] <= 0xFFFF and t[j] <= now + ahead_us:
                j += 1
            payload = P.events_payload(int(t[i]), t[i:j] - t[i], addr[i:j], syn[i:j])
            reply, t0, t1 = self._timed(P.Msg.EVENTS_IN, payload)
            acc = P.parse_accepted(reply, self._where)
            self._clock_board.observe(self._clock_board.unwrap(acc.t_us), t0, t1)
            self._in_free = acc.free
            if acc.accepted != j - i:
                raise DeviceError(
                    f"{self._where}: the board queued {acc.accepted} of {j - i} input events "
                    f"with {acc.free} free; the host's view of its FIFO was wrong"
                )
            i = j

    def _wait_board(self, until_us: int) -> None:
        while True:
            left = until_us - self._clock_board.now_us()
            if left <= 0:
                return
            self._check_link()
            time.sleep(min(left / 1e6, 0.01))

    def _collect(self, start: int, end: int, stream_us: float) -> None:
        """Spikes of the chunk just played → bus records on the stream clock."""
        with self._lock:
            t = np.concatenate(self._spk_t) if self._spk_t else np.zeros(0, np.int64)
            a = np.concatenate(self._spk_a) if self._spk_a else np.zeros(0, np.int64)
            later = t >= end
            self._spk_t, self._spk_a = [t[later]], [a[later]]
        t, a = t[~later], a[~later]
        inside = t >= start
        self.spikes_between += int((~inside).sum())
        t, a = t[inside], a[inside]
        keep = self._outputs[a]
        t, a = t[keep], a[keep]
        npc = self.chip_config.model.neurons_per_core
        rec = np.empty(len(t), BUS_EVENT)
        rec["t_ns"] = np.rint((stream_us + (t - start)) * 1000).astype(np.int64)
        rec["channel"] = (a // P.NEURONS_PER_CORE_MAX) * npc + a % P.NEURONS_PER_CORE_MAX
        order = np.argsort(rec["t_ns"], kind="stable")
        self._pending.add(rec[order], self._clock_ns)

    def _on_event(self, packet: Packet) -> None:
        """An EVT_SPIKES frame (link reader thread): a gap in the board's frame counter
        is frames lost; a body that does not parse is counted and skipped."""
        if packet.type != P.Msg.EVT_SPIKES:
            return
        with self._lock:
            if self._evt_seq is not None:
                self.frames_lost += (packet.seq - self._evt_seq - 1) & 0xFF
            self._evt_seq = packet.seq
            try:
                s = P.parse_spikes(packet.payload, self._where)
            except DeviceError:
                self.bad_spike_frames += 1  # its CRC held but its body does not parse
                return
            if self._overflow16 is not None:
                self.out_overflow += (s.overflow16 - self._overflow16) & 0xFFFF
            self._overflow16 = s.overflow16
            self._spk_t.append(self._clock_board.unwrap_many(s.t_us))
            self._spk_a.append(s.addr)

    def now_ns(self) -> int:
        """The stream's clock: the time of the samples applied since the last reset."""
        return self._clock_ns

    # ------------------------------------------------------------------ read
    def _read(self) -> dict[str, Chunk]:
        with self._lock:
            status, self._status_rows = self._status_rows, []
        st = np.array(status, dtype=STATUS_DTYPE)
        spikes = self._pending.take(self._clock_ns)
        meta = {"out_overflow": self.out_overflow, "frames_lost": self.frames_lost}
        if self._fault:
            meta["fault"] = self._fault
        spikes = Chunk(spikes.data, spikes.t_dev_ns, meta)
        return {"spikes": spikes, "status": Chunk(st, self._clock_ns, meta)}

    def _reset(self, seed: int | None) -> None:
        """Inputs dropped, neurons reset (the configuration stays); the stream restarts at 0."""
        self._clear()
        self._pending.clear()
        self.encoder.reset()
        self._rng = np.random.default_rng(self.params.seed if seed is None else seed)

    # -------------------------------------------------------------- commands
    @command
    def board_status(self) -> dict[str, Any]:
        """Ask the board now: its counters, and the host's (frames lost, overflow seen)."""
        self._require_connected("board_status")
        st = self._poll_status()
        out = {k: getattr(st, k) for k in st.__dataclass_fields__}
        out.update(
            watchdog_tripped=st.watchdog_tripped,
            chip_lost=st.chip_lost,
            frames_lost=self.frames_lost,
            spikes_between=self.spikes_between,
            bad_spike_frames=self.bad_spike_frames,
            late_inputs=self.late_inputs,
            out_overflow_seen=self.out_overflow,
            garbage=self._link.garbage if self._link else 0,
        )
        return out

    @command
    def upload_config(self) -> dict[str, object]:
        """Diff the chip's memory against the configuration, rewrite what differs, verify."""
        self._require_connected("upload_config")
        return self._upload().as_dict()

    def _poll_status(self) -> P.Status:
        st = P.parse_status(self._request(P.Msg.STATUS), self._where)
        with self._lock:
            self.last_status = st
            self._status_rows.append(
                (
                    time.monotonic_ns() - self.host_epoch_ns,
                    self._clock_board.unwrap(st.uptime_us),
                    st.frames_bad,
                    st.wd_trips,
                    st.flags,
                    st.in_total,
                    st.in_overflow,
                    st.in_underflow,
                    st.in_flushed,
                    st.out_total,
                    st.out_overflow,
                    st.tx_dropped,
                    st.chip_errors,
                )
            )
        return st
