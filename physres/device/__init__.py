"""The device contract: one abstract Device, its description, limits and mock mode."""

from physres.device.base import Device, NoParams, command
from physres.device.check import CheckReport, ConformanceError, check_device
from physres.device.spec import (
    Chunk,
    CommandSpec,
    Description,
    InputSpec,
    Limits,
    PendingChunk,
    StreamSpec,
    dtype_from_wire,
    dtype_to_wire,
)

__all__ = [
    "CheckReport",
    "Chunk",
    "CommandSpec",
    "ConformanceError",
    "Description",
    "Device",
    "InputSpec",
    "Limits",
    "NoParams",
    "PendingChunk",
    "StreamSpec",
    "check_device",
    "command",
    "dtype_from_wire",
    "dtype_to_wire",
]
