"""A servo-bus emulator behind a real pseudo-terminal.

:class:`ServoBus` owns one pty pair: the host (the vendor SDK, pyserial) opens
the slave path as it would ``/dev/ttyACM0``; the emulator reads instruction
packets from the master side, answers as STS servos do (ping, read, write,
reg-write/action, sync read, sync write) and moves the simulated joints in
wall-clock time. Every packet received is logged, so tests can assert what did
(or did not) reach the servos, and faults are injected by name: ``mute(id)``
makes a servo stop answering, as one with a broken cable does.

Run it in a thread (``with ServoBus(...) as bus: bus.port``) or as a process
(``python -m physres.sim.servobus --link /tmp/so101``).
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Self

import numpy as np

from physres.sim.servobus.protocol import (
    BROADCAST_ID,
    INST_ACTION,
    INST_PING,
    INST_READ,
    INST_REG_WRITE,
    INST_SYNC_READ,
    INST_SYNC_WRITE,
    INST_WRITE,
    Packet,
    PacketParser,
    encode,
)
from physres.sim.servobus.servo import (
    ADDR,
    READ_ONLY,
    STS3215_MODEL,
    JointModel,
    ServoState,
    servo_step,
    sign_magnitude,
)

__all__ = ["SO101_JOINTS", "ServoBus", "WireWrite"]

#: An SO-101's six joints, IDs 1..6: the shoulder carries the arm, so it is slowest.
SO101_JOINTS: dict[int, JointModel] = {
    1: JointModel(max_speed=2400.0, max_accel=12000.0),  # shoulder_pan
    2: JointModel(max_speed=1800.0, max_accel=8000.0),  # shoulder_lift
    3: JointModel(max_speed=2000.0, max_accel=10000.0),  # elbow_flex
    4: JointModel(max_speed=2800.0, max_accel=15000.0),  # wrist_flex
    5: JointModel(max_speed=3000.0, max_accel=20000.0),  # wrist_roll
    6: JointModel(max_speed=3000.0, max_accel=20000.0),  # gripper
}
_ERR_ANGLE = 0x02
_MAX_DT = 0.002  # integration step (s)
_MAX_CATCH_UP = 5.0  # at most this much simulated time per update (s)
_TICK_S = 0.02  # idle wake-up: physics never lags more than this behind a request


@dataclass(frozen=True)
class WireWrite:
    """A register write as one servo received it (from write, reg-write or sync write)."""

    t: float
    id: int
    address: int
    data: bytes
    via: str

    def word(self, offset: int = 0) -> int:
        """The little-endian 16-bit value at ``offset`` bytes into the written data."""
        return int.from_bytes(self.data[offset : offset + 2], "little")


class ServoBus:
    """Emulated STS servos on a pty; ``port`` is the path a host opens."""

    def __init__(
        self,
        joints: Mapping[int, JointModel] | None = None,
        *,
        home: Mapping[int, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        reply_delay_s: float = 0.0,
        log_limit: int = 100_000,
    ) -> None:
        self.joints = dict(joints or SO101_JOINTS)
        self.ids = sorted(self.joints)
        self._index = {sid: i for i, sid in enumerate(self.ids)}
        self._clock = clock
        self.reply_delay_s = reply_delay_s
        self._mem = {sid: self._default_memory(sid) for sid in self.ids}
        start = np.array([float((home or {}).get(sid, 2048)) for sid in self.ids])
        self._state = ServoState.at(start)
        for sid in self.ids:
            self._poke(sid, "goal_position", int(start[self._index[sid]]))
        self._pending: dict[int, tuple[int, bytes]] = {}  # reg-write, applied on action
        self._muted: set[int] = set()
        self._errors: dict[int, int] = {}
        self._t_sim = clock()
        self._lock = threading.RLock()
        self.parser = PacketParser()
        # bounded, so a long-running emulator process does not grow without end
        self.log: deque[Packet] = deque(maxlen=log_limit)
        self.writes: deque[WireWrite] = deque(maxlen=log_limit)
        self.replies = 0
        self._master = self._slave = -1
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.port = ""

    # ------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Open the pty pair and answer packets from a daemon thread."""
        if self._thread is not None:
            return self
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing, before the host even opens it
        self.port = os.ttyname(self._slave)
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._serve, name=f"servobus {self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the pty; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------- fault knobs
    def mute(self, servo_id: int) -> None:
        """The servo stops answering (cable pulled): the host sees a timeout."""
        self._muted.add(servo_id)

    def unmute(self, servo_id: int) -> None:
        self._muted.discard(servo_id)

    def set_error(self, servo_id: int, bits: int) -> None:
        """Report these status error bits (1 voltage, 4 overheat, 32 overload...) in replies."""
        self._errors[servo_id] = bits

    # ---------------------------------------------------------- inspection
    def positions(self) -> dict[int, float]:
        """Present positions (steps) after catching the simulation up to now."""
        with self._lock:
            self._advance()
            return {sid: float(self._state.pos[i]) for sid, i in self._index.items()}

    def velocities(self) -> dict[int, float]:
        with self._lock:
            self._advance()
            return {sid: float(self._state.vel[i]) for sid, i in self._index.items()}

    def register(self, servo_id: int, name: str) -> int:
        """A register's current value (unsigned), e.g. ``register(1, "goal_position")``."""
        with self._lock:
            self._advance()
            self._refresh_present(servo_id)
            return self._peek(servo_id, name)

    def writes_to(self, name: str, since: float = 0.0) -> list[WireWrite]:
        """Writes that covered register ``name`` (received at or after ``since``)."""
        addr, size = ADDR[name]
        return [
            w for w in self.writes
            if w.t >= since and w.address <= addr and addr + size <= w.address + len(w.data)
        ]

    def goal_writes(self, since: float = 0.0) -> list[tuple[int, int]]:
        """``(id, goal steps)`` for every goal position that reached a servo."""
        addr = ADDR["goal_position"][0]
        return [(w.id, w.word(addr - w.address)) for w in self.writes_to("goal_position", since)]

    # ---------------------------------------------------------- internals
    def _default_memory(self, sid: int) -> bytearray:
        mem = bytearray(256)
        for name, value in {
            "firmware_major": 3, "firmware_minor": 10, "model": STS3215_MODEL, "id": sid,
            "status_return_level": 1, "min_angle_limit": 0, "max_angle_limit": 4095,
            "max_temperature": 70, "max_torque": 1000, "p_coefficient": 32,
            "d_coefficient": 32, "torque_limit": 1000, "present_voltage": 120,
            "present_temperature": 31, "torque_enable": 1,
        }.items():
            a, n = ADDR[name]
            mem[a : a + n] = int(value).to_bytes(n, "little")
        return mem

    def _poke(self, sid: int, name: str, value: int) -> None:
        a, n = ADDR[name]
        self._mem[sid][a : a + n] = int(value & ((1 << (8 * n)) - 1)).to_bytes(n, "little")

    def _peek(self, sid: int, name: str) -> int:
        a, n = ADDR[name]
        return int.from_bytes(self._mem[sid][a : a + n], "little")

    def _advance(self) -> None:
        """Integrate the joints from the last update to now (lazy, exact in wall time)."""
        now = self._clock()
        elapsed = min(now - self._t_sim, _MAX_CATCH_UP)
        self._t_sim = now
        if elapsed <= 0:
            return
        goal = np.empty(len(self.ids))
        vmax = np.empty(len(self.ids))
        amax = np.empty(len(self.ids))
        enabled = np.empty(len(self.ids), dtype=bool)
        for sid, i in self._index.items():
            lo, hi = self._peek(sid, "min_angle_limit"), self._peek(sid, "max_angle_limit")
            goal[i] = min(max(self._peek(sid, "goal_position"), lo), hi)
            spd = self._peek(sid, "goal_speed") & 0x7FFF
            jm = self.joints[sid]
            vmax[i] = min(spd, jm.max_speed) if spd else jm.max_speed
            acc = self._peek(sid, "acceleration")
            amax[i] = min(acc * 100.0, jm.max_accel) if acc else jm.max_accel
            enabled[i] = bool(self._peek(sid, "torque_enable"))
        n = max(1, int(np.ceil(elapsed / _MAX_DT)))
        dt = elapsed / n
        state = self._state
        for _ in range(n):
            state = servo_step(state, goal, vmax, amax, enabled, dt)
        state.pos = np.clip(state.pos, 0.0, 4095.0)
        self._state = state

    def _refresh_present(self, sid: int) -> None:
        i = self._index[sid]
        pos = round(self._state.pos[i])
        vel = round(self._state.vel[i])
        self._poke(sid, "present_position", pos)
        self._poke(sid, "present_speed", sign_magnitude(vel))
        moving = abs(self._peek(sid, "goal_position") - pos) > self.joints[sid].deadband
        self._poke(sid, "moving", int(moving or abs(vel) > 1))
        load = int(min(1000, abs(vel) / self.joints[sid].max_speed * 300))
        self._poke(sid, "present_load", sign_magnitude(load if vel >= 0 else -load, 10))

    def _write(self, sid: int, address: int, data: bytes, via: str, t: float) -> int:
        """Apply a write; returns status error bits (angle error if out of range)."""
        self.writes.append(WireWrite(t=t, id=sid, address=address, data=bytes(data), via=via))
        mem = self._mem[sid]
        for k, b in enumerate(data):
            a = address + k
            if a < 256 and a not in READ_ONLY:
                mem[a] = b
        ga = ADDR["goal_position"][0]
        if address <= ga < address + len(data) - 1:
            goal = self._peek(sid, "goal_position")
            lo, hi = self._peek(sid, "min_angle_limit"), self._peek(sid, "max_angle_limit")
            if not lo <= goal <= hi:
                self._poke(sid, "goal_position", min(max(goal, lo), hi))
                return _ERR_ANGLE
        return 0

    def _status(self, sid: int, params: bytes = b"", error: int = 0) -> bytes:
        self.replies += 1
        return encode(sid, error | self._errors.get(sid, 0), params)

    def handle_packet(self, pkt: Packet) -> bytes:
        """The bytes the bus answers to one instruction packet (empty: silence)."""
        with self._lock:
            self.log.append(pkt)
            self._advance()
            out = bytearray()
            p = pkt.params
            targets = self.ids if pkt.id == BROADCAST_ID else [pkt.id]
            live = [s for s in targets if s in self._mem and s not in self._muted]
            reply = pkt.id != BROADCAST_ID and bool(live)
            if pkt.code == INST_PING:
                if reply:
                    out += self._status(pkt.id)
            elif pkt.code == INST_READ and len(p) == 2:
                if reply:
                    self._refresh_present(pkt.id)
                    out += self._status(pkt.id, bytes(self._mem[pkt.id][p[0] : p[0] + p[1]]))
            elif pkt.code in (INST_WRITE, INST_REG_WRITE) and p:
                err = 0
                for sid in live:
                    if pkt.code == INST_WRITE:
                        err |= self._write(sid, p[0], p[1:], "write", pkt.t)
                    else:
                        self._pending[sid] = (p[0], bytes(p[1:]))
                if reply:
                    out += self._status(pkt.id, error=err)
            elif pkt.code == INST_ACTION:
                for sid in live:
                    if sid in self._pending:
                        addr, data = self._pending.pop(sid)
                        self._write(sid, addr, data, "reg_write", pkt.t)
                if reply:
                    out += self._status(pkt.id)
            elif pkt.code == INST_SYNC_WRITE and len(p) >= 2:
                addr, n = p[0], p[1]
                for k in range(2, len(p) - n, n + 1):
                    sid = p[k]
                    if sid in self._mem and sid not in self._muted:
                        self._write(sid, addr, p[k + 1 : k + 1 + n], "sync_write", pkt.t)
            elif pkt.code == INST_SYNC_READ and len(p) >= 2:
                addr, n = p[0], p[1]
                for sid in p[2:]:  # each servo answers in the order the host listed
                    if sid in self._mem and sid not in self._muted:
                        self._refresh_present(sid)
                        out += self._status(sid, bytes(self._mem[sid][addr : addr + n]))
            return bytes(out)

    def _serve(self) -> None:
        master = self._master
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([master], [], [], _TICK_S)
            except (OSError, ValueError):
                return
            if not ready:
                with self._lock:  # keep physics current so a reply never waits on catch-up
                    self._advance()
                continue
            try:
                data = os.read(master, 4096)
            except OSError:  # the host closed its side; keep serving for the next open
                time.sleep(0.01)
                continue
            t = self._clock()
            answer = b"".join(self.handle_packet(pkt) for pkt in self.parser.feed(data, t))
            if answer:
                if self.reply_delay_s:
                    time.sleep(self.reply_delay_s)
                os.write(master, answer)

