"""The water-bucket reservoir's hardware: motor board (and camera, bucket).

``MotorBoard`` is imported on first use, so the board's plain numbers
(:mod:`~physres.drivers.bucket.limits`) load without the serial stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from physres.drivers.bucket.motorboard import MotorBoard, MotorBoardParams

__all__ = ["MotorBoard", "MotorBoardParams"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from physres.drivers.bucket import motorboard

        return getattr(motorboard, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
