"""Choosing the firmware target: simavr when the tools exist, else the host build.

The fallback is never silent: ``simavr_missing()`` returns the reason, which the
integration tests put into the skip message of their simavr variant.
"""

from __future__ import annotations

import pytest

from physres.wire.firmware_runner import FirmwareProcess, firmware_dir, simavr_missing


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
        FirmwareProcess("arduino")  # type: ignore[arg-type]
