"""Firmware in the loop: the real motor-controller firmware between ``duty`` and the water.

With ``motor_driver: simavr`` (or ``host``) :class:`~physres.sim.bucket.Bucket`
does not feed its duty input to the tank directly. It starts the bucket
firmware (the ATmega328P ELF in simavr, or the host build of the same C
logic) with :class:`~physres.drivers.bucket.firmware.BucketFirmware`, opens the
real :class:`~physres.drivers.bucket.motorboard.MotorBoard` driver on its
pseudo-terminal, sends each duty row through it at the motor update rate, and
steps the tank with the duty the firmware's pins actually output (the timer
compare registers, reported by the harness): the firmware's clamp, slew limit
and watchdog shape the drive exactly as on the rig.

Timing. The firmware runs in real time, so a run in this mode takes about its
simulated duration (plus a ~60 ms lead and a few status round trips per
apply). Rows go out with the protocol's SCHEDULE command, timestamped one
motor period apart on the board's own clock: the firmware applies each on its
1 ms tick, free of transport jitter, and strobes it. Only rows that differ
from the last one are sent (the board holds its output, and a 38400-baud
round trip of 12-25 ms in simavr cannot carry a vector every 20 ms; at most 5
are queued ahead). The tank stays a stepped simulator: physics step ``j`` of
row ``i`` sees the pins after the slew ticks that precede it in that row (one
PWM edge per tick and ramping motor, the first on the row's own tick), read
from the firmware's reported output sequence. In simavr (emulated clock) the
same inputs after ``reset`` give the same drive exactly (``check_device``
passes); the host build's clock is the wall clock, and on an overloaded
machine it may apply a row a tick early while catching up, which shows as one
slew step of difference. If the board's watchdog trips (no valid frame for
``WATCHDOG_MS``, 1 s in this mode: motors off, schedule cleared), the apply
raises :class:`DeviceError` instead of silently changing the drive.
"""

from __future__ import annotations

import time
import warnings
import weakref
from typing import TYPE_CHECKING, Literal

import numpy as np

from physres.drivers.bucket.limits import MAX_DUTY, MAX_STEP, TICK_US
from physres.errors import ConfigError, DeviceError

if TYPE_CHECKING:  # imported when started: the direct mode needs no serial stack
    from physres.drivers.bucket.firmware import BucketFirmware
    from physres.drivers.bucket.motorboard import MotorBoard

__all__ = [
    "FIRMWARE_MAX_DUTY",
    "FIRMWARE_MAX_STEP",
    "WATCHDOG_MS",
    "FirmwareLoop",
    "MotorDriver",
]

#: how the duty input reaches the water: straight into the tank, or through the
#: firmware in simavr (the real ELF) or its host build
MotorDriver = Literal["direct", "simavr", "host"]
#: the MotorBoard's host-side duty ceiling and per-sample slew limit (defined once,
#: in physres.drivers.bucket.limits): the tank's duty input takes them in firmware
#: mode, so a value the board would refuse is refused by the tank before anything is sent
FIRMWARE_MAX_DUTY = MAX_DUTY
FIRMWARE_MAX_STEP = MAX_STEP
#: the board's watchdog in this mode (its default is 250 ms). simavr's UART now and
#: then answers one request after the driver's 200 ms timeout; the resend plus the
#: keepalive's 50 ms of quiet would trip 250 ms and stop the motors mid-run
WATCHDOG_MS = 1000
#: the firmware's slew tick (board_tick runs every millisecond)
_TICK_NS = TICK_US * 1000
_HALF_TICK_NS = _TICK_NS // 2
#: schedule rows this far ahead of the board's clock (the link's round trip is
#: 5-25 ms at 38400 baud); re-anchor when the next row would be this close
_LEAD_US = 60_000
_MIN_LEAD_US = 10_000
#: the board queues 8 rows; above this many, wait for it to apply some
_QUEUE_HIGH = 5


class FirmwareLoop:
    """The firmware process and a MotorBoard on its pty; turns duty rows into pin duty.

    ``drive(rows)`` sends ``rows`` (T, n) paced at ``motor_rate_hz`` and returns
    the pins' duty at every physics step, ``(T * steps_per_motor, n)``.
    """

    def __init__(
        self,
        target: Literal["simavr", "host"],
        *,
        n_motors: int,
        motor_rate_hz: float,
        step_s: float,
        steps_per_motor: int,
        owner: str = "sim.bucket",
        key: str = "motor_driver",
    ) -> None:
        self.target = target
        #: the config key that chose the target (``motors`` or ``motor_driver``)
        self.key = key
        self.n_motors = n_motors
        self.period_s = 1.0 / motor_rate_hz
        self.step_ns = round(step_s * 1e9)
        self.steps_per_motor = steps_per_motor
        self.owner = owner
        self.fw: BucketFirmware | None = None
        self.board: MotorBoard | None = None
        self._t0_us: int | None = None  # board time of row 0 of the current schedule
        self._n_rows = 0
        self._edge_cursor = 0  # PWM edges before this index are consumed
        self._wd_trips = 0
        self._last_row: np.ndarray | None = None  # the last vector scheduled
        self._offset_ns = np.iinfo(np.int64).max  # harness clock - board clock
        # slew ticks (1 ms apart, the first on the row's own tick) that precede
        # physics step j of a row: those at offsets < j * dt, less half a tick
        offs = np.arange(steps_per_motor, dtype=np.int64) * self.step_ns
        self._ticks = np.where(offs > 0, (offs - _HALF_TICK_NS) // _TICK_NS + 1, 0)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> FirmwareLoop:
        """Build if needed, launch the firmware, handshake the driver (raises on failure)."""
        from physres.drivers.bucket.firmware import BucketFirmware, simavr_missing
        from physres.drivers.bucket.motorboard import MotorBoard
        from physres.wire.firmware_runner import FirmwareBuildError, FirmwareFallbackWarning

        asked = self.target
        if asked == "simavr" and (why := simavr_missing()):
            warnings.warn(
                f"{self.owner}: params.{self.key} 'simavr' cannot run here ({why}); running "
                f"the host build of the same firmware instead (write {self.key}: host to say so)",
                FirmwareFallbackWarning,
                stacklevel=2,
            )
            self.target = "host"
        try:
            fw = BucketFirmware(self.target, n_motors=self.n_motors).start()
        except FirmwareBuildError as e:
            first = str(e).splitlines()[0]
            raise ConfigError(
                f"{self.owner}: params.{self.key} {asked!r} needs the {self.target} build of "
                f"the motor firmware, which failed: {first}"
            ) from e
        # a run that dies without disconnect() must not leave the emulator running
        weakref.finalize(self, fw.stop)
        board = MotorBoard(
            f"{self.owner}.motors",
            port=fw.port,
            n_motors=self.n_motors,
            max_duty=FIRMWARE_MAX_DUTY,
            max_step=FIRMWARE_MAX_STEP,
            watchdog_ms=WATCHDOG_MS,
        )
        self.fw = fw
        try:
            board.connect()  # ConfigError if the board drives fewer motors than the tank has
            self.board = board
            self._wd_trips = int(board.board_status()["wd_trips"])
            self._edge_cursor = 0
            self._last_row = None
            self._wait_outputs_off()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Motors off (the driver's STOP), close the port, end the firmware; idempotent."""
        board, fw = self.board, self.fw
        self.board = self.fw = None
        try:
            if board is not None:
                board.disconnect()
        finally:
            if fw is not None:
                fw.stop()

    def reset(self) -> None:
        """STOP the board and wait until every pin reads 0 (a fresh start for the tank)."""
        board = self._require_board()
        board.reset()
        self._t0_us = None
        self._last_row = None
        self._wait_outputs_off()
        board.read()  # drop the strobe/status rows from before

    # ---------------------------------------------------------------- drive
    def drive(self, rows: np.ndarray) -> np.ndarray:
        """Schedule ``rows`` (T, n) one motor period apart; the pins' duty per physics step."""
        board, fw = self._require_board(), self.fw
        assert fw is not None
        rows = np.asarray(rows, dtype=np.float64)
        n_strobes = len(fw.strobes)
        now_us = self._mcu_now_us()
        if self._t0_us is None or self._row_time_us(0) < now_us + _MIN_LEAD_US:
            # first chunk, or the caller paused: start the schedule a little ahead
            self._t0_us = -(-(now_us + _LEAD_US) // 1000) * 1000  # on a 1 ms tick
            self._n_rows = 0
        # only changes go on the wire: the board holds its output between vectors, and
        # a 38400-baud round trip (12-25 ms in simavr) cannot carry every 20 ms row
        sched_us = np.array([self._row_time_us(i) for i in range(len(rows))], dtype=np.int64)
        sent: list[int] = []
        for i, row in enumerate(rows):
            if self._last_row is not None and np.array_equal(row, self._last_row):
                continue
            queued = board.schedule(row.tolist(), int(sched_us[i]))
            sent.append(i)
            self._last_row = row.copy()
            if queued >= _QUEUE_HIGH:  # far ahead of the board: wait for the oldest to apply
                self._wait_mcu_past(int(sched_us[sent[-queued]]) * 1000 + _TICK_NS)
        self._n_rows += len(rows)
        self._wait_mcu_past(self._row_time_us(0) * 1000 + _TICK_NS)
        self._check_watchdog()
        want = n_strobes + len(sent)
        if not fw.wait_for(lambda f: len(f.strobes) >= want, 2.0):
            raise DeviceError(
                f"{self.owner}: the {self.target} firmware reported {len(fw.strobes) - n_strobes} "
                f"strobe edges for {len(sent)} duty vectors scheduled (is it still running?)"
            )
        strobe_ns = np.array([t for t, _ in fw.strobes[n_strobes:want]], dtype=np.int64)
        # board clock (µs) -> the harness's clock (ns): the offset of an on-time vector
        if len(sent):
            self._offset_ns = min(self._offset_ns, int((strobe_ns - sched_us[sent] * 1000).min()))
        applied = sched_us * 1000 + self._offset_ns
        applied[sent] = strobe_ns  # a vector that arrived late took effect when applied
        applied = np.maximum.accumulate(applied)
        out = self._pin_duty(applied)
        board.read()  # the driver's strobe/status rows are not kept (the tank's streams are)
        return out

    # -------------------------------------------------------------- helpers
    def _check_watchdog(self) -> None:
        """Raise if the board's watchdog tripped (motors off, schedule cleared)."""
        st = self._require_board().last_status
        if st is not None and st.wd_trips > self._wd_trips:
            self._wd_trips = st.wd_trips
            raise DeviceError(
                f"{self.owner}: the {self.target} firmware's watchdog tripped (motors off): "
                f"no valid frame reached it for {WATCHDOG_MS} ms; this chunk is not valid"
            )

    def _row_time_us(self, ahead: int) -> int:
        """Board time (µs) at which the next row (+ ``ahead``) is scheduled."""
        assert self._t0_us is not None
        return self._t0_us + round((self._n_rows + ahead) * self.period_s * 1e6)

    def _mcu_now_us(self) -> int:
        return int(self._require_board().board_status()["uptime_us"])

    def _pin_duty(self, applied: np.ndarray) -> np.ndarray:
        """The pins' duty at each physics step of the rows applied at ``applied`` (MCU ns).

        Each slew tick moves a ramping pin once (one PWM edge per tick and motor,
        the first on the tick that applies the row), so step ``j`` of a row sees
        the value after the row's first ``ticks[j]`` edges: the firmware's own
        output sequence, indexed by its tick count rather than by the time stamps
        a loaded host prints late (the host build catches up missed ticks in a burst).
        """
        fw = self.fw
        assert fw is not None
        edges = fw.pwm[self._edge_cursor :]
        self._edge_cursor += len(edges)
        t = np.array([e.t_ns for e in edges], dtype=np.int64)
        mot = np.array([e.motor for e in edges], dtype=np.int64)
        val = np.array([e.duty for e in edges])
        n_rows, spm = len(applied), self.steps_per_motor
        out = np.repeat(fw.duty_at(applied - 1)[:, None, :], spm, axis=1)  # value before
        nxt = np.append(applied[1:], np.iinfo(np.int64).max)
        for i in range(n_rows):
            in_row = (t >= applied[i]) & (t < nxt[i])
            for m in range(self.n_motors):
                v = val[in_row & (mot == m)]
                if v.size:
                    k = np.minimum(self._ticks, v.size)
                    out[i, k > 0, m] = v[k[k > 0] - 1]
        return out.reshape(n_rows * spm, self.n_motors)

    def _wait_mcu_past(self, t_ns: int) -> None:
        """Wait until the board's clock has passed ``t_ns`` (simavr may run behind real time).

        Raises if the clock makes no progress for 2 s (the emulator hangs).
        """
        last_up, last_move = -1, time.monotonic()
        while True:
            up_ns = self._mcu_now_us() * 1000
            left_s = (t_ns - up_ns) / 1e9
            if left_s <= 0:
                break
            now = time.monotonic()
            if up_ns > last_up:
                last_up, last_move = up_ns, now
            elif now - last_move > 2.0:
                raise DeviceError(
                    f"{self.owner}: the {self.target} firmware's clock stalls "
                    f"({left_s * 1e3:.0f} ms short of the last scheduled row)"
                )
            time.sleep(min(max(left_s, 0.001), 0.05))
        time.sleep(0.002)  # the harness's stdout lines trail the UART reply by a little

    def _wait_outputs_off(self) -> None:
        fw = self.fw
        assert fw is not None
        if not fw.wait_for(lambda f: not f.duty_now().any(), 1.0):
            raise DeviceError(
                f"{self.owner}: the {self.target} firmware still outputs {fw.duty_now()} "
                "1 s after STOP"
            )

    def _require_board(self) -> MotorBoard:
        if self.board is None:
            raise DeviceError(f"{self.owner}: the firmware loop is not running (connect first)")
        return self.board
