"""Write an episode to MP4 or GIF with its prompt overlaid, to look at what was recorded.

Frames are upscaled with nearest-neighbour (128² renders stay crisp), the
prompt is drawn in a band above the image (wrapped to its width) and a status
line below says step, task, gripper command and whether this step was
perturbed; the last frame shows SUCCESS or FAIL.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import cv2
import numpy as np

from physres.datasets.reader import Demo
from physres.errors import ConfigError

__all__ = ["annotate_frames", "write_video"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE = (255, 255, 255)
_RED = (230, 70, 60)
_GREEN = (80, 210, 100)


def _band(width: int, lines: list[str], scale: float, color=_WHITE) -> np.ndarray:
    line_h = int(22 * scale) + 4
    band = np.full((line_h * len(lines) + 6, width, 3), 24, np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(
            band, line, (6, line_h * (i + 1) - 4), _FONT, 0.5 * scale, color, 1, cv2.LINE_AA
        )
    return band


def annotate_frames(ep: Demo, *, key: str = "obs.image", scale: int = 3) -> list[np.ndarray]:
    """RGB uint8 frames of ``ep[key]`` with the prompt above and a status line below."""
    frames = ep.arrays[key]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"{key} has shape {frames.shape} {frames.dtype}; expected (T, H, W, 3) uint8"
        )
    h, w = frames.shape[1:3]
    width = w * scale
    text_scale = max(0.8, scale / 3)
    chars = max(16, int(width / (11 * text_scale)))
    prompt = textwrap.wrap(f'"{ep.prompt}"', chars) or ['""']
    top = _band(width, prompt, text_scale)
    actions = ep.arrays["action"]
    perturbed = ep.arrays.get("perturbed", np.zeros(len(frames), bool))
    out = []
    for t, frame in enumerate(frames):
        big = cv2.resize(frame, (width, h * scale), interpolation=cv2.INTER_NEAREST)
        grip = "close" if actions[t, 4] > 0 else "open"
        status = f"t {t + 1}/{len(frames)}  {ep.info.task}  grip {grip}"
        color = _WHITE
        if perturbed[t]:
            status += "  NOISE"
            color = _RED
        if t == len(frames) - 1:
            status += "  SUCCESS" if ep.info.success else "  FAIL"
            color = _GREEN if ep.info.success else _RED
        bottom = _band(width, [status], text_scale * 0.8, color)
        out.append(np.ascontiguousarray(np.concatenate([top, big, bottom], axis=0)))
    return out


def write_video(ep: Demo, path: str | Path, *, fps: float = 10.0, scale: int = 3) -> Path:
    """Write ``ep`` to ``path``: ``.mp4`` through ffmpeg, ``.gif`` through Pillow."""
    import imageio.v2 as iio2
    import imageio.v3 as iio3

    path = Path(path)
    frames = annotate_frames(ep, scale=scale)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        iio3.imwrite(path, np.stack(frames), duration=1000.0 / fps, loop=0)
    elif suffix in (".mp4", ".mov", ".mkv"):
        h, w = frames[0].shape[:2]
        pad_h, pad_w = (-h) % 16, (-w) % 16  # codecs want 16-pixel blocks
        if pad_h or pad_w:
            frames = [np.pad(f, ((0, pad_h), (0, pad_w), (0, 0))) for f in frames]
        iio2.mimwrite(path, frames, fps=fps, macro_block_size=16)
    else:
        raise ConfigError(f"{path}: unknown video type {suffix!r}; use .mp4 or .gif")
    return path
