"""The host's protocol tables and codecs agree with the firmware's header.

``firmware/bucket/proto.h`` is the single source of the numbers; this test
parses it so a change on one side without the other fails here, not on a
bench at 2 a.m.
"""

from __future__ import annotations

import re
import struct

import pytest

from physres.drivers.bucket import protocol as P
from physres.errors import DeviceError
from physres.wire.firmware_runner import firmware_dir


def _defines() -> dict[str, int]:
    text = (firmware_dir() / "bucket" / "proto.h").read_text()
    out = {}
    for name, value in re.findall(r"^#define\s+(\w+)\s+(0x[0-9A-Fa-f]+|\d+)\s*$", text, re.M):
        out[name] = int(value, 0)
    return out


def test_message_ids_and_error_codes_match_proto_h() -> None:
    c = _defines()
    for msg in P.Msg:
        key = msg.name if msg.name.startswith("EVT_") else f"MSG_{msg.name}"
        assert c[key] == msg.value, key
    for code in P.ErrorCode:
        assert c[f"ERR_{code.name}"] == code.value, code.name
    assert c["PROTO_VERSION"] == P.PROTO_VERSION
    assert c["REPLY_FLAG"] == P.REPLY_FLAG
    assert c["DUTY_FULL_SCALE"] == P.DUTY_FULL_SCALE
    assert c["FLAG_WATCHDOG_TRIPPED"] == P.FLAG_WATCHDOG_TRIPPED
    assert c["FLAG_STOPPED"] == P.FLAG_STOPPED
    # the largest reply (HELLO, STATUS) must fit the firmware's payload buffer
    assert 19 + 2 * c["N_MOTORS"] <= c["MAX_PAYLOAD"]
    assert c["STATUS_FIXED"] + 2 * c["N_MOTORS"] <= c["MAX_PAYLOAD"]
    assert c["STATUS_FIXED"] == 1 + struct.calcsize(P._STATUS_FIXED)


def test_status_reply_decodes_field_by_field() -> None:
    body = struct.pack("<BIIIHBBHHH4H", 0, 123456, 1000, 7, 2, 1, 3, 99, 250, 42, 1, 2, 3, 60000)
    st = P.parse_status(body)
    assert (st.uptime_us, st.frames_ok, st.frames_bad, st.wd_trips) == (123456, 1000, 7, 2)
    assert st.watchdog_tripped and not st.stopped
    assert (st.queue_len, st.strobe_seq, st.watchdog_ms, st.tx_dropped) == (3, 99, 250, 42)
    assert st.duty == (1, 2, 3, 60000)


def test_hello_reply_decodes_limits() -> None:
    body = bytes([0, 1, 1, 2, 3, 2, 8]) + struct.pack("<6H2H", 65535, 2048, 1000, 250, 50, 5000,
                                                      60000, 30000)
    h = P.parse_hello(body)
    assert h.fw_version_str == "1.2.3" and h.n_motors == 2 and h.duty_max == (60000, 30000)
    assert (h.watchdog_ms, h.watchdog_min_ms, h.watchdog_max_ms) == (250, 50, 5000)


def test_error_reply_raises_with_the_code_name() -> None:
    with pytest.raises(P.ReplyError, match="HELLO refused by the board: BAD_VERSION") as e:
        P.parse_hello(b"\x05\x01", "board on /dev/pts/9")
    assert e.value.code == P.ErrorCode.BAD_VERSION and e.value.detail == 1
    assert "/dev/pts/9" in str(e.value)


def test_truncated_replies_are_device_errors() -> None:
    with pytest.raises(DeviceError, match="expected 6"):
        P.parse_applied(b"\x00\x01\x02")
    with pytest.raises(DeviceError, match="malformed"):
        P.parse_strobe(b"\x00\x01")


def test_request_payloads_are_little_endian() -> None:
    assert P.duties_payload([1, 0x0203]) == b"\x01\x00\x03\x02"
    assert P.schedule_payload(0x01020304, [5]) == b"\x04\x03\x02\x01\x05\x00"
    assert P.schedule_payload(2**32 + 7, [0])[:4] == b"\x07\x00\x00\x00"  # wraps like the board
