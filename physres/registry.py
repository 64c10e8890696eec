"""Names → ``"module:attr"``, imported on first use: device kinds here, tasks, arm tasks.

One :class:`Registry` serves every table of named things a config can name.
The module behind a name is imported only when that name is used, so a laptop
without pybullet can still run the ESN; third-party packages add names
through an entry-point group; a misspelt name is answered with the nearest
known one. Device kinds add mock families: every family gets a
``mock.<family>`` kind for free, the real driver's class (or the simulator's,
where no driver exists) in mock mode, so switching sim ↔ real ↔ mock is one
config line.

A kind's ``Params`` model holds every rule on its parameters (cross-field ones
included), so :func:`validate` is the whole check ``physres run`` and
``physres check`` make before anything starts. A Params model that wants the
task's input count names the field with a ``task_inputs`` ClassVar
(``sim.esn``: ``"n_inputs"``); :func:`bind_task` fills it in.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from physres._messages import issues, one_line, short
from physres.errors import ConfigError, ParamsError, UnknownNameError

if TYPE_CHECKING:
    from physres.device.base import Device

__all__ = [
    "Registry",
    "bind_task",
    "create",
    "kinds",
    "register",
    "resolve",
    "validate",
]

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """A lazy table ``name → "module:attr"``; a read-only Mapping of the loaded objects.

    ``what`` names an entry in messages ("device kind", "task"); ``group`` is
    the entry-point group read once on first use; ``mock_prefix`` turns on mock
    families (``mock.<family>`` resolves to the family's driver, else its
    simulator); ``check_name`` refuses badly formed names at registration.
    """

    def __init__(
        self,
        what: str,
        table: Mapping[str, str],
        *,
        group: str | None = None,
        mock_prefix: str | None = None,
        check_name: Callable[[str], None] | None = None,
        hint: str = "",
        paths: bool = False,
    ) -> None:
        self.what = what
        self._table = dict(table)
        self._group = group
        self._mock = mock_prefix
        self._check_name = check_name
        self._hint = hint
        self._entry_points_read = group is None
        #: whether a ``"module:Class"`` path is accepted where a name is expected
        self._paths = paths

    # ------------------------------------------------------------- the table
    def register(self, name: str, target: str, *, replace: bool = False) -> None:
        """Add ``name`` → ``"module:attr"``; refuses to shadow a name unless asked."""
        if self._check_name is not None:
            self._check_name(name)
        if ":" not in target:
            raise ConfigError(
                f"{self.what} {short(name)}: target {short(target)} is not 'module:attr'"
            )
        if name in self._table and self._table[name] != target and not replace:
            raise ConfigError(f"{self.what} {name!r} is already registered as {self._table[name]}")
        self._table[name] = target

    def _read_entry_points(self) -> None:
        if not self._entry_points_read:
            self._entry_points_read = True
            for ep in entry_points(group=self._group):
                self._table.setdefault(ep.name, ep.value)

    def _families(self) -> dict[str, str]:
        """family → the name mock mode uses (drivers first: mock = the real interface)."""
        fam: dict[str, str] = {}
        for name in sorted(self._table, key=lambda k: (not k.startswith("drivers."), k)):
            fam.setdefault(name.split(".", 1)[-1], name)
        return fam

    def names(self, *, include_mock: bool = True) -> list[str]:
        """Every name in registration order, then the mock kinds (sorted)."""
        self._read_entry_points()
        names = list(self._table)
        if include_mock and self._mock is not None:
            names += sorted(self._mock + fam for fam in self._families())
        return names

    def is_mock(self, name: str) -> bool:
        return self._mock is not None and name.startswith(self._mock)

    def real_name(self, name: str) -> str:
        """The registered name behind ``name``: a mock kind's family driver (else simulator)."""
        self._read_entry_points()
        if not isinstance(name, str):
            raise self.unknown(name)
        real = self._families().get(name[len(self._mock) :]) if self.is_mock(name) else name
        if real not in self._table:
            raise self.unknown(name)
        return real

    def unknown(self, name: object) -> UnknownNameError:
        """The error for a name not in the table: the known names and the nearest one."""
        known = self.names()
        near = difflib.get_close_matches(name, known, n=1) if isinstance(name, str) else []
        hint = f"; did you mean {near[0]!r}?" if near else ""
        plural = "kinds" if self.what.endswith("kind") else f"{self.what}s"
        # mock kinds are one per family: say so once instead of listing each (readable length)
        listed = [k for k in known if not self.is_mock(k)]
        mocks = f" (and {self._mock}<family> for each)" if len(listed) < len(known) else ""
        return UnknownNameError(
            f"unknown {self.what} {short(name)}; known {plural}: {', '.join(listed)}{mocks}{hint}"
        )

    def target(self, name: str) -> str:
        """The ``"module:attr"`` behind ``name`` (a mock kind: its family's)."""
        if self._paths and isinstance(name, str) and _is_path(name):
            self._read_entry_points()
            if name not in self._table:  # a "module:Class" path, where this registry takes them
                return name
        return self._table[self.real_name(name)]

    def load(self, name: str) -> T:
        """Import and return the object registered as ``name``."""
        module_name, _, attr = self.target(name).partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise ConfigError(
                f"{self.what} {name!r} needs {module_name}, which failed to import: "
                f"{one_line(str(e))}{self._hint}"
            ) from e
        try:
            return getattr(module, attr)
        except AttributeError:
            raise ConfigError(
                f"{self.what} {name!r} is registered as {module_name}:{attr}, "
                f"but {module_name} has no {attr!r}"
            ) from None

    def validate(self, name: str, params: Mapping[str, Any]) -> BaseModel:
        """``params`` checked by the ``Params`` model of ``name`` (every rule, cross-field ones)."""
        model: type[BaseModel] | None = getattr(self.load(name), "Params", None)
        if model is None:
            raise ConfigError(f"{self.what} {name!r} declares no Params model to check params by")
        try:
            return model.model_validate(dict(params))
        except ValidationError as e:
            found = issues(e, model)
            key, text = found[0]
            more = f"; and {len(found) - 1} more" if len(found) > 1 else ""
            raise ParamsError(
                f"{self.what} {name!r} params.{'.'.join(key) or '(all)'}: {text}{more}", e, model
            ) from e

    # --------------------------------------------------------------- Mapping
    def __getitem__(self, name: str) -> T:
        return self.load(name)

    def __contains__(self, name: object) -> bool:
        try:
            self.target(name)  # type: ignore[arg-type]
        except UnknownNameError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())


def _is_path(name: str) -> bool:
    """``"package.module:Class"``: dotted identifiers, one colon."""
    module, colon, attr = name.partition(":")
    return bool(colon) and attr.isidentifier() and all(p.isidentifier() for p in module.split("."))


# ----------------------------------------------------------------- device kinds
_MOCK = "mock."


def _device_kind_name(kind: str) -> None:
    if "." not in kind or kind.startswith(_MOCK):
        raise ConfigError(f"kind {short(kind)} must look like 'sim.name' or 'drivers.name'")


DEVICES: Registry[type[Device]] = Registry(
    "device kind",
    {
        "sim.esn": "physres.sim.esn:ESN",
        "sim.lsm": "physres.sim.lsm:LSM",
        "sim.mea": "physres.sim.mea:SimMEA",
        "sim.neuromorphic": "physres.sim.neuromorphic:NeuromorphicSim",
        "sim.bucket": "physres.sim.bucket:Bucket",
        "drivers.bucket_camera": "physres.drivers.bucket.camera:Camera",
        "drivers.bucket_motors": "physres.drivers.bucket.motorboard:MotorBoard",
        "drivers.bucket": "physres.drivers.bucket.rig:BucketRig",
        "drivers.cl1": "physres.drivers.mea.cl1:CL1",  # Cortical Labs CL1 (cl API; cl-sdk in CI)
        "drivers.so101": "physres.drivers.arm.so101:SO101",  # the same arm by its model name
        "drivers.arm": "physres.drivers.arm.so101:SO101",  # one family with sim.arm: mock.arm
        "sim.arm": "physres.sim.arm.device:SimArm",
        "drivers.openephys": "physres.drivers.mea.openephys:OpenEphys",  # Open Ephys GUI (ZMQ)
        "drivers.neuromorphic": "physres.drivers.neuromorphic.bridge:NeuroBridge",
    },
    group="physres.devices",
    mock_prefix=_MOCK,
    check_name=_device_kind_name,
    hint=". Is the matching extra installed (pip install 'physres[robot]' / '[mea]')?",
)


def register(kind: str, target: str, *, replace: bool = False) -> None:
    """Add device ``kind`` → ``"module:Class"``; refuses to shadow a kind unless asked."""
    DEVICES.register(kind, target, replace=replace)


def kinds(*, include_mock: bool = True) -> list[str]:
    """Every buildable kind (sorted), mock variants after."""
    real = sorted(DEVICES.names(include_mock=False))
    return real + (DEVICES.names()[len(real) :] if include_mock else [])


def resolve(kind: str) -> tuple[type[Device], bool]:
    """The class for ``kind`` and whether it runs in mock mode."""
    return DEVICES.load(kind), DEVICES.is_mock(kind)


def validate(kind: str, params: Mapping[str, Any]) -> BaseModel:
    """Device ``params`` checked by the kind's Params (ParamsError naming the key if not)."""
    return DEVICES.validate(kind, params)


def bind_task(kind: str, params: Mapping[str, Any], n_inputs: int | None) -> dict[str, Any]:
    """``params`` plus the task's input count, where the kind's Params declare a field for it.

    The declaration is the Params model's ``task_inputs`` ClassVar (a field
    name, or None); a value the config sets itself is kept.
    """
    out = dict(params)
    field = getattr(DEVICES.load(kind).Params, "task_inputs", None)
    if field is not None and n_inputs is not None:
        out.setdefault(field, n_inputs)
    return out


def create(kind: str, name: str | None = None, params: dict[str, Any] | None = None) -> Device:
    """Build a device of ``kind`` (not yet connected) from validated params."""
    cls, mock = resolve(kind)
    dev = cls(name, mock=mock, **(params or {}))
    dev.kind = kind
    return dev
