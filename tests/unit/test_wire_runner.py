"""Choosing the firmware target: simavr when the tools exist, else the host build.

The fallback is never silent: ``simavr_missing()`` returns the reason, which the
integration tests put into the skip message of their simavr variant.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from physres.drivers.bucket.firmware import BucketFirmware, simavr_missing
from physres.errors import ConfigError
from physres.wire.firmware_runner import FirmwareSpec, firmware_dir


def test_forcing_the_host_build_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHYSRES_FIRMWARE_TARGET", "host")
    assert simavr_missing() == "disabled by PHYSRES_FIRMWARE_TARGET=host"


def test_missing_avr_toolchain_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHYSRES_FIRMWARE_TARGET", raising=False)
    monkeypatch.setattr("shutil.which", lambda name: None)
    reason = simavr_missing()
    assert reason is not None and "avr-gcc" in reason and "gcc-avr" in reason


def test_firmware_sources_are_found() -> None:
    fw = firmware_dir()
    assert (fw / "bucket" / "board.c").is_file() and (fw / "PROTOCOL.md").is_file()


def test_unknown_target_is_refused() -> None:
    with pytest.raises(ValueError, match="'simavr', 'host'"):
        BucketFirmware("arduino")  # type: ignore[arg-type]


def test_the_bucket_firmware_is_described_once() -> None:
    spec = FirmwareSpec.load("bucket")
    assert set(spec.targets) == {"host", "simavr"}
    assert spec.command("host", Path("/b"), "/l") == ["/b/bucket_host", "--link", "/l"]
    assert spec.parse("PWM 12 3 0.5") == ("PWM", {"t_ns": 12, "motor": 3, "duty": 0.5})
    assert spec.parse("EXIT signal 15") == ("EXIT", {"reason": "signal 15"})
    assert spec.parse("   ") is None
    for bad, why in [
        ("PWM 12 x 0.5", "invalid literal"),
        ("PWM 12 3", "expected 3"),
        ("BOOT 1", "unknown keyword 'BOOT'"),
        ("STROBE 1 1 1", "expected 2"),
    ]:
        with pytest.raises(ValueError, match=why):
            spec.parse(bad)


def test_a_bad_description_is_one_line_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Makefile").write_text("")
    (tmp_path / "board").mkdir()
    toml = tmp_path / "board" / "firmware.toml"
    monkeypatch.setenv("PHYSRES_FIRMWARE_DIR", str(tmp_path))
    toml.write_text("")
    with pytest.raises(ConfigError, match=r"no firmware 'nope' .*known: \['board'\]"):
        FirmwareSpec.load("nope")
    for text, why in [
        ("name = ", "not valid TOML"),
        ('name = "b"\n[lines]\nREADY = ["port:str"]\n', "missing or malformed key 'targets'"),
        (
            'name = "b"\n[targets.host]\nmake = []\nrun = []\nneeds = ["jtag"]\n'
            '[lines]\nREADY = ["port:str"]\n',
            "needs 'jtag' is not one of",
        ),
        (
            'name = "b"\n[targets.host]\nmake = []\nrun = []\n[lines]\nREADY = ["port:blob"]\n',
            "lines.READY field 'port:blob'",
        ),
    ]:
        toml.write_text(text)
        with pytest.raises(ConfigError, match=why) as e:
            FirmwareSpec.load("board")
        assert str(toml) in str(e.value) and "\n" not in str(e.value)


def test_unparsable_output_lines_are_counted_and_skipped() -> None:
    fw = BucketFirmware("host")
    for line in ["PWM 5 0 0.25\n", "PWM garbage\n", "\x00\x17\n", "STROBE 7 1\n"]:
        fw._parse_line(line)
    assert fw.pwm[0].duty == 0.25 and fw.strobes == [(7, 1)]
    assert fw.bad_lines == 2 and "unknown keyword" in fw.last_bad_line


def test_the_bridge_runs_its_chip_with_this_python_and_fills_its_own_placeholders() -> None:
    import dataclasses
    import sys

    spec = FirmwareSpec.load("neuro_bridge")
    cmd = spec.command("host", Path("/b"), "/l", {"baud": "38400"})
    assert cmd[:5] == ["/b/neuro_bridge_host", "--link", "/l", "--baud", "38400"]
    assert cmd[5:] == ["--", sys.executable, "-m", "physres.sim.neuromorphic.chip_bus"]
    assert spec.parse("CHIP 1000 5 7 0") == (
        "CHIP",
        {"t_us": 1000, "inputs": 5, "outputs": 7, "late": 0},
    )
    with pytest.raises(ConfigError, match=r"names \{baud\}, which nothing fills"):
        spec.command("host", Path("/b"), "/l")
    typo = dataclasses.replace(spec.targets["host"], run=("{build}/x", "{lnk}"))
    spec.targets["host"] = typo
    with pytest.raises(ConfigError, match=r"\{lnk\}.*known: \['baud', 'build', 'link'"):
        spec.command("host", Path("/b"), "/l", {"baud": "0"})
