"""Hostile config files: each refused in one line naming file and line, fast, in bounded memory.

Before these bounds a billion-laughs file ran 22 s and took 3.3 GB before
MemoryError; recursive aliases and deep nesting raised RecursionError; binary
files gave UnicodeDecodeError tracebacks; duplicate keys were accepted.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest

from physres.config import MAX_CONFIG_BYTES, MAX_DEPTH, load_config, parse_config
from physres.errors import ConfigError

#: nine levels of nine aliases: 9**9 (387 million) strings once expanded
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
#: 300,000 plain values in one flow list (600 KB, under the size bound)
MANY = "x: [" + "1, " * 300_000 + "]\n"

HOSTILE = {
    "billion-laughs": (LAUGHS, 4, "expands to more than 5,000 values"),
    "many-values": (MANY, 1, "expands to more than 5,000 values"),
    "recursive-alias": ("name: x\nloop: &a [1, *a]\n", 2, "recursive alias"),
    "recursive-mapping-alias": ("loop: &a\n  self: *a\n", 2, "recursive alias"),
    "deep-flow": ("x: " + "[" * 5000 + "]" * 5000 + "\n", 1, f"deeper than {MAX_DEPTH} levels"),
    "deep-block": ("".join(" " * i + "k:\n" for i in range(1000)), 32, "deeper than"),
    "duplicate-key": ("name: a\nseed: 1\nname: b\n", 3, "duplicate key 'name' (first at line 1)"),
    "duplicate-nested-key": (
        "devices:\n  esn:\n    kind: sim.esn\n    params: {n_units: 3, n_units: 4}\n",
        4,
        "duplicate key 'n_units'",
    ),
    "nul-byte": ("name: a\x00b\n", 1, "not a text config"),
    "huge-int": ("seed: " + "9" * 5000 + "\n", 1, "cannot be read as int"),
    "impossible-date": ("name: 2026-13-45\n", 1, "cannot be read as timestamp: month must be"),
    "python-tag": ("a: !!python/object/apply:os.system [ls]\n", 1, "not valid YAML"),
    "two-documents": ("a: 1\n---\nb: 2\n", 2, "single document"),
    "unclosed": ("devices: [unclosed\n", 2, "not valid YAML"),
    "long-bad-value": (
        "devices:\n  esn:\n    kind: sim.esn\n    params:\n      n_units: " + "z" * 500_000 + "\n",
        5,
        "devices.esn.params.n_units: Input should be a valid integer",
    ),
}


def _measure(text: str) -> tuple[str, float, int]:
    """(message, seconds of a warm call, peak bytes allocated while tracing)."""
    with pytest.raises(ConfigError) as e:
        parse_config(text, "hostile.yaml")  # warm: a device kind's module imports once
    t0 = time.perf_counter()
    with pytest.raises(ConfigError):
        parse_config(text, "hostile.yaml")
    seconds = time.perf_counter() - t0
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError):
            parse_config(text, "hostile.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return str(e.value), seconds, peak


@pytest.mark.parametrize(("text", "line", "message"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_yaml_is_refused_fast_in_one_line_naming_file_and_line(
    text: str, line: int, message: str
) -> None:
    msg, seconds, peak = _measure(text)
    assert msg.startswith(f"hostile.yaml:{line}: "), msg[:300]
    assert message in msg
    assert "\n" not in msg and len(msg) < 400, "one readable line, however big the value"
    assert seconds < 1.0, f"{seconds:.2f} s"  # about 0.06 s at worst on an idle machine
    assert peak < 3 * len(text) + 16_000_000, f"{peak / 1e6:.1f} MB"


def test_values_in_messages_are_cut_to_a_readable_length() -> None:
    text = "devices:\n  esn:\n    kind: sim." + "z" * 200_000 + "\n"
    with pytest.raises(ConfigError) as e:
        parse_config(text, "k.yaml")
    msg = str(e.value)
    assert msg.startswith("k.yaml:3: devices.esn.kind: unknown device kind 'sim.zzz")
    assert "..." in msg and len(msg) < 400 and "\n" not in msg


def test_several_field_errors_share_one_line() -> None:
    text = "name: 'bad name'\nseed: x\ndrive: {chunk: 0, via: car, timeout_s: -1}\ndevices: {}\n"
    with pytest.raises(ConfigError) as e:
        parse_config(text, "m.yaml")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("m.yaml:1: name:") and "more" in msg


def test_merge_keys_and_plain_aliases_still_work() -> None:
    text = (
        "base: &p {n_units: 30, spectral_radius: 0.9}\n"
        "devices:\n"
        "  esn:\n    kind: sim.esn\n    params: {<<: *p, seed: 2}\n"
        "  twin:\n    kind: mock.esn\n    params: *p\n"
    )
    with pytest.raises(ConfigError, match=r"m.yaml:1: base: Extra inputs"):
        parse_config(text, "m.yaml")  # the anchor's holder is not a RunConfig key
    cfg = parse_config(text.split("\n", 1)[1].replace("*p", "{n_units: 30}"), "m.yaml")
    assert cfg.devices["twin"].params == {"n_units": 30}
    merged = parse_config(
        "devices:\n  esn:\n    kind: sim.esn\n    params: &p {n_units: 30}\n"
        "  twin:\n    kind: mock.esn\n    params: {<<: *p, seed: 2}\n",
        "m.yaml",
    )
    assert merged.devices["twin"].params == {"n_units": 30, "seed": 2}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            r"x.bin:1: not a text config: byte 0x89 at offset 0",
        ),
        (b"\x89MCAP0\r\n\x01\x02", r"x.bin:1: not a text config: byte 0x89"),
        (b"name: ok\nseed: \xff\xfe\n", r"x.bin:2: not a text config: byte 0xff at offset 15"),
        (b"\xef\xbb\xbfname: bom\ndevices: {e: {kind: mock.esn}}\n", None),
    ],
    ids=["png", "mcap", "latin1", "utf8-bom-is-fine"],
)
def test_binary_files_are_refused_by_name_and_line(
    tmp_path: Path, payload: bytes, message: str | None
) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(payload)
    if message is None:
        assert load_config(path).name == "bom"
        return
    with pytest.raises(ConfigError, match=message) as e:
        load_config(path)
    assert "\n" not in str(e.value)


def test_oversized_files_are_refused_before_they_are_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as f:
        f.write(b"name: x\n")
        f.seek(50 * MAX_CONFIG_BYTES)  # sparse: 50 MiB that cost nothing to write
        f.write(b"\n")
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=r"big.yaml: larger than the 1,048,576 bytes"):
            load_config(path)
        assert tracemalloc.get_traced_memory()[1] < 3 * MAX_CONFIG_BYTES
    finally:
        tracemalloc.stop()
    with pytest.raises(ConfigError, match="a config is at most 1,048,576"):
        parse_config("name: " + "x" * MAX_CONFIG_BYTES, "big.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"^e.yaml: expected a mapping at the top .*got an empty document$"),
        ("# just a comment\n", r"^e.yaml: expected a mapping .*got an empty document$"),
        ("\n\n- a\n- b\n", r"^e.yaml:3: expected a mapping .*got a list$"),
        ("name: x\n\tdevices: 1\n", r"^e.yaml:2: not valid YAML: .*tab character"),
    ],
    ids=["empty", "comment-only", "list", "tab"],
)
def test_documents_of_the_wrong_shape_say_so_in_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text, "e.yaml")


def test_a_directory_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"cannot read config {tmp_path}"):
        load_config(tmp_path)


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "run.yaml"
    os.mkfifo(fifo)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"run.yaml is a named pipe, not a regular file"):
        load_config(fifo)
    assert time.perf_counter() - t0 < 1.0
