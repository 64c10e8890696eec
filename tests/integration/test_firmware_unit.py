"""The firmware's own C unit tests (``make -C firmware test``), run from pytest.

They drive ``bucket/board.c`` with a fake HAL and a fake microsecond clock, so
they pin down what real-time tests can only bracket: the watchdog trips on
exactly the tick ``timeout`` ms after the last valid frame, the slew limiter
takes exactly 30 ticks to full duty, a resent frame is answered but not applied
twice, a scheduled vector fires on its tick.
"""

from __future__ import annotations

import re
import subprocess

from physres.wire.firmware_runner import firmware_dir


def test_board_logic_unit_tests_pass() -> None:
    proc = subprocess.run(
        ["make", "-s", "-C", str(firmware_dir()), "test"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"all \d+ checks passed", proc.stdout), proc.stdout
