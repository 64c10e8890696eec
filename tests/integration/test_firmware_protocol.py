"""The bucket firmware answers its protocol on a real pty.

Each test runs twice: against the real ATmega328P ELF in simavr (times on the
emulated MCU's clock, PWM read from its timer registers) and against the host
build of the same C logic. Where the AVR toolchain or simavr is missing, the
simavr variant is skipped with a reason that says so (shown by ``-ra``).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import serial

from physres.drivers.bucket import protocol as P
from physres.drivers.bucket.firmware import BucketFirmware, simavr_missing
from physres.wire import Packet, PacketProtocol, SerialLink, encode_packet

FULL = P.DUTY_FULL_SCALE


@pytest.fixture
def link(firmware: BucketFirmware) -> Iterator[SerialLink]:
    events: list[Packet] = []
    lk = SerialLink(firmware.port, timeout_s=0.2, on_event=events.append).open()
    lk.events = events  # type: ignore[attr-defined]
    yield lk
    lk.close()


def hello(link: SerialLink) -> P.Hello:
    return P.parse_hello(link.request(P.Msg.HELLO, bytes([P.PROTO_VERSION])))


def status(link: SerialLink) -> P.Status:
    return P.parse_status(link.request(P.Msg.STATUS))


def set_duty(link: SerialLink, duty: list[int]) -> P.Applied:
    return P.parse_applied(link.request(P.Msg.SET_DUTY, P.duties_payload(duty)))


def test_handshake_reports_version_motors_and_limits(link: SerialLink) -> None:
    h = hello(link)
    assert h.proto_version == P.PROTO_VERSION and h.fw_version == (1, 1, 0)
    assert h.n_motors == 4 and h.sched_depth == 8
    assert h.duty_max == (60000,) * 4 and h.slew_per_tick == 2048 and h.tick_us == 1000
    assert (h.watchdog_ms, h.watchdog_min_ms, h.watchdog_max_ms) == (250, 50, 5000)


def test_wrong_protocol_version_is_refused(link: SerialLink) -> None:
    with pytest.raises(P.ReplyError, match="BAD_VERSION") as e:
        P.parse_hello(link.request(P.Msg.HELLO, bytes([9])))
    assert e.value.detail == P.PROTO_VERSION


def test_duty_is_clamped_and_slew_limited_on_the_pins(
    firmware: BucketFirmware, link: SerialLink
) -> None:
    set_duty(link, [FULL, 30000, 0, 0])
    assert firmware.wait_for(lambda fw: fw.duty_now()[0] > 0.912, 2.0)
    rise = [e for e in firmware.pwm if e.motor == 0 and e.duty > 0]
    # the pin never exceeds the per-motor clamp (60000/65535; the AVR's 8-bit PWM rounds up)
    assert max(e.duty for e in rise) == pytest.approx(60000 / FULL, abs=1 / 256 + 1e-6)
    # 2048 per 1 ms tick: 0 -> 60000 takes 30 steps, none bigger than the limit
    steps = np.diff([0.0] + [e.duty for e in rise])
    assert len(rise) == 30 and steps.max() <= 2048 / FULL + 1 / 256
    if firmware.target == "simavr":
        # on the emulated MCU clock the ticks are exactly 1 ms apart: 29 ms first to last
        # (the host build's ticks follow the OS scheduler, which may bunch them up)
        assert 28.9 <= (rise[-1].t_ns - rise[0].t_ns) / 1e6 <= 29.2
    time.sleep(0.05)
    assert status(link).duty == (60000, 30000, 0, 0)


def test_each_applied_vector_toggles_the_strobe_at_the_reported_time(
    firmware: BucketFirmware, link: SerialLink
) -> None:
    applied = [set_duty(link, [1000 * i, 0, 0, 0]) for i in range(1, 11)]
    assert [a.strobe_seq for a in applied] == list(range(1, 11))
    assert firmware.wait_for(lambda fw: len(fw.strobes) >= 11, 2.0)  # boot edge + 10
    edges = firmware.strobes[-10:]
    assert [lvl for _, lvl in edges] == [1, 0] * 5
    # the pin's edges and the reply times are the same clock: the offset between
    # them (the board clock starts when the firmware sets up its timer, < 1 ms
    # after reset) is constant to a few microseconds
    offsets = [t_ns / 1000 - a.t_us for (t_ns, _), a in zip(edges, applied)]
    assert min(offsets) >= 0 and max(offsets) < 1000
    # (exact on the emulated clock; the host build can be preempted between the two reads)
    assert max(offsets) - min(offsets) < (20 if firmware.target == "simavr" else 500)


def test_scheduled_vectors_apply_at_their_device_time(
    firmware: BucketFirmware, link: SerialLink
) -> None:
    now = P.parse_time(P.Msg.PING, link.request(P.Msg.PING))
    when = [now + 120_000, now + 60_000, now + 90_000]  # out of order: the board sorts
    for i, t in enumerate(when):
        reply = link.request(P.Msg.SCHEDULE, P.schedule_payload(t, [10000 * (i + 1), 0, 0, 0]))
        assert P.parse_queue(reply) == i + 1
    deadline = time.monotonic() + 2
    while len(link.events) < 3 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    events = [P.parse_strobe(p.payload) for p in link.events]  # type: ignore[attr-defined]
    assert [e.duty[0] for e in events] == [20000, 30000, 10000]
    assert [e.strobe_seq for e in events] == [1, 2, 3]
    # applied on the first 1 ms tick at or after t (the host build's tick may come late
    # when the OS is busy; the emulated MCU's never does)
    late_us = 1100 if firmware.target == "simavr" else 20_000
    for e, t in zip(events, sorted(when)):
        assert 0 <= e.t_us - t <= late_us
    assert [p.seq for p in link.events] == [0, 1, 2]  # type: ignore[attr-defined]


def test_schedule_queue_is_bounded_and_stop_clears_it(link: SerialLink) -> None:
    now = P.parse_time(P.Msg.PING, link.request(P.Msg.PING))
    for i in range(8):
        link.request(P.Msg.SCHEDULE, P.schedule_payload(now + 10_000_000 + i, [5000] * 4))
    with pytest.raises(P.ReplyError, match="QUEUE_FULL"):
        P.parse_queue(link.request(P.Msg.SCHEDULE, P.schedule_payload(now, [0] * 4)))
    set_duty(link, [20000] * 4)
    P.parse_time(P.Msg.STOP, link.request(P.Msg.STOP))
    st = status(link)
    assert st.queue_len == 0 and st.duty == (0, 0, 0, 0) and st.stopped


def test_bad_requests_get_named_error_codes(link: SerialLink) -> None:
    def code(msg: int, payload: bytes = b"") -> tuple[int, int]:
        reply = link.request(msg, payload)  # type: ignore[arg-type]
        return reply[0], reply[1]

    assert code(P.Msg.SET_DUTY, b"\x01\x02") == (P.ErrorCode.BAD_LENGTH, 8)
    assert code(P.Msg.STATUS, b"\x00") == (P.ErrorCode.BAD_LENGTH, 0)
    assert code(P.Msg.SET_WATCHDOG, P.watchdog_payload(49)) == (P.ErrorCode.OUT_OF_RANGE, 0)
    assert code(P.Msg.SET_WATCHDOG, P.watchdog_payload(5001)) == (P.ErrorCode.OUT_OF_RANGE, 0)
    assert P.parse_watchdog(link.request(P.Msg.SET_WATCHDOG, P.watchdog_payload(400))) == 400
    # an unknown type still gets a reply (type | 0x80) naming what it did not know
    assert code(0x33) == (P.ErrorCode.UNKNOWN_TYPE, 0x33)
    assert status(link).watchdog_ms == 400


class Replies(PacketProtocol):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[Packet] = []

    def handle_packet(self, packet: Packet) -> None:
        self.got.append(packet)


def _raw_exchange(port: str, wire: bytes, n_replies: int) -> Replies:
    """Write raw bytes to the board and collect ``n_replies`` frames."""
    rx = Replies()
    with serial.serial_for_url(port, baudrate=38400, timeout=0.05) as ser:
        ser.write(wire)
        deadline = time.monotonic() + 3
        while len(rx.got) < n_replies and time.monotonic() < deadline:
            rx.data_received(ser.read(64))
    return rx


def test_a_resent_request_is_answered_again_but_applied_once(firmware: BucketFirmware) -> None:
    frame = encode_packet(P.Msg.SET_DUTY, 42, P.duties_payload([9000, 0, 0, 0]))
    rx = _raw_exchange(firmware.port, b"\x00" + frame + frame + encode_packet(P.Msg.STATUS, 43), 3)
    first, again, st = rx.got
    assert first == again  # the cached reply, byte for byte
    assert P.parse_applied(first.payload).strobe_seq == 1
    assert P.parse_status(st.payload).strobe_seq == 1  # applied (and strobed) once


def test_garbage_between_frames_is_counted_and_ignored(firmware: BucketFirmware) -> None:
    junk = [b"\x13\x37\x00", bytes(range(1, 100)) + b"\x00", b"\xff" * 5 + b"\x00"]
    wire = b"\x00" + b"".join(j + encode_packet(P.Msg.PING, i + 1) for i, j in enumerate(junk))
    wire += encode_packet(P.Msg.STATUS, 9)
    rx = _raw_exchange(firmware.port, wire, 4)
    assert [p.type for p in rx.got] == [P.Msg.PING | 0x80] * 3 + [P.Msg.STATUS | 0x80]
    st = P.parse_status(rx.got[-1].payload)
    assert (st.frames_bad, st.frames_ok) == (3, 4)


def test_two_boards_run_side_by_side_without_colliding() -> None:
    # each harness makes its own pty link; the fixed /tmp/simavr-uart0 is not used
    target = "host" if simavr_missing() else "simavr"
    with BucketFirmware(target) as a, BucketFirmware(target) as b:
        assert a.port != b.port
        results: dict[str, int] = {}

        def run(fw: BucketFirmware, duty: int) -> None:
            lk = SerialLink(fw.port, timeout_s=0.2).open()
            try:
                set_duty(lk, [duty] * 4)
                results[fw.port] = P.parse_status(lk.request(P.Msg.STATUS)).strobe_seq
            finally:
                lk.close()

        threads = [threading.Thread(target=run, args=(fw, d)) for fw, d in ((a, 1000), (b, 2000))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert results == {a.port: 1, b.port: 1}


def test_pin_duty_can_be_resampled_on_a_simulator_grid(
    firmware: BucketFirmware, link: SerialLink
) -> None:
    # what a wave-tank simulator driven by the firmware does: read the pins' duty
    # on its own time grid (MCU clock), here every 1 ms through the 0 -> 30000 slew ramp
    set_duty(link, [30000, 0, 0, 0])
    assert firmware.wait_for(lambda f: f.duty_now()[0] > 0.45, 1.0)
    start = min(e.t_ns for e in firmware.pwm if e.motor == 0 and e.duty > 0)
    grid = start + 500_000 + np.arange(-2, 25) * 1_000_000  # between 1 ms ticks
    d = firmware.duty_at(grid)[:, 0]
    assert d[0] == 0 and d[-1] == pytest.approx(30000 / FULL, abs=1 / 256)
    assert (np.diff(d) >= 0).all()
    if firmware.target == "simavr":
        # one slew step per 1 ms tick on the MCU clock (the host build's ticks follow
        # the OS scheduler and may bunch up when it wakes late and catches up)
        assert np.diff(d).max() <= 2048 / FULL + 1 / 256


def test_harness_removes_its_pty_link_on_sigterm(firmware: BucketFirmware) -> None:
    link_path = firmware.link
    assert os.path.realpath(link_path) == firmware.port
    os.kill(firmware.pid, signal.SIGTERM)
    assert firmware.wait_for(lambda f: f.exit_reason is not None, 3.0)
    assert firmware.exit_reason == "signal"
    assert not os.path.lexists(link_path)
    # simavr's own fixed link is never left pointing at our pty
    fixed = "/tmp/simavr-uart0"
    assert not (os.path.lexists(fixed) and os.path.realpath(fixed) == firmware.port)
