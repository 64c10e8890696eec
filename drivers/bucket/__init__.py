"""The water-bucket reservoir's hardware: motor board (and camera, bucket)."""

from physres.drivers.bucket.motorboard import MotorBoard, MotorBoardParams

__all__ = ["MotorBoard", "MotorBoardParams"]
