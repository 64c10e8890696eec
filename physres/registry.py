"""Device kinds by name: ``sim.esn``, ``drivers.bucket``, ``mock.bucket``...

One table maps a kind to ``"module:Class"``; the module is imported only when
that kind is built, so a laptop without pybullet can still run the ESN. Every
family gets a ``mock.<family>`` kind for free: the real driver's class (or the
simulator's, where no driver exists) in mock mode, so switching sim ↔ real ↔
mock is one config line. Third-party packages add kinds through the
``physres.devices`` entry-point group.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from physres.errors import ConfigError

if TYPE_CHECKING:
    from physres.device.base import Device

__all__ = ["create", "kinds", "register", "resolve"]

_KINDS: dict[str, str] = {
    "sim.esn": "physres.sim.esn:ESN",
    "sim.lsm": "physres.sim.lsm:LSM",
    "sim.bucket": "physres.sim.bucket:Bucket",
    "drivers.bucket_camera": "physres.drivers.bucket.camera:Camera",
    "drivers.bucket_motors": "physres.drivers.bucket.motorboard:MotorBoard",
    "drivers.bucket": "physres.drivers.bucket.rig:BucketRig",
    "drivers.so101": "physres.drivers.arm.so101:SO101",
    "sim.arm": "physres.sim.arm.device:SimArm",
}
_MOCK = "mock."


def register(kind: str, target: str, *, replace: bool = False) -> None:
    """Add ``kind`` → ``"module:Class"``; refuses to shadow a kind unless asked."""
    if "." not in kind or kind.startswith(_MOCK):
        raise ConfigError(f"kind {kind!r} must look like 'sim.name' or 'drivers.name'")
    if kind in _KINDS and _KINDS[kind] != target and not replace:
        raise ConfigError(f"kind {kind!r} is already registered as {_KINDS[kind]}")
    _KINDS[kind] = target


def _load_entry_points() -> None:
    for ep in entry_points(group="physres.devices"):
        _KINDS.setdefault(ep.name, ep.value)


def _families() -> dict[str, str]:
    """family → the kind whose class mock mode uses (drivers first: mock = real interface)."""
    fam: dict[str, str] = {}
    for kind in sorted(_KINDS, key=lambda k: (not k.startswith("drivers."), k)):
        fam.setdefault(kind.split(".", 1)[1], kind)
    return fam


def kinds(*, include_mock: bool = True) -> list[str]:
    """Every buildable kind, mock variants included."""
    _load_entry_points()
    names = sorted(_KINDS)
    if include_mock:
        names += sorted(_MOCK + fam for fam in _families())
    return names


def resolve(kind: str) -> tuple[type[Device], bool]:
    """The class for ``kind`` and whether it runs in mock mode."""
    _load_entry_points()
    mock = kind.startswith(_MOCK)
    real_kind = _families().get(kind[len(_MOCK) :]) if mock else kind
    if real_kind is None or real_kind not in _KINDS:
        raise ConfigError(f"unknown device kind {kind!r}; known kinds: {', '.join(kinds())}")
    module_name, _, cls_name = _KINDS[real_kind].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(
            f"device kind {kind!r} needs {module_name}, which failed to import: {e}. "
            "Is the matching extra installed (pip install 'physres[robot]' / '[mea]')?"
        ) from e
    return getattr(module, cls_name), mock


def create(kind: str, name: str | None = None, params: dict[str, Any] | None = None) -> Device:
    """Build a device of ``kind`` (not yet connected) from validated params."""
    cls, mock = resolve(kind)
    dev = cls(name, mock=mock, **(params or {}))
    dev.kind = kind
    return dev
