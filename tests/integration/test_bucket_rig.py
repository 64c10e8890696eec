"""The whole rig as one device: firmware behind a pty drives motors, OpenCV reads the camera,
and every frame learns which duty vector was in effect from the firmware's strobes."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from physres import registry
from physres.drivers.bucket.firmware import BucketFirmware
from physres.drivers.bucket.rig import BucketRig
from physres.errors import SafetyError


def write_video(path: Path, n: int = 75, fps: float = 25.0) -> Path:
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48), False)
    for i in range(n):
        vw.write(np.full((48, 64), (i * 3) % 256, np.uint8))
    vw.release()
    return path


def test_frames_are_aligned_to_applied_inputs_by_strobe(tmp_path: Path) -> None:
    video = write_video(tmp_path / "tank.avi")
    with BucketFirmware("host") as fw:
        rig = registry.create(
            "drivers.bucket",
            "bucket",
            {
                "motors": {"port": fw.port, "n_motors": 2},
                "camera": {
                    "source": str(video),
                    "fps": 25.0,
                    "frame_shape": [48, 64],
                    "realtime": True,
                },
            },
        )
        assert isinstance(rig, BucketRig)
        frames, inputs, strobes = [], [], []
        with rig:
            with pytest.raises(SafetyError, match="above the limit"):
                rig.apply({"duty": [2.0, 0.0]})  # refused before a byte reaches the firmware
            for k in range(20):
                rig.apply({"duty": [0.02 * k, 0.3]})
                time.sleep(0.04)
                out = rig.read()
                frames.append(out["frame"].data)
                inputs.append(out["frame_input"].data)
                strobes.append(out["strobe"].data)
        frame_input = np.concatenate(inputs)
        seqs = np.concatenate(strobes)["seq"]
    assert len(seqs) == 20, "one strobe per applied vector"
    assert len(np.concatenate(frames)) == len(frame_input) > 10
    assert (np.diff(frame_input) >= 0).all(), "frames never go back to an older input"
    assert set(frame_input[frame_input >= 0]) <= set(seqs.tolist())
    assert frame_input.max() >= seqs[len(seqs) // 2], "later frames see later inputs"
