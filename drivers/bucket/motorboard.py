"""``drivers.bucket_motors``: the bucket's motor board over a serial port.

Speaks the framed protocol of ``firmware/PROTOCOL.md`` through
:class:`~physres.wire.SerialLink`, so the same driver talks to an Arduino on
``/dev/ttyACM0``, to the real firmware ELF in simavr behind a pty, or to the
host build of that firmware. What the driver guarantees:

* limits (duty range, slew per sample) are checked by the Device base class
  before any byte leaves; the board's own clamp is read in the handshake and
  a host limit above it is refused at connect, so the two never disagree;
* a keepalive thread sends ``PING`` whenever the link has been quiet for
  ``keepalive_s``, so the board's watchdog never trips during a healthy run,
  and polls ``STATUS`` every ``status_s`` to fill the status streams;
* a lost port (pty closed, cable pulled) surfaces as :class:`LinkLost` naming
  the port on the next call, promptly; ``disconnect()`` still works.

Mock mode (``mock.bucket_motors``) is a transport, not a shortcut: the driver
starts the host build of the board's own firmware on a pty and runs all of the
above against it (handshake, limits, keepalive, STATUS polling), in memory and
with no hardware; a mock that skipped this code could not catch its bugs.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from physres.device import Chunk, Description, InputSpec, Limits, StreamSpec, command
from physres.drivers.bucket import protocol as P
from physres.drivers.bucket.limits import MAX_DUTY, MAX_STEP
from physres.drivers.bucket.protocol import DUTY_FULL_SCALE, Hello, Msg, Status
from physres.drivers.serial_board import SerialBoard, check_keepalive
from physres.errors import ConfigError
from physres.wire.framing import Packet
from physres.wire.link import LinkLost

__all__ = ["STATUS_DTYPE", "STROBE_DTYPE", "MotorBoard", "MotorBoardParams"]

#: one row per applied duty vector: device time, host receive time, strobe number
STROBE_DTYPE = np.dtype(
    [("t_dev_us", "<i8"), ("t_host_ns", "<i8"), ("seq", "<u4"), ("scheduled", "u1")]
)
#: one row per STATUS the board answered
STATUS_DTYPE = np.dtype(
    [
        ("t_host_ns", "<i8"),
        ("uptime_us", "<i8"),
        ("frames_ok", "<u4"),
        ("frames_bad", "<u4"),
        ("wd_trips", "<u2"),
        ("tx_dropped", "<u2"),
        ("flags", "u1"),
        ("queue", "u1"),
    ]
)


class MotorBoardParams(BaseModel):
    """Where the board is and the limits the host enforces before sending."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: any pyserial URL: /dev/ttyACM0, a pty path, spy:///dev/ttyUSB0, socket://...
    port: str | None = None
    baudrate: int = Field(38400, gt=0)
    #: motors used (the first n of the board's outputs)
    n_motors: int = Field(4, ge=1, le=16)
    #: host-side duty ceiling (0..1); must not exceed the firmware's own clamp
    max_duty: float = Field(MAX_DUTY, gt=0, le=1, allow_inf_nan=False)
    #: host-side slew limit: largest change of a motor's duty between samples
    max_step: float = Field(MAX_STEP, gt=0, le=1, allow_inf_nan=False)
    #: reply timeout per attempt; at 38400 baud a STATUS round trip takes ~11 ms on
    #: the wire (median 25 ms, p99 65 ms in simavr on a loaded 2-core machine)
    timeout_s: float = Field(0.2, gt=0, le=10)
    #: resends of the same frame after a timeout or a corrupted reply
    retries: int = Field(3, ge=0, le=20)
    #: how long to keep saying HELLO while the board boots
    handshake_timeout_s: float = Field(3.0, gt=0, le=60)
    #: send a PING when the link was quiet this long (0: off; the watchdog will trip).
    #: 50 ms leaves a 200 ms margin under the board's 250 ms watchdog for host stalls
    keepalive_s: float = Field(0.05, ge=0, le=10)
    #: poll STATUS (the status and duty_out streams) this often (0: only on request)
    status_s: float = Field(0.2, ge=0, le=60)
    #: set the board's watchdog (ms) at connect; None keeps the board's default (250)
    watchdog_ms: int | None = Field(None, ge=1, le=65535)

    @model_validator(mode="after")
    def _keepalive_inside_watchdog(self) -> MotorBoardParams:
        check_keepalive(self.keepalive_s, self.watchdog_ms, "the watchdog would trip")
        return self


class MotorBoard(SerialBoard):
    """Input ``duty`` (n_motors,) in [0, max_duty]; streams ``strobe``, ``status``, ``duty_out``."""

    Params = MotorBoardParams
    default_kind = "drivers.bucket_motors"
    clock = "wall"
    params: MotorBoardParams
    msgs = Msg
    proto_version = P.PROTO_VERSION
    replies = P.replies
    #: leave the motors off
    goodbye = Msg.STOP

    def __init__(self, name: str | None = None, *, mock: bool = False, **params: Any) -> None:
        super().__init__(name or "motors", mock=mock, **params)
        self.hello: Hello | None = None
        self._lock = threading.Lock()
        self._strobes: list[tuple[int, int, int, int]] = []
        self._status_rows: list[tuple[int, ...]] = []
        self._duty_rows: list[np.ndarray] = []
        self.last_status: Status | None = None
        self._t_hi = 0
        self._t_last = 0

    # ------------------------------------------------------------- contract
    def describe(self) -> Description:
        p = self.params
        status_rate = 1.0 / p.status_s if p.status_s else None
        meta: dict[str, Any] = {"port": p.port, "baudrate": p.baudrate, "protocol": P.PROTO_VERSION}
        if self.hello is not None:
            meta["firmware"] = {
                "version": self.hello.fw_version_str,
                "n_motors": self.hello.n_motors,
                "duty_max": [d / DUTY_FULL_SCALE for d in self.hello.duty_max],
                "slew_per_ms": self.hello.slew_per_tick / DUTY_FULL_SCALE,
                "watchdog_ms": self.hello.watchdog_ms,
            }
        return self._description(
            streams=[
                StreamSpec(
                    name="strobe",
                    dtype=STROBE_DTYPE.descr,
                    shape=(),
                    carries="events",
                    doc="camera-sync strobe edges: one per applied duty vector",
                ),
                StreamSpec(
                    name="status",
                    dtype=STATUS_DTYPE.descr,
                    shape=(),
                    carries="state",
                    rate_hz=status_rate,
                    doc="board counters from each STATUS",
                ),
                StreamSpec(
                    name="duty_out",
                    dtype="<f4",
                    shape=(p.n_motors,),
                    units="duty",
                    rate_hz=status_rate,
                    carries="continuous",
                    doc="duty the board outputs (after its clamp and slew limit)",
                ),
            ],
            inputs=[
                InputSpec(
                    name="duty",
                    dtype="<f8",
                    shape=(p.n_motors,),
                    units="duty",
                    limits=Limits(low=0.0, high=p.max_duty, max_step=p.max_step),
                    doc="PWM duty per motor, 0 = off, 1 = full",
                ),
            ],
            meta=meta,
        )

    def _start_firmware(self) -> Any:
        """Mock mode: the host build of the board's firmware on a pty."""
        from physres.drivers.bucket.firmware import BucketFirmware

        return BucketFirmware("host").start()

    def _parse_hello(self, reply: bytes) -> Hello:
        return P.parse_hello(reply, self._where)

    def _start_session(self) -> None:
        """Motors off and the schedule cleared before the first input."""
        P.parse_time(Msg.STOP, self._request(Msg.STOP), self._where)

    def _apply(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = inputs["duty"]
        q = self._quantize(rows)
        for row in q:
            applied = P.parse_applied(self._request(Msg.SET_DUTY, self._payload(row)), self._where)
            self._add_strobe(applied.t_us, applied.strobe_seq, scheduled=False)
        return {"duty": q / DUTY_FULL_SCALE}

    def _read(self) -> dict[str, Chunk]:
        with self._lock:
            strobes, self._strobes = self._strobes, []
            status, self._status_rows = self._status_rows, []
            duty, self._duty_rows = self._duty_rows, []
        if self._fault and not (strobes or status or duty):
            raise LinkLost(self._fault)
        meta = {"fault": self._fault} if self._fault else {}
        now = self.now_ns()
        s_arr = np.array(strobes, dtype=STROBE_DTYPE)
        st_arr = np.array(status, dtype=STATUS_DTYPE)
        d_arr = np.array(duty, dtype="<f4").reshape(-1, self.params.n_motors)
        return {
            "strobe": Chunk(s_arr, int(s_arr["t_host_ns"][0]) if len(s_arr) else now, meta),
            "status": Chunk(st_arr, int(st_arr["t_host_ns"][0]) if len(st_arr) else now, meta),
            "duty_out": Chunk(d_arr, int(st_arr["t_host_ns"][0]) if len(st_arr) else now, meta),
        }

    def _reset(self, seed: int | None) -> None:
        """Motors off and the schedule cleared (the board's STOP)."""
        self.stop()
        with self._lock:
            self._strobes, self._status_rows, self._duty_rows = [], [], []

    # -------------------------------------------------------------- commands
    @command
    def stop(self) -> int:
        """All motors off now, schedule cleared; returns the board time (µs)."""
        self._require_connected("stop")
        self._last_sent.clear()
        return self._unwrap(P.parse_time(Msg.STOP, self._request(Msg.STOP), self._where))

    @command
    def schedule(self, duty: list[float], t_dev_us: int) -> int:
        """Apply ``duty`` at board time ``t_dev_us``; returns the queue length."""
        self._require_connected("schedule")
        checked = self.check_inputs({"duty": duty})["duty"]
        q = self._quantize(checked)[-1]
        reply = self._request(Msg.SCHEDULE, P.schedule_payload(int(t_dev_us), self._pad(q)))
        queued = P.parse_queue(reply, self._where)
        self._last_sent["duty"] = q / DUTY_FULL_SCALE
        return queued

    @command
    def board_status(self) -> dict[str, Any]:
        """Ask the board now: uptime, frame counters, watchdog trips, outputs."""
        self._require_connected("board_status")
        st = self._poll_status()
        return {
            "uptime_us": st.uptime_us,
            "frames_ok": st.frames_ok,
            "frames_bad": st.frames_bad,
            "wd_trips": st.wd_trips,
            "tx_dropped": st.tx_dropped,
            "watchdog_tripped": st.watchdog_tripped,
            "stopped": st.stopped,
            "queue": st.queue_len,
            "strobe_seq": st.strobe_seq,
            "watchdog_ms": st.watchdog_ms,
            "duty_out": [d / DUTY_FULL_SCALE for d in st.duty[: self.params.n_motors]],
        }

    # ----------------------------------------------------------- helpers
    def _check_board(self, h: Hello) -> None:
        p = self.params
        if h.n_motors < p.n_motors:
            raise ConfigError(
                f"device {self.name!r}: params.n_motors={p.n_motors} but the board on "
                f"{self._port!r} drives only {h.n_motors} motors"
            )
        wd_ms = p.watchdog_ms or h.watchdog_ms
        if p.keepalive_s and p.keepalive_s * 1000 * 2 > wd_ms:
            raise ConfigError(
                f"device {self.name!r}: keepalive_s={p.keepalive_s} is more than half of the "
                f"board's {wd_ms} ms watchdog on {self._port!r}; it would trip in a healthy run"
            )
        for i in range(p.n_motors):
            fw_max = h.duty_max[i] / h.duty_full_scale
            if p.max_duty > fw_max + 1e-9:
                raise ConfigError(
                    f"device {self.name!r}: params.max_duty={p.max_duty} is above the firmware "
                    f"clamp {fw_max:.4f} of motor {i} on {self._port!r}; lower max_duty"
                )

    def _quantize(self, rows: np.ndarray) -> np.ndarray:
        return np.rint(np.clip(rows, 0.0, 1.0) * DUTY_FULL_SCALE).astype(np.int64)

    def _pad(self, row: np.ndarray) -> list[int]:
        n_fw = self.hello.n_motors if self.hello else len(row)
        return [int(v) for v in row] + [0] * (n_fw - len(row))

    def _payload(self, row: np.ndarray) -> bytes:
        return P.duties_payload(self._pad(row))

    def _unwrap(self, t_us: int) -> int:
        """Board time (u32 µs, wraps every 71 min) → monotonically increasing µs."""
        with self._lock:
            if t_us < self._t_last and self._t_last - t_us > 1 << 31:
                self._t_hi += 1 << 32
            self._t_last = t_us
            return self._t_hi + t_us

    def _add_strobe(self, t_us: int, seq: int, *, scheduled: bool) -> None:
        t = self._unwrap(t_us)
        with self._lock:
            self._strobes.append((t, self.now_ns(), seq, int(scheduled)))

    def _on_event(self, packet: Packet) -> None:
        ev = P.parse_strobe(packet.payload, self._where)
        self._add_strobe(ev.t_us, ev.strobe_seq, scheduled=True)

    def _poll_status(self) -> Status:
        st = P.parse_status(self._request(Msg.STATUS), self._where)
        t_host = self.now_ns()
        up = self._unwrap(st.uptime_us)
        with self._lock:
            self.last_status = st
            self._status_rows.append(
                (
                    t_host,
                    up,
                    st.frames_ok,
                    st.frames_bad,
                    st.wd_trips,
                    st.tx_dropped,
                    st.flags,
                    st.queue_len,
                )
            )
            self._duty_rows.append(
                np.asarray(st.duty[: self.params.n_motors], dtype=np.float32) / DUTY_FULL_SCALE
            )
        return st
