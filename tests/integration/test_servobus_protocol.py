"""The vendor SDK (scservo_sdk) against the servo-bus emulator over a real pty.

This is the wire contract the SO-101 driver relies on: if the emulator
answers the SDK the way STS servos do, CI exercises the real driver code.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import pytest
import scservo_sdk as scs

from physres.sim.servobus import ADDR, SO101_JOINTS, STS3215_MODEL, ServoBus, encode


@pytest.fixture
def servos() -> Iterator[ServoBus]:
    with ServoBus() as bus:
        yield bus


@pytest.fixture
def sdk(
    servos: ServoBus, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[scs.PortHandler, object]]:
    # the SDK waits 2 × LATENCY_TIMER + 2 ms for a reply (34 ms); a loaded CI machine
    # can starve the emulator thread that long, so allow what a slow USB adapter would
    monkeypatch.setattr(scs.port_handler, "LATENCY_TIMER", 100)
    port = scs.PortHandler(servos.port)
    assert port.openPort()
    yield port, scs.PacketHandler(0)
    port.closePort()


def test_every_servo_answers_ping_with_the_sts3215_model(sdk) -> None:
    port, ph = sdk
    for sid in SO101_JOINTS:
        model, result, error = ph.ping(port, sid)
        assert (model, result, error) == (STS3215_MODEL, scs.COMM_SUCCESS, 0)
    _, result, _ = ph.ping(port, 42)  # nobody has ID 42: silence, as on a real bus
    assert result == scs.COMM_RX_TIMEOUT


def test_write_then_read_a_register_round_trips(sdk, servos: ServoBus) -> None:
    port, ph = sdk
    result, error = ph.write2ByteTxRx(port, 2, ADDR["goal_position"][0], 2500)
    assert (result, error) == (scs.COMM_SUCCESS, 0)
    value, result, _ = ph.read2ByteTxRx(port, 2, ADDR["goal_position"][0])
    assert (value, result) == (2500, scs.COMM_SUCCESS)
    assert servos.register(2, "goal_position") == 2500
    # read-only registers ignore writes, as the real servo's do
    ph.write2ByteTxRx(port, 2, ADDR["model"][0], 1234)
    assert ph.read2ByteTxRx(port, 2, ADDR["model"][0])[0] == STS3215_MODEL


def test_sync_write_moves_every_joint_no_faster_than_its_own_top_speed(sdk, servos) -> None:
    port, ph = sdk
    goal = 3500
    gw = scs.GroupSyncWrite(port, ph, ADDR["goal_position"][0], 2)
    for sid in SO101_JOINTS:
        gw.addParam(sid, [goal & 0xFF, goal >> 8])
    assert gw.txPacket() == scs.COMM_SUCCESS
    gr = scs.GroupSyncRead(port, ph, ADDR["present_position"][0], 4)
    for sid in SO101_JOINTS:
        gr.addParam(sid)
    t0 = time.monotonic()
    time.sleep(0.3)
    assert gr.txRxPacket() == scs.COMM_SUCCESS
    dt = time.monotonic() - t0
    for sid, joint in SO101_JOINTS.items():
        moved = gr.getData(sid, ADDR["present_position"][0], 2) - 2048
        assert 0 < moved <= joint.max_speed * dt + 2, f"servo {sid}: {moved} steps in {dt:.3f} s"
    # the shoulder (slowest) has moved less than the wrist roll (fastest)
    assert gr.getData(2, 56, 2) < gr.getData(5, 56, 2)
    time.sleep(1.5)
    assert gr.txRxPacket() == scs.COMM_SUCCESS
    assert all(abs(gr.getData(s, 56, 2) - goal) <= 1 for s in SO101_JOINTS)
    assert all(gr.getData(s, 58, 2) == 0 for s in SO101_JOINTS)  # arrived: speed 0


def test_goal_speed_register_caps_the_motion(sdk, servos) -> None:
    port, ph = sdk
    # SDK packet for position+time+speed in one write, as the driver sends it
    ph.writeTxRx(port, 4, ADDR["goal_position"][0], 6, [0xB4, 0x0A, 0, 0, 200, 0])  # 2740, 200/s
    time.sleep(0.5)
    moved = ph.read2ByteTxRx(port, 4, ADDR["present_position"][0])[0] - 2048
    assert 60 <= moved <= 200 * 0.6


def test_reg_write_waits_for_action(sdk, servos) -> None:
    port, ph = sdk
    ph.regWriteTxRx(port, 1, ADDR["goal_position"][0], 2, [0x00, 0x0A])
    assert servos.register(1, "goal_position") == 2048
    assert ph.action(port, 1) == scs.COMM_SUCCESS
    assert servos.register(1, "goal_position") == 0x0A00


def test_a_muted_servo_times_out_the_sync_read_while_the_others_still_answer(sdk, servos) -> None:
    port, ph = sdk
    servos.mute(3)
    gr = scs.GroupSyncRead(port, ph, ADDR["present_position"][0], 2)
    for sid in SO101_JOINTS:
        gr.addParam(sid)
    assert gr.txRxPacket() == scs.COMM_RX_TIMEOUT
    assert gr.data_dict[3] == []  # the driver names the servo from exactly this
    assert ph.ping(port, 4)[1] == scs.COMM_SUCCESS
    servos.unmute(3)
    assert gr.txRxPacket() == scs.COMM_SUCCESS
    assert [p.name for p in servos.log].count("sync_read") == 2


def test_line_noise_is_counted_and_the_next_packet_still_answered(servos: ServoBus) -> None:
    fd = os.open(servos.port, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, b"\x00\xff\x13\x37" + encode(5, 0x01))
        deadline = time.monotonic() + 2.0
        reply = b""
        while len(reply) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
            with contextlib.suppress(BlockingIOError):
                reply += os.read(fd, 64)
    finally:
        os.close(fd)
    assert reply == encode(5, 0x00)
    assert servos.parser.garbage_bytes >= 3
