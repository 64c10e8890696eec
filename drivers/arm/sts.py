"""A thin, typed layer over the vendor's ``feetech-servo-sdk`` (``scservo_sdk``).

The SDK reports failures as result codes; here each becomes a named error
that says which servo on which port failed and how (:class:`DeviceTimeout`
for silence, :class:`DeviceError` for a garbled reply or a servo's own error
bits). The SDK's reply timeout is a fixed 34 ms plus wire time; this port
handler makes it the driver's ``timeout_s``.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import scservo_sdk as scs
import serial

from physres.errors import DeviceError, DeviceTimeout

__all__ = ["STS", "StsBus"]

# ``servobus://NAME`` opens the servo-bus emulator in memory (mock mode), as pyserial's
# ``loop://`` opens a loopback: the address picks the transport, the driver is unchanged
if "physres.sim.servobus" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("physres.sim.servobus")


class STS:
    """STS3215 control-table addresses used by the driver."""

    MODEL = 3
    TORQUE_ENABLE = 40
    ACCELERATION = 41
    GOAL_POSITION = 42  # goal position (2), goal time (2), goal speed (2)
    PRESENT_POSITION = 56  # present position (2), present speed (2)
    STEPS_PER_TURN = 4096
    MODEL_STS3215 = 777


_ERROR_BITS = {
    1: "input voltage",
    2: "angle sensor",
    4: "overheat",
    8: "over-current",
    32: "overload",
}


class _Port(scs.PortHandler):
    """The SDK's port handler with a configurable reply timeout (ms) and no busy-wait.

    The SDK polls a non-blocking port in a tight loop while it waits for a
    reply; waiting in ``select`` for up to 1 ms instead frees the CPU (and,
    in-process, the GIL for whoever must answer) without adding latency.
    """

    def __init__(self, port_name: str, timeout_ms: float) -> None:
        super().__init__(port_name)
        self.timeout_ms = timeout_ms

    def setupPort(self, cflag_baud: int) -> bool:
        """As the SDK's, but through ``serial_for_url``: a device path or any pyserial URL."""
        if self.is_open:
            self.closePort()
        self.ser = serial.serial_for_url(
            self.port_name, baudrate=self.baudrate, bytesize=serial.EIGHTBITS, timeout=0
        )
        self.is_open = True
        self.ser.reset_input_buffer()
        self.tx_time_per_byte = (1000.0 / self.baudrate) * 10.0
        return True

    def readPort(self, length: int) -> bytes:
        if self.ser is not None and not self.ser.in_waiting:
            try:
                select.select([self.ser.fileno()], [], [], 0.001)
            except (AttributeError, OSError, ValueError):  # an in-memory port has no fd
                time.sleep(0.0005)
        return self.ser.read(length)

    def setPacketTimeout(self, packet_length: int) -> None:
        self.packet_start_time = self.getCurrentTime()
        self.packet_timeout = self.tx_time_per_byte * packet_length + self.timeout_ms


class StsBus:
    """One serial bus of STS servos, opened through the vendor SDK; thread-safe."""

    def __init__(self, port: str, baudrate: int, timeout_s: float, retries: int) -> None:
        self.port_name = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self.retries = retries
        self._port: _Port | None = None
        self._ph = scs.PacketHandler(0)  # protocol_end 0: STS (little-endian words)
        self._lock = threading.RLock()

    @property
    def serial(self) -> Any:
        """The open pyserial port (for a ``servobus://`` port, its ``.bus`` is the emulator)."""
        return None if self._port is None else self._port.ser

    # ------------------------------------------------------------ lifecycle
    def open(self) -> None:
        port = _Port(self.port_name, self.timeout_s * 1000.0)
        port.baudrate = self.baudrate
        try:
            ok = port.openPort()
        except (OSError, ValueError) as e:  # serial.SerialException is an OSError
            raise DeviceError(f"servo bus {self.port_name}: cannot open: {e}") from e
        if not ok:
            raise DeviceError(
                f"servo bus {self.port_name}: the SDK refused baud rate {self.baudrate}; "
                "use one of 38400, 57600, 115200, 500000, 1000000"
            )
        self._port = port

    def close(self) -> None:
        with self._lock:
            if self._port is not None and self._port.is_open:
                self._port.closePort()
            self._port = None

    @property
    def is_open(self) -> bool:
        return self._port is not None

    # ------------------------------------------------------------- helpers
    def _p(self) -> _Port:
        if self._port is None:
            raise DeviceError(f"servo bus {self.port_name} is closed")
        return self._port

    def _raise(self, result: int, servo_id: int, what: str) -> None:
        detail = self._ph.getTxRxResult(result)
        where = f"servo {servo_id} on {self.port_name}"
        if result == scs.COMM_RX_TIMEOUT:
            raise DeviceTimeout(
                f"{where} did not answer {what} within {self.timeout_s * 1000:.0f} ms "
                f"({self.retries + 1} tries): check its power and cable"
            )
        raise DeviceError(f"{where}: {what} failed: {detail} (SDK result {result})")

    def _check_error(self, error: int, servo_id: int, what: str) -> None:
        if error:
            names = [n for bit, n in _ERROR_BITS.items() if error & bit] or [f"0x{error:02x}"]
            raise DeviceError(
                f"servo {servo_id} on {self.port_name} reports {', '.join(names)} error "
                f"after {what} (status 0x{error:02x})"
            )

    def _flush_input(self) -> None:
        """Before a retry: let a late reply arrive, then drop it, so it cannot pass for the
        retry's own (a stale status packet with the right ID would be taken as the answer)."""
        port = self._p()
        time.sleep(min(self.timeout_s, 0.05))
        if port.ser is not None:
            port.ser.reset_input_buffer()
        port.is_using = False

    # ----------------------------------------------------------- transactions
    def _transact(self, what: str, servo_id: int, call: Callable[[], tuple]) -> Any:
        """Run one SDK request/reply with retries; SDK crashes on short replies become
        a corrupt-reply result (a stale packet with the right ID can be too short)."""
        with self._lock:
            result = scs.COMM_TX_FAIL
            for attempt in range(self.retries + 1):
                try:
                    value, result, error = call()
                except (IndexError, TypeError):
                    value, result, error = None, scs.COMM_RX_CORRUPT, 0
                except OSError as e:
                    raise DeviceError(f"servo bus {self.port_name}: {what} failed: {e}") from e
                if result == scs.COMM_SUCCESS:
                    self._check_error(error, servo_id, what)
                    return value
                if attempt < self.retries:
                    self._flush_input()
            self._raise(result, servo_id, what)

    def ping(self, servo_id: int) -> int:
        """The servo's model number (777 for an STS3215)."""
        return int(self._transact("ping", servo_id, lambda: self._ph.ping(self._p(), servo_id)))

    def write(self, servo_id: int, address: int, data: Sequence[int]) -> None:
        """Write bytes to one servo and wait for its acknowledgement."""

        def call() -> tuple:
            return (None, *self._ph.writeTxRx(self._p(), servo_id, address, len(data), list(data)))

        self._transact(f"write @{address}", servo_id, call)

    def sync_write(self, address: int, data: Mapping[int, Sequence[int]]) -> None:
        """One broadcast packet writing ``data[id]`` at ``address`` on every listed servo."""
        if not data:
            return
        length = len(next(iter(data.values())))
        with self._lock:
            group = scs.GroupSyncWrite(self._p(), self._ph, address, length)
            for sid, payload in data.items():
                if not group.addParam(sid, list(payload)):
                    raise DeviceError(
                        f"servo {sid}: sync write payload {list(payload)} is not {length} bytes"
                    )
            try:
                result = group.txPacket()
            except OSError as e:
                raise DeviceError(f"servo bus {self.port_name}: sync write failed: {e}") from e
            if result != scs.COMM_SUCCESS:
                raise DeviceError(
                    f"servo bus {self.port_name}: sync write @{address} failed: "
                    f"{self._ph.getTxRxResult(result)}"
                )

    def sync_read(self, address: int, length: int, ids: Sequence[int]) -> dict[int, bytes]:
        """Read ``length`` bytes at ``address`` from every servo in one transaction.

        A silent servo raises :class:`DeviceTimeout` naming it (the first ID
        whose reply is missing; servos listed after it are not waited for).
        """
        with self._lock:
            for attempt in range(self.retries + 1):
                group = scs.GroupSyncRead(self._p(), self._ph, address, length)
                for sid in ids:
                    group.addParam(sid)
                try:
                    result = group.txRxPacket()
                except (IndexError, TypeError):
                    result = scs.COMM_RX_CORRUPT
                except OSError as e:
                    raise DeviceError(f"servo bus {self.port_name}: sync read failed: {e}") from e
                if result == scs.COMM_SUCCESS:
                    return {sid: bytes(group.data_dict[sid]) for sid in ids}
                if attempt < self.retries:
                    self._flush_input()
            missing = next((s for s in ids if len(group.data_dict.get(s, [])) < length), ids[0])
            self._raise(result, missing, f"sync read @{address}")
        raise AssertionError("unreachable")
