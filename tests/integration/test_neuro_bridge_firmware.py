"""The neuromorphic bridge firmware answers its protocol on a real pty.

Each test runs on the real ATmega328P image in simavr, where the chip is the
harness's SPI model (each input makes its neuron spike 1 ms later; IN/OUT
lines on the emulated MCU clock), and on the host build of the same C, where
the chip is the emulator process on the chip bus. Where the AVR toolchain or
simavr is missing the simavr variant is skipped, saying so.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from physres.drivers.neuromorphic import protocol as P
from physres.drivers.neuromorphic.firmware import BridgeFirmware, simavr_missing
from physres.neuro.tables import BIAS_SLOTS, SYN_DTYPE, row_crc
from physres.wire import Packet, SerialLink, encode_packet
from physres.wire.faults import FaultyRelay


def _start(target: str, chip_args: tuple[str, ...] = ()) -> BridgeFirmware:
    if target == "simavr" and (why := simavr_missing()):
        pytest.skip(f"simavr variant skipped ({why}); the host build of the firmware runs instead")
    return BridgeFirmware(target, chip_args=chip_args).start()  # type: ignore[arg-type]


@pytest.fixture(params=["simavr", "host"])
def bridge(request: pytest.FixtureRequest) -> Iterator[BridgeFirmware]:
    fw = _start(request.param)
    yield fw
    fw.stop()


def _open(port: str, timeout_s: float = 2.0, retries: int = 3) -> SerialLink:
    events: list[Packet] = []
    link = SerialLink(port, timeout_s=timeout_s, retries=retries, on_event=events.append).open()
    link.events = events  # type: ignore[attr-defined]
    return link


@pytest.fixture
def link(bridge: BridgeFirmware) -> Iterator[SerialLink]:
    lk = _open(bridge.port)
    hello(lk)  # the chip behind the board answers (the emulator takes a moment to start)
    yield lk
    lk.close()


def hello(link: SerialLink, wait_s: float = 20.0) -> P.Hello:
    deadline = time.monotonic() + wait_s
    while True:
        h = P.parse_hello(link.request(P.Msg.HELLO, bytes([P.PROTO_VERSION])))
        if h.chip != P.ChipModelId.NONE or time.monotonic() > deadline:
            return h
        time.sleep(0.1)


def status(link: SerialLink) -> P.Status:
    return P.parse_status(link.request(P.Msg.STATUS))


def now_us(link: SerialLink) -> int:
    return P.parse_time(P.Msg.PING, link.request(P.Msg.PING))


def send_events(
    link: SerialLink, t0: int, dt: list[int], addr: list[int], syn: int = 0
) -> P.Accepted:
    payload = P.events_payload(t0, np.array(dt), np.array(addr), np.full(len(dt), syn))
    return P.parse_accepted(link.request(P.Msg.EVENTS_IN, payload))


def send_train(link: SerialLink, t: np.ndarray, addr: list[int], syn: int = 0) -> None:
    """Events at board times ``t`` in frames of 6 (a frame's offsets are u16 µs)."""
    for i in range(0, len(t), 6):
        part = t[i : i + 6]
        send_events(link, int(part[0]), list(part - part[0]), addr[i : i + 6], syn)


def test_handshake_names_the_chip_and_the_board_limits(
    bridge: BridgeFirmware, link: SerialLink
) -> None:
    h = hello(link)
    assert h.proto_version == P.PROTO_VERSION and h.fw_version == (1, 0, 0)
    assert (h.chip, h.n_cores, h.neurons_per_core, h.slots) == (P.ChipModelId.DYNAPSE, 4, 256, 64)
    assert (h.n_syn, h.max_weight, h.n_bias) == (4, 15, BIAS_SLOTS)
    assert (h.in_per_frame, h.out_per_frame, h.syn_per_frame) == (23, 28, 28)
    # the MCU holds a small FIFO, the host build a deep one
    assert (h.in_fifo, h.out_fifo) == ((48, 32) if bridge.target == "simavr" else (4096, 4096))
    with pytest.raises(P.ReplyError, match="BAD_VERSION"):
        P.parse_hello(link.request(P.Msg.HELLO, bytes([9])))


def test_the_chip_reads_back_what_was_written_and_row_crcs_agree(link: SerialLink) -> None:
    codes = np.array([[7, 255], [0, 1], [3, 128]], np.uint8)
    assert (
        P.parse_count(
            P.Msg.WRITE_BIASES,
            link.request(P.Msg.WRITE_BIASES, P.write_biases_payload(2, 12, codes)),
        )
        == 3
    )
    core, first, got = P.parse_biases(
        link.request(P.Msg.READ_BIASES, P.read_biases_payload(2, 11, 4))
    )
    assert (core, first) == (2, 11) and got.tolist() == [[0, 0], *codes.tolist()]
    row = np.zeros(64, SYN_DTYPE)
    row[30:33] = [(1023, 3, 15), (0, 0, 1), (300, 2, 7)]
    for first in (0, 28, 56):
        link.request(
            P.Msg.WRITE_SYNAPSES, P.write_synapses_payload(517, first, row[first : first + 28])
        )
    target, first, back = P.parse_synapses(
        link.request(P.Msg.READ_SYNAPSES, P.read_synapses_payload(517, 28, 8))
    )
    assert (target, first) == (517, 28) and np.array_equal(back, row[28:36])
    first, crcs = P.parse_row_crc(link.request(P.Msg.ROW_CRC, P.row_crc_payload(516, 3)))
    empty = row_crc(np.zeros(64, SYN_DTYPE))
    assert first == 516 and crcs.tolist() == [empty, row_crc(row), empty]


def _syn(*entries: tuple[int, int, int]) -> np.ndarray:
    return np.array(list(entries), SYN_DTYPE)


#: frames the board must refuse whole: (what is wrong, message, payload, detail)
IMPOSSIBLE = [
    ("coarse 8", P.Msg.WRITE_BIASES, P.write_biases_payload(0, 0, np.array([[1, 1], [8, 0]])), 2),
    ("core 4", P.Msg.WRITE_BIASES, P.write_biases_payload(4, 0, np.array([[1, 1]])), 0),
    ("past the last bias", P.Msg.WRITE_BIASES,
     P.write_biases_payload(0, BIAS_SLOTS - 1, np.array([[1, 1]] * 2)), 0),
    ("weight 16", P.Msg.WRITE_SYNAPSES,
     P.write_synapses_payload(3, 0, _syn((1, 0, 1), (2, 0, 16))), 2),
    ("synapse type 4", P.Msg.WRITE_SYNAPSES, P.write_synapses_payload(3, 0, _syn((1, 4, 1))), 1),
    ("source 1024", P.Msg.WRITE_SYNAPSES, P.write_synapses_payload(3, 0, _syn((1024, 0, 1))), 1),
    ("slot 64", P.Msg.WRITE_SYNAPSES, P.write_synapses_payload(3, 63, np.zeros(2, SYN_DTYPE)), 0),
    ("target 1024", P.Msg.WRITE_SYNAPSES,
     P.write_synapses_payload(1024, 0, np.zeros(1, SYN_DTYPE)), 0),
]  # fmt: skip


def test_an_impossible_configuration_is_refused_before_the_chip_sees_any_of_it(
    link: SerialLink,
) -> None:
    for what, msg, payload, detail in IMPOSSIBLE:
        with pytest.raises(P.ReplyError, match="OUT_OF_RANGE") as e:
            P.parse_count(msg, link.request(msg, payload))
        assert e.value.detail == detail, what
        _, _, biases = P.parse_biases(
            link.request(P.Msg.READ_BIASES, P.read_biases_payload(0, 0, BIAS_SLOTS))
        )
        _, _, slots = P.parse_synapses(
            link.request(P.Msg.READ_SYNAPSES, P.read_synapses_payload(3, 0, 2))
        )
        # nothing of the frame was written, not even its valid entries
        assert not biases.any() and not slots["weight"].any(), what


def test_input_events_out_of_order_or_off_the_chip_are_refused_whole(link: SerialLink) -> None:
    t = now_us(link) + 500_000
    with pytest.raises(P.ReplyError, match="OUT_OF_ORDER") as e:
        send_events(link, t, [0, 10, 5], [1, 2, 3])
    assert e.value.detail == 3
    with pytest.raises(P.ReplyError, match="OUT_OF_RANGE"):
        send_events(link, t, [0, 10], [1, 4 * 256])
    assert send_events(link, t, [0], [1]).accepted == 1
    with pytest.raises(P.ReplyError, match="OUT_OF_ORDER"):  # before the one queued
        send_events(link, t - 1, [0], [1])
    assert status(link).in_queued == 1


def test_a_full_input_fifo_drops_the_rest_and_counts_them(
    bridge: BridgeFirmware, link: SerialLink
) -> None:
    cap = hello(link).in_fifo
    t = now_us(link) + 3_000_000  # far ahead: nothing plays out meanwhile
    queued = 0
    while queued < cap + 30:
        acc = send_events(link, t, list(range(0, 23 * 5, 5)), [7] * 23)
        queued += 23
        t += 200
    st = status(link)
    assert st.in_queued == cap and st.in_free == 0 and acc.free == 0
    assert st.in_overflow == queued - cap  # every event that did not fit, counted
    # CLEAR empties the queue (the neurons reset, the tables stay)
    P.parse_time(P.Msg.CLEAR, link.request(P.Msg.CLEAR))
    assert status(link).in_queued == 0


def test_corrupted_and_truncated_frames_are_counted_and_skipped(bridge: BridgeFirmware) -> None:
    # a truncated frame (its tail cut off before the delimiter) and a torn one
    direct = _open(bridge.port)
    hello(direct)
    bad0 = status(direct).frames_bad
    frame = encode_packet(P.Msg.STATUS, 200)
    direct._ser.write(frame[:-3] + b"\x00" + frame[:2] + b"\x00")
    time.sleep(0.2)
    assert status(direct).frames_bad == bad0 + 2
    direct.close()
    relay = FaultyRelay(bridge.port, seed=5, corrupt_to_device=0.2, garbage_to_device=0.1).start()
    try:
        link = _open(relay.port, timeout_s=0.3)
        hello(link)
        # a resend costs a timeout: keep the watchdog out of this test, schedule ahead
        link.request(P.Msg.SET_WATCHDOG, P.watchdog_payload(5000))
        sent = 0
        t = now_us(link) + 2_000_000
        for _ in range(12):  # 12 batches of 4 events, 10 ms apart: each delivered once
            send_events(link, t, [0, 2500, 5000, 7500], [1, 2, 3, 4])
            sent += 4
            t += 10_000
        deadline = time.monotonic() + 8
        while status(link).in_total < sent and time.monotonic() < deadline:
            time.sleep(0.05)
        st = status(link)
        damaged = relay.to_device.damaged
        assert damaged > 0, "the relay should have damaged some frames with this seed"
        assert st.frames_bad == bad0 + 2 + damaged  # every damaged frame, and both torn ones
        assert st.in_total == sent and st.in_overflow == 0  # retried frames acted on once
        print(
            f"[{bridge.target}] 2 torn + {damaged} damaged frames counted, {link.resends} resends"
        )
        link.close()
    finally:
        relay.close()


def test_inputs_stop_within_the_watchdog_time_when_the_host_goes_quiet(
    bridge: BridgeFirmware,
) -> None:
    """The last valid frame is the last edge of the activity LED (MCU clock in simavr);
    queued inputs due after it plus the watchdog time never reach the chip."""
    link = _open(bridge.port, timeout_s=3.0)  # long: a retry would be a valid frame too
    hello(link)
    wd_ms = 100
    link.request(P.Msg.SET_WATCHDOG, P.watchdog_payload(wd_ms))
    trips0 = status(link).wd_trips  # (a chip starting up may have held a HELLO that long)
    n = 46  # 10 ms apart: 460 ms of input, all queued before the host goes quiet
    # the first falls due once the 8 frames are out (~100 ms at 38400 baud in simavr)
    t = now_us(link) + (150_000 if bridge.target == "simavr" else 20_000)
    due = t + 10_000 * np.arange(n)
    send_train(link, due, [9] * n)
    t_last_ns = bridge.activity[-1][0]
    time.sleep(1.0)  # silence: no frame at all
    st = status(link)  # the host is back (this frame is valid again)
    assert st.wd_trips == trips0 + 1 and st.watchdog_tripped
    assert st.in_flushed > 0 and st.in_total + st.in_flushed == n
    cutoff_us = t_last_ns / 1000 + wd_ms * 1000
    # due by then (board clock; the activity LED's is the harness's, ~2 ms apart in simavr)
    expect = sum(1 for d in due if d <= cutoff_us)
    # the host build's ticks follow the OS scheduler: a process woken late checks the
    # watchdog before it hands out what fell due meanwhile (events are 10 ms apart)
    slack = 1 if bridge.target == "simavr" else 3
    assert abs(st.in_total - expect) <= slack and 0 < st.in_total < n
    if bridge.target == "simavr":  # exact, on the emulated MCU clock
        last_in = max(e[0] for e in bridge.chip_in) / 1000
        assert last_in <= cutoff_us + 1_000  # the tick's ms and the SPI transfer
        assert len(bridge.chip_in) == st.in_total
    link.close()


def test_a_low_rate_stream_comes_back_with_device_timestamps_in_simavr() -> None:
    """simavr's chip spikes 1 ms after each input: the EVT_SPIKES stamps show it exactly."""
    fw = _start("simavr")
    try:
        link = _open(fw.port)
        hello(link)
        t = now_us(link) + 150_000
        dt = list(range(0, 200_000, 10_000))  # 20 events, 100 Hz
        addr = [(k % 4) * 256 + k for k in range(20)]
        send_train(link, t + np.array(dt), addr, syn=2)
        deadline = time.monotonic() + 10
        while sum(len(P.parse_spikes(e.payload).t_us) for e in link.events) < 20:
            assert time.monotonic() < deadline, "spikes did not come back"
            now_us(link)  # keep the watchdog fed
            time.sleep(0.05)
        t_out = np.concatenate([P.parse_spikes(e.payload).t_us for e in link.events])
        a_out = np.concatenate([P.parse_spikes(e.payload).addr for e in link.events])
        assert a_out.tolist() == addr
        assert (t_out - (t + np.array(dt))).tolist() == [1000] * 20
        # the chip got each input on time on the MCU clock: the harness's clock runs from
        # reset, the board's from its timer's start (~2 ms of start-up later); beyond that
        # constant, an input is late by at most the tick it waits for and its SPI bytes
        late_us = np.array([e[0] / 1000 for e in fw.chip_in]) - (t + np.array(dt))
        assert 0 <= late_us.min() <= 3_000 and np.ptp(late_us) <= 1_100
        assert [(c, n, s) for _, c, n, s in fw.chip_in] == [(a // 256, a % 256, 2) for a in addr]
        st = status(link)
        assert (st.in_total, st.out_total, st.in_underflow, st.out_overflow) == (20, 20, 0, 0)
        link.close()
    finally:
        fw.stop()


def test_damaged_spike_frames_are_counted_and_the_rest_decode_in_simavr() -> None:
    """simavr's chip gives one known spike per input: each frame that arrives decodes to
    it, each damaged one is counted by the host's link and missing from the sequence."""
    fw = _start("simavr")
    relay = FaultyRelay(fw.port, seed=11, corrupt_to_host=0.2).start()
    try:
        # a damaged spike frame looks like a damaged reply: the link resends (answered
        # from the board's cache), so allow more resends than a quiet link needs
        link = _open(relay.port, timeout_s=1.0, retries=10)
        hello(link)
        t = now_us(link) + 200_000
        send_train(link, t + 10_000 * np.arange(23), list(range(23)))
        for _ in range(30):  # 1.5 s, the watchdog fed
            now_us(link)
            time.sleep(0.05)
        # 10 ms apart and flushed after 2 ms: one spike a frame, frame k carries neuron k
        frames = [e for e in link.events if e.type == P.Msg.EVT_SPIKES]
        for e in frames:
            assert P.parse_spikes(e.payload).addr.tolist() == [e.seq]
        lost = 23 - len(frames)
        assert link.garbage == relay.to_host.damaged and 0 < lost <= relay.to_host.damaged
        st = status(link)
        assert st.out_total == 23
        link.close()
    finally:
        relay.close()
        fw.stop()
