"""Typed run configs from YAML; every error names the file, line, key path and value.

A config names devices by ``kind`` (``sim.esn``, ``mock.bucket``,
``drivers.bucket``): switching simulator, mock and real hardware is one line.
Each device's ``params`` are validated by that kind's own ``Params`` model at
load time, so a typo fails before any port opens or any run folder is made.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from physres.bus.config import BusConfig
from physres.errors import ConfigError

__all__ = [
    "DeviceConfig",
    "DriveConfig",
    "ReadoutConfig",
    "RecordConfig",
    "RunConfig",
    "StageConfig",
    "TaskConfig",
    "load_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceConfig(_Strict):
    #: registry kind: sim.<family>, drivers.<family> or mock.<family>
    kind: str
    #: keyword parameters for the kind's Params model (validated against it)
    params: dict[str, Any] = Field(default_factory=dict)


class TaskConfig(_Strict):
    #: task name from physres.tasks (narma10, xor, mackey_glass, ...)
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    #: which device the task drives (defaults to the only/first device)
    device: str | None = None


class ReadoutConfig(_Strict):
    #: override the task's readout regularisation; None keeps the task's default
    alpha: float | None = Field(None, ge=0, allow_inf_nan=False)
    #: readout kind (ridge, ridge_cv, classifier, rls); None keeps the task's own readout
    kind: str | None = None
    #: keyword parameters of that readout (the task's washout is filled in unless set)
    params: dict[str, Any] = Field(default_factory=dict)


class StageConfig(_Strict):
    #: feature stage (frame, events, delay, pool, flatten; physres.readout.pipeline)
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)


class RecordConfig(_Strict):
    enabled: bool = True
    #: topic prefixes to record; empty means every device's topics
    topics: list[str] = Field(default_factory=list)
    #: seconds between fsyncs: the most a crash can lose
    flush_s: float = Field(0.5, gt=0, le=60, allow_inf_nan=False)


class DriveConfig(_Strict):
    #: task steps per apply() (bigger chunks amortise bus round trips)
    chunk: int = Field(200, ge=1)
    #: "bus" drives devices through DeviceNodes (recorded); "local" calls them directly
    via: str = Field("bus", pattern="^(bus|local)$")
    #: input rate for wall-clock devices whose inputs declare none (the task is paced at it)
    rate_hz: float | None = Field(None, gt=0, allow_inf_nan=False)
    #: seconds a device may take to deliver a chunk's samples (wall-clock devices; stepped
    #: devices over the bus wait at least 30 s, e.g. firmware in the loop runs in real time)
    timeout_s: float = Field(5.0, gt=0, allow_inf_nan=False)


class RunConfig(_Strict):
    name: str = Field("run", pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 0
    bus: BusConfig = Field(default_factory=BusConfig)
    devices: dict[str, DeviceConfig]
    task: TaskConfig | None = None
    #: stages from the device's stream to the readout's rows, in order (default: none)
    features: list[StageConfig] = Field(default_factory=list)
    readout: ReadoutConfig = Field(default_factory=ReadoutConfig)
    #: a reference substrate run on the same task data (e.g. sim.esn beside a bucket)
    reference: DeviceConfig | None = None
    record: RecordConfig = Field(default_factory=RecordConfig)
    drive: DriveConfig = Field(default_factory=DriveConfig)

    @field_validator("devices")
    @classmethod
    def _some_devices(cls, v: dict[str, DeviceConfig]) -> dict[str, DeviceConfig]:
        if not v:
            raise ValueError("at least one device is needed")
        for name in v:
            if not name or "/" in name or name.startswith("_"):
                raise ValueError(
                    f"device name {name!r} must be non-empty, without '/', not start with '_'"
                )
        return v


def _line_map(text: str) -> dict[tuple[str, ...], int]:
    """Key path → 1-based line, from YAML's own node marks."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                p = (*path, str(k.value))
                lines[p] = k.start_mark.line + 1
                walk(v, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, (*path, str(i)))

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def _where(source: str, lines: dict[tuple[str, ...], int], loc: tuple[Any, ...]) -> str:
    path = tuple(str(p) for p in loc)
    while path and path not in lines:
        path = path[:-1]
    line = lines.get(path)
    return f"{source}:{line}" if line else source


def _reject_non_finite(obj: Any, path: tuple[str, ...], source: str, lines: dict) -> None:
    """NaN/inf anywhere in a config is almost always a mistake (and unsafe as a limit)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        key = ".".join(path)
        raise ConfigError(f"{_where(source, lines, path)}: {key}: {obj!r} is not a finite number")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _reject_non_finite(v, (*path, str(k)), source, lines)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _reject_non_finite(v, (*path, str(i)), source, lines)


def parse_config(text: str, source: str = "<config>") -> RunConfig:
    """Validate YAML text into a RunConfig (device params against their kinds)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top, got {type(raw).__name__}")
    lines = _line_map(text)
    _reject_non_finite(raw, (), source, lines)
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            loc = err["loc"]
            key = ".".join(str(p) for p in loc) or "(top)"
            got = err.get("input")
            got_s = "missing" if err["type"] == "missing" else f"got {got!r}"
            msgs.append(f"{_where(source, lines, loc)}: {key}: {err['msg']} ({got_s})")
        raise ConfigError("\n".join(msgs)) from e
    _validate_devices(cfg, source, lines)
    _validate_pipeline(cfg, source, lines)
    return cfg


def _validate_pipeline(cfg: RunConfig, source: str, lines: dict) -> None:
    """Feature stages and the readout exist and take the params given (values: at fit)."""
    from physres.readout.pipeline import make_stage

    specs = [(("features", str(i)), "feature stage", f) for i, f in enumerate(cfg.features)]
    if cfg.readout.kind is not None:
        specs.append((("readout",), "readout", cfg.readout))
    for loc, role, spec in specs:
        try:
            make_stage(spec.kind, spec.params, role=role)
        except (ConfigError, TypeError, ValueError) as e:
            raise ConfigError(f"{_where(source, lines, loc)}: {'.'.join(loc)}: {e}") from e


def _validate_devices(cfg: RunConfig, source: str, lines: dict) -> None:
    from physres import registry

    for name, dev in cfg.devices.items():
        loc = ("devices", name, "kind")
        try:
            cls, _mock = registry.resolve(dev.kind)
        except ConfigError as e:
            raise ConfigError(f"{_where(source, lines, loc)}: devices.{name}.kind: {e}") from e
        try:
            cls.Params(**dev.params)
        except ValidationError as e:
            msgs = []
            for err in e.errors():
                ploc = ("devices", name, "params", *[str(p) for p in err["loc"]])
                key = ".".join(ploc)
                got = "missing" if err["type"] == "missing" else f"got {err.get('input')!r}"
                msgs.append(f"{_where(source, lines, ploc)}: {key}: {err['msg']} ({got})")
            raise ConfigError("\n".join(msgs)) from e
    if cfg.reference is not None:
        try:
            cls, _mock = registry.resolve(cfg.reference.kind)
            cls.Params(**cfg.reference.params)
        except (ConfigError, ValidationError) as e:
            raise ConfigError(f"{_where(source, lines, ('reference',))}: reference: {e}") from e
    if cfg.task is not None and cfg.task.device is not None and cfg.task.device not in cfg.devices:
        raise ConfigError(
            f"{_where(source, lines, ('task', 'device'))}: task.device: {cfg.task.device!r} is "
            f"not one of the configured devices {sorted(cfg.devices)}"
        )


def load_config(path: str | Path) -> RunConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config {p}: {e.strerror or e}") from e
    return parse_config(text, str(p))
