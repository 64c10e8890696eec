"""Unplugging the motor board mid-run: the run stops cleanly, and its folder keeps the
recording up to that moment and says why it ended."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import cv2
import numpy as np

from physres.bus.record import read_recording
from physres.cli import main
from physres.drivers.bucket.firmware import BucketFirmware

CONFIG = """\
name: rig_unplug
devices:
  bucket:
    kind: drivers.bucket
    params:
      motors: {{port: "{port}", n_motors: 2}}
      camera: {{source: "{video}", fps: 25.0, frame_shape: [48, 64], realtime: true,
                features: [grey], feature_size: [8, 8]}}
task:
  kind: xor
  params: {{n_train: 200, n_test: 100, washout: 2}}
drive: {{rate_hz: 25.0, chunk: 5, timeout_s: 2.0}}
"""


def test_unplugged_board_ends_the_run_with_the_reason_and_keeps_the_recording(
    tmp_path: Path,
) -> None:
    video = tmp_path / "tank.avi"
    vw = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48), False)
    for i in range(400):
        vw.write(np.full((48, 64), (i * 5) % 256, np.uint8))
    vw.release()
    out = tmp_path / "run"
    with BucketFirmware("host") as fw:
        cfg = tmp_path / "rig.yaml"
        cfg.write_text(CONFIG.format(port=fw.port, video=video))

        def pull_cable() -> None:
            # mid-run: once the board has applied five chunks of duty vectors (a fixed delay
            # fires before connect when a loaded machine is slow to start the run)
            fw.wait_for(lambda f: len(f.strobes) >= 25, 60.0)
            fw.kill()  # SIGKILL closes the pty: a pulled cable

        unplug = threading.Thread(target=pull_cable, daemon=True)
        unplug.start()
        code = main(
            [
                "run",
                str(cfg),
                "--out",
                str(out),
                "--quiet",
                "--bus",
                f"unplug{uuid.uuid4().hex[:6]}",
            ]
        )
        unplug.join()
    assert code == 2  # a clear error, not a traceback or a hang
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "failed" and "link" in run["reason"].lower()
    info, msgs = read_recording(out / "recording.mcap")
    msgs = list(msgs)
    assert not info.truncated and "link" in info.end_reason.lower()
    assert sum(1 for _, m in msgs if m.topic == "bucket/sent") >= 3, "inputs before the unplug"
    assert any(m.topic == "bucket/frame" for _, m in msgs)
    assert json.loads((out / "metrics.json").read_text())["status"] == "failed"
