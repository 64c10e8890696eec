"""The bridge driver's protocol tables agree with the firmware's header, and the chip
tables a configuration becomes hold exactly that configuration.

``firmware/neuro_bridge/proto.h`` is the single source of the numbers; this test
parses it so a change on one side without the other fails here.
"""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

from physres.drivers.neuromorphic import protocol as P
from physres.errors import ConfigError, DeviceError
from physres.neuro.config import BIAS_NAMES, ChipConfig
from physres.neuro.tables import (
    BIAS_SLOTS,
    INPUT_WEIGHT_SLOT,
    ChipTables,
    config_from_tables,
    row_crc,
    tables_from_config,
)
from physres.wire.firmware_runner import firmware_dir


def _defines(name: str) -> dict[str, int]:
    text = (firmware_dir() / "neuro_bridge" / name).read_text()
    found = re.findall(r"^#define\s+(\w+)\s+(0x[0-9A-Fa-f]+|\d+|'.')\s*$", text, re.M)
    return {k: ord(v[1]) if v.startswith("'") else int(v, 0) for k, v in found}


def test_message_ids_error_codes_and_limits_match_proto_h() -> None:
    c = _defines("proto.h")
    for msg in P.Msg:
        key = msg.name if msg.name.startswith("EVT_") else f"MSG_{msg.name}"
        assert c[key] == msg.value, key
    for code in P.ErrorCode:
        assert c[f"ERR_{code.name}"] == code.value, code.name
    for chip in P.ChipModelId:
        assert c[f"CHIP_{chip.name}"] == chip.value
    for name in (
        "PROTO_VERSION",
        "REPLY_FLAG",
        "MAX_PAYLOAD",
        "IN_PER_FRAME",
        "OUT_PER_FRAME",
        "SYN_PER_FRAME",
        "BIAS_PER_FRAME",
        "CRC_PER_FRAME",
        "COARSE_MAX",
        "NEURONS_PER_CORE_MAX",
        "FLAG_WATCHDOG_TRIPPED",
        "FLAG_CHIP_LOST",
    ):
        assert c[name] == getattr(P, name), name
    # the largest frames fit the payload the bridge builds its link with
    assert 4 + c["IN_PER_FRAME"] * c["IN_EVENT_BYTES"] <= c["MAX_PAYLOAD"]
    assert 6 + c["OUT_PER_FRAME"] * c["OUT_EVENT_BYTES"] <= c["MAX_PAYLOAD"]
    assert 1 + struct.calcsize(P._STATUS) <= c["MAX_PAYLOAD"]
    assert c["WEIGHT_EMPTY"] == 0


def test_the_chip_bus_records_are_the_ones_the_emulator_parses() -> None:
    from physres.sim.neuromorphic import chip_bus

    c = _defines("chip.h")
    lengths = {
        "CHIP_WRITE_BIAS": 4,
        "CHIP_READ_BIAS": 2,
        "CHIP_WRITE_SYN": 7,
        "CHIP_READ_SYN": 4,
        "CHIP_EVENT": 7,
        "CHIP_TIME": 4,
        "CHIP_RESET": 4,
        "CHIP_IDENTIFY": 0,
    }
    assert {bytes([c[k]]): n for k, n in lengths.items()} == chip_bus._LEN


def test_spike_frames_decode_and_refuse_a_torn_body() -> None:
    body = struct.pack("<IH", 0xFFFFFFF0, 7) + struct.pack("<HHHH", 0, 5, 0x20, 300)
    s = P.parse_spikes(body)
    # offsets past the u32 wrap stay on the board's (wrapping) clock
    assert s.t_us.tolist() == [0xFFFFFFF0, 0x10] and s.addr.tolist() == [5, 300]
    assert s.overflow16 == 7
    with pytest.raises(DeviceError, match="EVT_SPIKES payload of 9 bytes is malformed"):
        P.parse_spikes(body[:9])


def test_status_and_hello_replies_decode_field_by_field() -> None:
    fields = (123456, 10, 2, 1, 1, 250, 3, 5, 4091, 100, 7, 8, 9, 500, 11, 0, 12, 0)
    st = P.parse_status(bytes([0]) + struct.pack(P._STATUS, *fields))
    assert (st.in_overflow, st.in_underflow, st.in_flushed, st.out_overflow) == (7, 8, 9, 11)
    assert st.watchdog_tripped and not st.chip_lost and st.chip_errors == 12
    hello = struct.pack(
        P._HELLO,
        1,
        1,
        0,
        0,
        1000,
        250,
        20,
        5000,
        4096,
        4096,
        1,
        4,
        256,
        64,
        4,
        15,
        BIAS_SLOTS,
        23,
        28,
        28,
    )
    h = P.parse_hello(bytes([0]) + hello)
    assert h.chip is P.ChipModelId.DYNAPSE and h.slots == 64 and h.n_bias == BIAS_SLOTS
    with pytest.raises(DeviceError, match="unknown chip model 9"):
        P.parse_hello(bytes([0]) + hello[:16] + bytes([9]) + hello[17:])
    with pytest.raises(P.ReplyError, match="OUT_OF_ORDER"):
        P.parse_accepted(bytes([5, 3]))


def test_a_configuration_and_its_chip_memory_hold_the_same_network() -> None:
    cfg = ChipConfig(
        reservoir={"n_neurons": 300, "fan_in": 20, "seed": 3},
        connections=[{"source": 5, "target": 700, "syn": "nmda", "weight": 7}],
        inputs={"n_channels": 2, "n_neurons": 300},
        input_weight=5,
    )
    t = tables_from_config(cfg)
    assert t.biases.shape == (4, BIAS_SLOTS, 2)
    assert tuple(t.biases[2, BIAS_NAMES.index("thr")]) == cfg.core_biases()[2].thr
    assert tuple(t.biases[0, INPUT_WEIGHT_SLOT]) == (0, 5)
    assert t.rows[700, 0].tolist() == (5, 1, 7) and t.rows[700, 1]["weight"] == 0
    assert int((t.rows["weight"] > 0).sum()) == 300 * 20 + 1
    back = config_from_tables(t, cfg.model)
    a, b = cfg.connectivity(), back.connectivity()
    key = lambda c: sorted(zip(c.target, c.source, c.syn, c.weight))
    assert key(a) == key(b) and back.input_weight == 5
    assert np.array_equal(back.bias_codes(), cfg.bias_codes())


def test_chip_memory_no_configuration_can_hold_is_named() -> None:
    cfg = ChipConfig()
    t = tables_from_config(cfg)
    t.rows[12, 3] = (5, 1, 16)  # weight 16: dynapse has levels 1..15
    with pytest.raises(ConfigError, match="synapse of neuron 12 .*weight 16"):
        config_from_tables(t, cfg.model)


def test_a_row_crc_changes_with_any_slot() -> None:
    t = ChipTables.empty(ChipConfig().model)
    base = row_crc(t.rows[0])
    t.rows[0, 63] = (1, 0, 1)
    assert row_crc(t.rows[0]) != base and t.row_crcs()[1] == base


def test_the_driver_counts_lost_torn_and_dropped_spike_frames_and_keeps_the_rest() -> None:
    """What arrives in EVT_SPIKES frames: a gap in their sequence is frames lost, a body
    that does not parse is counted and skipped, the board's u16 drop count is unwrapped."""
    from physres.drivers.neuromorphic.bridge import NeuroBridge
    from physres.wire import Packet

    dev = NeuroBridge(config={"inputs": {"n_channels": 1, "n_neurons": 8}})

    def frame(seq: int, overflow: int, *events: tuple[int, int]) -> Packet:
        body = struct.pack("<IH", 5000, overflow)
        body += b"".join(struct.pack("<HH", dt, a) for dt, a in events)
        return Packet(P.Msg.EVT_SPIKES, seq, body)

    dev._on_event(frame(254, 65534, (0, 1), (10, 2)))
    dev._on_event(frame(1, 3, (0, 3)))  # 255 and 0 never came; 5 dropped on the board
    dev._on_event(Packet(P.Msg.EVT_SPIKES, 2, b"\x00\x01\x02"))  # torn body
    dev._on_event(frame(3, 3, (7, 4)))
    assert (dev.frames_lost, dev.out_overflow, dev.bad_spike_frames) == (2, 5, 1)
    assert np.concatenate(dev._spk_a).tolist() == [1, 2, 3, 4]
    assert np.concatenate(dev._spk_t).tolist() == [5000, 5010, 5000, 5007]


def test_the_board_clock_unwraps_across_its_71_minute_wrap_in_either_order() -> None:
    from physres.drivers.neuromorphic.bridge import _BoardClock

    c = _BoardClock()
    top = (1 << 32) - 100
    assert c.unwrap(top) == top
    assert c.unwrap(50) == (1 << 32) + 50  # after the wrap
    assert c.unwrap(top + 10) == top + 10  # a late stamp from before it stays before it
    assert c.unwrap(60) == (1 << 32) + 60
