"""The servo-bus emulator's pure parts: the STS packet codec and the servo motion step.

These run without a pty; the wire-level behaviour is in
tests/integration/test_servobus_protocol.py.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from physres.sim.servobus import PacketParser, checksum, encode, servo_step
from physres.sim.servobus.servo import ServoState


def test_a_packet_is_header_id_length_code_params_checksum() -> None:
    # the SDK's ping of servo 1: FF FF 01 02 01 FB
    assert encode(1, 0x01) == bytes([0xFF, 0xFF, 0x01, 0x02, 0x01, 0xFB])
    assert checksum(bytes([0x01, 0x02, 0x01])) == 0xFB


@settings(max_examples=60, deadline=None)
@given(
    packets=st.lists(
        st.tuples(st.integers(0, 253), st.integers(0, 255), st.binary(max_size=20)),
        min_size=1, max_size=6,
    ),
    cuts=st.lists(st.integers(0, 200), max_size=5),
)
def test_parser_recovers_every_packet_however_the_bytes_are_split(packets, cuts) -> None:
    wire = b"".join(encode(i, c, p) for i, c, p in packets)
    parser = PacketParser()
    got = []
    edges = sorted({min(c, len(wire)) for c in cuts} | {0, len(wire)})
    for a, b in itertools.pairwise(edges):
        got += parser.feed(wire[a:b])
    assert [(p.id, p.code, p.params) for p in got] == [(i, c, bytes(p)) for i, c, p in packets]
    assert parser.garbage_bytes == 0 and parser.bad_checksums == 0


def test_parser_counts_garbage_and_bad_checksums_and_keeps_going() -> None:
    good = encode(3, 0x02, bytes([56, 2]))
    corrupt = bytearray(encode(4, 0x01))
    corrupt[-1] ^= 0x55
    parser = PacketParser()
    got = parser.feed(b"\x00\x13noise" + bytes(corrupt) + good)
    assert [(p.id, p.params) for p in got] == [(3, bytes([56, 2]))]
    assert parser.garbage_bytes >= 7
    assert parser.bad_checksums == 1


def test_a_servo_brakes_in_time_and_lands_on_its_goal_without_overshoot() -> None:
    state = ServoState.at(np.array([2048.0, 2048.0]))
    goal = np.array([3000.0, 1000.0])
    vmax, amax = np.array([1500.0, 800.0]), np.array([10000.0, 5000.0])
    on = np.array([True, True])
    trace = []
    for _ in range(2000):  # 2 s at 1 ms
        state = servo_step(state, goal, vmax, amax, on, 0.001)
        trace.append(state.pos.copy())
    trace = np.array(trace)
    np.testing.assert_allclose(state.pos, goal, atol=1.0)
    assert trace[:, 0].max() <= goal[0] + 1e-9 and trace[:, 1].min() >= goal[1] - 1e-9
    speed = np.abs(np.diff(trace, axis=0)) / 0.001
    assert (speed <= vmax * 1.001).all()  # the per-joint top speed holds throughout


def test_a_torque_off_servo_coasts_to_a_stop_instead_of_chasing_its_goal() -> None:
    state = ServoState(pos=np.array([2048.0]), vel=np.array([500.0]))
    for _ in range(500):
        state = servo_step(state, np.array([4000.0]), np.array([2000.0]), np.array([5000.0]),
                           np.array([False]), 0.001)
    assert state.vel[0] == 0.0 and state.pos[0] < 2100
