"""Typed run configs from YAML; every error names the file, line, key path and value.

A config names devices by ``kind`` (``sim.esn``, ``mock.bucket``,
``drivers.bucket``): switching simulator, mock and real hardware is one line.
Each device's ``params`` are validated by that kind's own ``Params`` model at
load time, so a typo fails before any port opens or any run folder is made.
"""

from __future__ import annotations

import math
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from physres._messages import issues, one_line, short
from physres.bus.config import BusConfig
from physres.errors import ConfigError, ParamsError

if TYPE_CHECKING:
    from physres.registry import Registry

__all__ = [
    "DeviceConfig",
    "DriveConfig",
    "ReadoutConfig",
    "RecordConfig",
    "RunConfig",
    "StageConfig",
    "TaskConfig",
    "load_config",
    "load_model",
    "with_overrides",
]

M = TypeVar("M", bound=BaseModel)


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


#: a config is a page of YAML; anything bigger is the wrong file (a recording, a video)
MAX_CONFIG_BYTES = 1 << 20
#: nesting deeper than this is no config a person wrote (and would exhaust the C stack)
MAX_DEPTH = 32
#: values once aliases are expanded (a long scalar counts once per 1,000 characters):
#: bounds the work and memory a few lines of aliases can ask for ("billion laughs").
#: The examples hold under 100; composing 5,000 takes about 0.06 s (0.2 s on a loaded CI box)
MAX_VALUES = 5_000
#: field errors listed in one message; the rest are counted
SHOWN_ERRORS = 3


# libyaml's parser when present: the pure-Python scanner looks ahead up to 1,024
# characters at every flow level, so 5,000 nested "[" take 1.7 s before any bound applies
if yaml.__with_libyaml__:
    from yaml.cyaml import CParser

    _EVENTS: tuple[type, ...] = (CParser,)
else:  # pragma: no cover - every wheel of PyYAML ships libyaml
    _EVENTS = (yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser)


class _BoundedLoader(yaml.composer.Composer, *_EVENTS, SafeConstructor, Resolver):  # type: ignore[misc]
    """PyYAML's safe loader, refusing what no config needs and what costs without bound.

    Duplicate keys (PyYAML keeps the last silently), nesting deeper than
    MAX_DEPTH (the composer recurses: RecursionError), aliases that contain
    themselves, and documents whose aliases expand beyond MAX_VALUES are
    refused while composing, at the line that crossed the bound, before any
    Python object is built.
    """

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self._depth = 0
        self._values = 0
        self._sizes: dict[int, int] = {}  # id(node) -> its size with aliases expanded
        _EVENTS[0].__init__(self, text)  # the reader (or libyaml's parser) takes the text
        for base in _EVENTS[1:]:
            base.__init__(self)
        yaml.composer.Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)

    def _refuse(self, mark: Any, what: str) -> NoReturn:
        raise ConfigError(f"{self.source}:{mark.line + 1}: {what}")

    def _count(self, n: int, mark: Any) -> None:
        self._values += n
        if self._values > MAX_VALUES:
            self._refuse(
                mark,
                f"the document expands to more than {MAX_VALUES:,} values (aliases included); "
                "a config is a page of settings",
            )

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = self._sizes.get(id(target))
                if size is None:
                    self._refuse(
                        event.start_mark,
                        f"alias *{short(event.anchor)[1:-1]} refers to a value "
                        "that contains the alias itself (a recursive alias)",
                    )
                self._count(size, event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            self._refuse(event.start_mark, f"nested deeper than {MAX_DEPTH} levels")
        size = 1 + len(event.value) // 1000 if isinstance(event, yaml.ScalarEvent) else 1
        self._count(size, event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes[id(c)] for c in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        self._sizes[id(node)] = size
        return node

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = super().compose_mapping_node(anchor)
        seen_at: dict[tuple[str, str], Any] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            ident = (key.tag, key.value)
            if ident in seen_at:
                self._refuse(
                    key.start_mark,
                    f"duplicate key {short(key.value)} (first at line "
                    f"{seen_at[ident].line + 1}); YAML would silently keep the last",
                )
            seen_at[ident] = key.start_mark
        return node

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ConfigError, yaml.YAMLError):
            raise
        except (ValueError, OverflowError, TypeError) as e:  # int(huge), date(2026, 13, 45)...
            raise ConfigError(
                f"{self.source}:{node.start_mark.line + 1}: {short(node.value)} cannot be read "
                f"as {node.tag.rsplit(':', 1)[-1]}: {one_line(str(e))}"
            ) from None


def _yaml_message(e: yaml.YAMLError, text: str, source: str) -> str:
    """PyYAML's multi-line report as one line: file:line: what is wrong."""
    if isinstance(e, yaml.reader.ReaderError):
        line = text.count("\n", 0, max(e.position, 0)) + 1
        char = e.character if isinstance(e.character, str) else chr(e.character)
        return (
            f"{source}:{line}: not a text config: character {char!r} is not allowed in YAML "
            "(a binary file such as a recording or an image?)"
        )
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f"{source}:{mark.line + 1}" if mark is not None else source
    parts = [getattr(e, "context", None), getattr(e, "problem", None)]
    what = ", ".join(str(p) for p in parts if p) or str(e)
    return f"{where}: not valid YAML: {one_line(what)}"


def _compose(text: str, source: str) -> tuple[Any, Any]:
    """(composed root node, plain Python data): YAML parsed once, within bounds."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{source}: {len(text):,} characters; a config is at most {MAX_CONFIG_BYTES:,} "
            "(is this the right file?)"
        )
    loader = None
    try:
        loader = _BoundedLoader(text, source)
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as e:
        raise ConfigError(_yaml_message(e, text, source)) from None
    finally:
        if loader is not None:
            loader.dispose()
    return root, data


def _line_map(root: Any) -> dict[tuple[str, ...], int]:
    """Key path → 1-based line, from YAML's own node marks (bounded by MAX_VALUES)."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                p = (*path, str(k.value))
                lines.setdefault(p, k.start_mark.line + 1)
                walk(v, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, (*path, str(i)))

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


def _field_errors(
    error: ValidationError,
    model: type[BaseModel],
    prefix: tuple[str, ...],
    source: str,
    lines: dict,
) -> ConfigError:
    """One line for pydantic errors: file:line: key.path: what was expected (got value)."""
    msgs = []
    for loc, text in issues(error, model):
        loc = (*prefix, *loc)
        msgs.append(f"{_where(source, lines, loc)}: {'.'.join(loc) or '(top)'}: {text}")
    more = len(msgs) - SHOWN_ERRORS
    return ConfigError("; ".join(msgs[:SHOWN_ERRORS]) + (f"; and {more} more" if more > 0 else ""))


def parse_config(text: str, source: str = "<config>") -> RunConfig:
    """Validate YAML text into a RunConfig (device params against their kinds)."""
    root, raw = _compose(text, source)
    if not isinstance(raw, dict):
        got = "an empty document" if raw is None else f"a {type(raw).__name__}"
        where = f"{source}:{root.start_mark.line + 1}" if root is not None else source
        raise ConfigError(
            f"{where}: expected a mapping at the top (devices:, task:, ...), got {got}"
        )
    lines = _line_map(root)
    _reject_non_finite(raw, (), source, lines)
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as e:
        raise _field_errors(e, RunConfig, (), source, lines) from e
    _validate_entries(cfg, source, lines)
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


def _check_entry(
    reg: Registry[Any],
    kind: str,
    params: dict[str, Any],
    at: tuple[str, ...],
    source: str,
    lines: dict,
) -> None:
    """One named entry (a device, the reference, the task): its kind, then its params."""
    try:
        reg.validate(kind, params)
    except ParamsError as e:
        raise _field_errors(e.error, e.model, (*at, "params"), source, lines) from e
    except ConfigError as e:  # unknown name (with the nearest one), an extra not installed
        loc = (*at, "kind")
        raise ConfigError(f"{_where(source, lines, loc)}: {'.'.join(loc)}: {e}") from e


def _validate_entries(cfg: RunConfig, source: str, lines: dict) -> None:
    """Everything a config names, checked by its registry before anything starts."""
    from physres import registry
    from physres.tasks.registry import TASKS

    for name, dev in cfg.devices.items():
        _check_entry(registry.DEVICES, dev.kind, dev.params, ("devices", name), source, lines)
    if cfg.reference is not None:
        ref = cfg.reference
        _check_entry(registry.DEVICES, ref.kind, ref.params, ("reference",), source, lines)
    if cfg.task is not None:
        _check_entry(TASKS, cfg.task.kind, cfg.task.params, ("task",), source, lines)
        if cfg.task.device is not None and cfg.task.device not in cfg.devices:
            raise ConfigError(
                f"{_where(source, lines, ('task', 'device'))}: task.device: "
                f"{short(cfg.task.device)} is not one of the configured devices "
                f"{sorted(cfg.devices)}"
            )


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a config file; a binary or oversized file is refused in one line."""
    p = Path(path)
    return parse_config(_read_text(p), str(p))


def load_model(path: str | Path, model: type[M]) -> M:
    """Read a YAML file into any strict model (a chip configuration...) with this
    module's bounds and one-line ``file:line: key.path: ...`` errors."""
    p = Path(path)
    text = _read_text(p)
    root, data = _compose(text, str(p))
    lines = _line_map(root)
    _reject_non_finite(data, (), str(p), lines)
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as e:
        raise _field_errors(e, model, (), str(p), lines) from None


def _read_text(p: Path) -> str:
    """A config file's text: regular, at most MAX_CONFIG_BYTES, UTF-8; else one line."""
    try:
        mode = p.stat().st_mode
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a pipe would block open()
            what = "a named pipe" if stat.S_ISFIFO(mode) else "a special file"
            raise ConfigError(f"config {p} is {what}, not a regular file; expected a YAML file")
        with p.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"cannot read config {p}: {e.strerror or e}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{p}: larger than the {MAX_CONFIG_BYTES:,} bytes a config may be "
            "(is this the right file?)"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            f"{p}:{line}: not a text config: byte 0x{data[e.start]:02x} at offset {e.start} is "
            "not UTF-8 (a binary file such as a recording or an image?)"
        ) from None
    return text


def _step(node: Any, part: str, done: tuple[str, ...], key: str, source: str) -> Any:
    """One segment of a dotted key path into plain config data; unknown ones say the nearest."""
    import difflib

    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    if isinstance(node, dict) and part in node:
        return node[part]
    where = ".".join(done) or "the config's top level"
    if isinstance(node, dict):
        near = difflib.get_close_matches(part, [str(k) for k in node], n=1)
        hint = f"; did you mean {'.'.join((*done, near[0]))!r}?" if near else ""
        raise ConfigError(
            f"{source}: unknown key {key!r}: {where} has no {short(part)} "
            f"(it has {', '.join(sorted(map(str, node)))}){hint}"
        )
    raise ConfigError(f"{source}: unknown key {key!r}: {where} is {short(node)}, not a section")


def with_overrides(
    cfg: RunConfig, overrides: dict[str, Any], source: str = "overrides"
) -> RunConfig:
    """``cfg`` with values set at dotted key paths, validated whole as ``parse_config`` does.

    Every segment but the last must exist in the config; the last must exist
    too, except inside a ``params`` mapping (a kind's parameters left at their
    defaults are absent: its Params model then judges the name and the value).
    ``features.0.params.n`` indexes a list. Errors are ConfigError naming ``source``.
    """
    import copy

    full = cfg.model_dump(mode="json")
    # what the config set, no more: a default written out would read as chosen (a bus name
    # set is a bus to join, where an unset one gives each run a private bus)
    raw = cfg.model_dump(mode="json", exclude_unset=True)
    for key, value in overrides.items():
        parts = key.split(".")
        if not key or any(not p for p in parts):
            raise ConfigError(f"{source}: {short(key)} is not a dotted key path (a.b.c)")
        node, into = full, raw
        for i, part in enumerate(parts[:-1]):
            node = _step(node, part, tuple(parts[:i]), key, source)
            if isinstance(into, list):
                into = into[int(part)]
            else:
                into = into.setdefault(part, copy.deepcopy(node) if isinstance(node, list) else {})
        last = parts[-1]
        if not (isinstance(node, dict) and parts[-2:-1] == ["params"]):
            _step(node, last, tuple(parts[:-1]), key, source)
        if isinstance(into, list):
            into[int(last)] = value
        else:
            into[last] = value
    _reject_non_finite(raw, (), source, {})
    try:
        out = RunConfig.model_validate(raw)
    except ValidationError as e:
        raise _field_errors(e, RunConfig, (), source, {}) from e
    _validate_entries(out, source, {})
    _validate_pipeline(out, source, {})
    return out
