"""The emulator as a separate process, as a bench script or CI job would run it.

``python -m physres.sim.servobus --link PATH`` gives the pty a stable name; the
driver's config says ``port: PATH`` and nothing else differs from real hardware.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from physres.drivers.arm import SO101


def test_the_driver_moves_an_arm_emulated_in_another_process(tmp_path: Path) -> None:
    link = tmp_path / "so101"
    proc = subprocess.Popen(
        [sys.executable, "-m", "physres.sim.servobus", "--link", str(link)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not link.is_symlink() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert os.readlink(link).startswith("/dev/pts/")
        with SO101(port=str(link), timeout_s=0.1) as arm:
            target = np.array([0.15, -0.05, 0.06, -0.4])
            end = time.monotonic() + 3.0
            while time.monotonic() < end:
                arm.apply({"ee": target})
                ee = arm.read()["ee"].data[0]
                if np.abs(ee[:3] - target[:3]).max() < 1.5e-3:
                    break
                time.sleep(0.05)
            np.testing.assert_allclose(ee[:3], target[:3], atol=1.5e-3)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert not link.exists() and not link.is_symlink()  # the link is cleaned up on SIGTERM
    assert "servobus: stopped after" in out and " 0 bad checksums" in out
