"""The device contract: one abstract Device, its description, limits and mock mode."""

from physres.device.base import Device, NoParams, command
from physres.device.spec import (
    Chunk,
    CommandSpec,
    Description,
    InputSpec,
    Limits,
    StreamSpec,
    dtype_from_wire,
    dtype_to_wire,
)

__all__ = [
    "Chunk",
    "CommandSpec",
    "Description",
    "Device",
    "InputSpec",
    "Limits",
    "NoParams",
    "StreamSpec",
    "command",
    "dtype_from_wire",
    "dtype_to_wire",
]
