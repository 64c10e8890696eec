"""``physres.wire`` and ``firmware/common`` know the link, not any board.

The neuromorphic bridge will reuse both; a bucket name or message leaking into
either would make that reuse a fork. The request/reply convention itself
(reply = request | 0x80, events from 0xC0, status byte first) is checked here
with a made-up board's message set.
"""

from __future__ import annotations

import ast
import re
import struct
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import pytest

import physres.wire
from physres.errors import DeviceError
from physres.wire import REPLY_FLAG, ReplyError, expect_ok, is_event
from physres.wire.firmware_runner import firmware_dir
from physres.wire.messages import LinkStatus, ReplyParsers, status_codes, status_flag

BOARD_WORDS = re.compile(r"bucket|motor|duty|strobe|pwm", re.I)


def _code_words(tree: ast.AST) -> set[str]:
    """Identifiers, attributes, arguments and string constants, docstrings left out."""
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    words: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, ast.arg):
            words.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            words.add(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docs:
                words.add(node.value)
        elif isinstance(node, ast.ImportFrom) and node.module:
            words.add(node.module)
    return words


def test_wire_code_names_no_board() -> None:
    folder = Path(physres.wire.__file__).parent
    leaks = {
        f"{py.name}: {word!r}"
        for py in folder.glob("*.py")
        for word in _code_words(ast.parse(py.read_text()))
        if BOARD_WORDS.search(word) or word.startswith(("physres.drivers", "physres.sim"))
    }
    assert not leaks, "board-specific names in physres.wire:\n" + "\n".join(sorted(leaks))


def test_firmware_common_includes_only_itself_and_libc() -> None:
    common = firmware_dir() / "common"
    sources = sorted(common.glob("*.[ch]"))
    assert {p.name for p in sources} >= {"cobs.c", "crc16.c", "watchdog.c", "txq.c", "reply.c"}
    for src in sources:
        text = src.read_text()
        for inc in re.findall(r'#include\s+"([^"]+)"', text):
            assert (common / inc).is_file() and "/" not in inc, f"{src.name} includes {inc}"
        assert not BOARD_WORDS.search(text), f"{src.name} mentions a board"


def test_the_target_mains_know_a_board_only_by_its_board_h() -> None:
    # common/avr and common/host hold every board's main: they include common headers,
    # the board's board.h found on the -I path the Makefile gives, and simavr's header
    # that names the MCU in the ELF; nothing else
    common = firmware_dir() / "common"
    mains = sorted((common / "avr").glob("*.[ch]")) + sorted((common / "host").glob("*.[ch]"))
    assert {p.relative_to(common).as_posix() for p in mains} >= {"avr/main.c", "host/main.c"}
    for src in mains:
        text = src.read_text()
        for inc in re.findall(r'#include\s+"([^"]+)"', text):
            if inc in ("board.h", "avr_mcu_section.h"):
                continue
            found = (src.parent / inc).resolve()
            assert found.is_file() and found.is_relative_to(common), f"{src} includes {inc}"
        assert not BOARD_WORDS.search(text), f"{src} mentions a board"


class _Codes(IntEnum):
    OK = 0
    BUSY = 7


class _Msg(IntEnum):
    FIRE = 0x11
    SET_WATCHDOG = 0x12


def test_reply_convention_with_another_boards_messages() -> None:
    assert REPLY_FLAG == 0x80 and is_event(0xC0) and is_event(0xFF)
    assert not is_event(_Msg.FIRE | REPLY_FLAG)
    assert expect_ok(_Msg.FIRE, b"\x00\x01\x02", "bridge", _Codes) == b"\x01\x02"
    with pytest.raises(ReplyError, match=r"bridge: FIRE refused by the board: BUSY \(detail 3\)"):
        expect_ok(_Msg.FIRE, b"\x07\x03", "bridge", _Codes)
    with pytest.raises(ReplyError, match="unknown error 9"):
        expect_ok(_Msg.FIRE, b"\x09", "bridge", _Codes)
    with pytest.raises(DeviceError, match="empty FIRE reply"):
        expect_ok(_Msg.FIRE, b"", "bridge", _Codes)


def test_the_common_replies_are_read_with_any_boards_codes() -> None:
    replies = ReplyParsers(_Msg, _Codes, "bridge")
    assert replies.parse_time(_Msg.FIRE, b"\x00" + struct.pack("<I", 2**32 - 1)) == 2**32 - 1
    assert replies.parse_watchdog(b"\x00\x2c\x01") == 300
    with pytest.raises(ReplyError, match=r"^board 3: SET_WATCHDOG refused by the board: BUSY"):
        replies.parse_watchdog(b"\x07\x00", "board 3")
    with pytest.raises(DeviceError, match=r"^bridge: FIRE reply has 2 bytes after the status"):
        replies.parse_time(_Msg.FIRE, b"\x00\x01\x02")


@dataclass(frozen=True)
class _Status(LinkStatus):
    queue: int
    busy = status_flag(0x04, "the made-up board is busy")


def test_status_flags_read_the_flag_byte_and_cannot_be_set() -> None:
    st = _Status(1, 2, 3, 4, 0x05, 9)
    assert st.watchdog_tripped and st.busy and st.queue == 9
    assert not _Status(1, 2, 3, 4, 0x02, 0).watchdog_tripped
    assert "busy" not in _Status.__dataclass_fields__  # a view of flags, not a field
    with pytest.raises(AttributeError):
        st.busy = False  # type: ignore[misc]


def test_a_boards_codes_follow_the_common_ones_and_may_not_redefine_them() -> None:
    codes = status_codes("made.up", BUSY=7)
    assert [(c.name, c.value) for c in codes] == [
        ("OK", 0), ("UNKNOWN_TYPE", 1), ("BAD_LENGTH", 2), ("OUT_OF_RANGE", 3), ("BUSY", 7)
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"made.up: status codes \['JAMMED'\] clash"):
        status_codes("made.up", JAMMED=2)
    with pytest.raises(ValueError, match=r"\['OK'\] clash"):
        status_codes("made.up", OK=9)
