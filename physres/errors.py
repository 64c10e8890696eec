"""One root error for physres and the named failures every boundary raises.

Each class says *which* boundary failed so callers can catch narrowly; the
messages name the object, what was expected and what came.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BusError",
    "CommandTimeout",
    "ConfigError",
    "DataError",
    "DeviceError",
    "DeviceTimeout",
    "FrameError",
    "GridError",
    "NameTaken",
    "NodeUnreachable",
    "NotConnectedError",
    "ParamsError",
    "PhysresError",
    "RecordingError",
    "RemoteError",
    "ResourceError",
    "RuleError",
    "RunFolderError",
    "SafetyError",
    "UnknownNameError",
]


class PhysresError(Exception):
    """Root of every error physres raises on purpose."""


class ConfigError(PhysresError, ValueError):
    """A config file, key or value is wrong; the message names file, key path and value."""


class DataError(PhysresError, ValueError):
    """Arrays handed to an estimator or task are unusable (NaN, wrong shape, empty...)."""


class BusError(PhysresError):
    """Something on the ZeroMQ bus failed (sockets, routing, protocol)."""


class AuthError(BusError, PermissionError):
    """The broker refused this side's CURVE key (not in its ``curve_allowed`` folder)."""


class FrameError(BusError):
    """A message or serial frame is malformed; receivers count it and skip it.

    ``kind`` names the failure ("parts", "header", "size", "crc"...) so counters
    and once-per-kind logging can group garbage without parsing messages.
    """

    def __init__(self, message: str, *, kind: str = "frame") -> None:
        super().__init__(message)
        self.kind = kind


class CommandTimeout(BusError, TimeoutError):
    """A command got no reply in time; the message names the node and the command."""


class NodeUnreachable(CommandTimeout):
    """The broker knows no connected node by that name: no reply can ever come."""


class NameTaken(BusError):
    """The broker refused a node: a live node on the bus already holds its name."""


class RemoteError(BusError):
    """A command raised on the remote node; carries the remote type and message."""

    def __init__(self, node: str, command: str, remote_type: str, message: str) -> None:
        self.node = node
        self.command = command
        self.remote_type = remote_type
        self.remote_message = message
        super().__init__(f"{node}.{command} raised {remote_type}: {message}")


class NotConnectedError(PhysresError, RuntimeError):
    """A device was used before ``connect()`` or after ``disconnect()``."""


class SafetyError(PhysresError, ValueError):
    """A command would exceed a declared limit; refused before it reached hardware."""


class DeviceError(PhysresError):
    """A device replied wrongly or reported a fault."""


class DeviceTimeout(DeviceError, TimeoutError):
    """A device did not answer within its timeout."""


class ResourceError(PhysresError, MemoryError):
    """A job would need more memory than the machine has; refused before it starts."""


class RunFolderError(PhysresError, FileExistsError):
    """A run folder cannot be used (not empty, not a folder): an earlier run must survive."""


class RecordingError(PhysresError):
    """A recording on disk is unreadable or damaged beyond its last good record."""


class UnknownNameError(ConfigError, KeyError):
    """A name nothing answers to (device kind, task, command); also a KeyError, as in a Mapping."""

    __str__ = ConfigError.__str__  # KeyError's would quote the whole message


class GridError(ConfigError):
    """A sweep's ``--grid`` is malformed (unknown key, empty list, a value its model refuses).

    Raised before any point runs; the message names the ``KEY=VALUES`` item and what is wrong.
    """


class ParamsError(ConfigError):
    """Params failed their model; keeps pydantic's error and the model, so a config names lines."""

    def __init__(self, message: str, error: Exception, model: type) -> None:
        super().__init__(message)
        self.error = error
        self.model = model


class RuleError(ConfigError):
    """A rule across fields of a Params model is broken; ``key`` is the field it points at."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
