"""The one device contract real drivers, simulators and mocks implement.

A subclass writes four small hooks (``_connect``, ``_disconnect``, ``_apply``,
``_read``) plus ``describe()``; the base class owns the lifecycle, input
coercion, safety limits (checked *before* the hook runs, so nothing unsafe ever
reaches a transport), mock mode and command dispatch. Mock is a connection mode,
not a patch from outside: ``Kind(mock=True).connect()`` swaps the transport for
:class:`~physres.device.mock.MockBackend` and keeps the same ``describe()`` and
limits (the model is ophyd-async's ``connect(mock=True)``).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from physres._messages import issues, short
from physres.device.spec import Chunk, CommandSpec, Description, InputSpec, StreamSpec
from physres.errors import (
    ConfigError,
    DataError,
    NotConnectedError,
    SafetyError,
    UnknownNameError,
)

__all__ = ["Device", "NoParams", "command"]

F = TypeVar("F", bound=Callable[..., Any])


class NoParams(BaseModel):
    """Params model for devices that take none; unknown keys are a config error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def command(fn: F) -> F:
    """Mark a method as a bus command (listed in ``describe()``, callable via ``call``)."""
    fn.__physres_command__ = True  # type: ignore[attr-defined]
    return fn


class Device(ABC):
    """Abstract device: connect, describe, apply inputs, read observations, reset.

    ``Params`` is a pydantic model of the keyword parameters; it is validated in
    ``__init__`` so a bad config fails before any port opens. Subclasses keep
    ``__init__`` free of I/O: ``describe()`` must work while disconnected.
    """

    Params: ClassVar[type[BaseModel]] = NoParams
    #: Registry kind used when built directly (the registry overrides per instance).
    default_kind: ClassVar[str] = ""
    #: "stepped" simulators advance only when driven; "wall" devices run in real time.
    clock: ClassVar[str] = "wall"
    #: True: mock mode runs this driver's own code over a simulated transport (its
    #: ``_connect`` sees ``self.mock``), so planning, limits and keepalive are the
    #: real ones; False: the generic in-memory MockBackend stands in for ``_apply``.
    mock_transport: ClassVar[bool] = False

    def __init__(self, name: str | None = None, *, mock: bool = False, **params: Any) -> None:
        self.name = name or type(self).__name__.lower()
        self.kind = self.default_kind or type(self).__name__.lower()
        self.mock = bool(mock)
        try:
            self.params = self.Params(**params)
        except ValidationError as e:
            raise ConfigError(
                _pydantic_message(f"device {self.name!r} params", e, self.Params)
            ) from e
        self._connected = False
        self._backend: Any = None  # MockBackend when mock
        self._last_sent: dict[str, np.ndarray] = {}
        #: why motion is refused (a silent servo, an e-stop), or None; set by drivers
        self._fault: str | None = None
        self._clock_ns = 0
        self._t0_ns = time.monotonic_ns()

    # ---------------------------------------------------------------- contract
    @abstractmethod
    def describe(self) -> Description:
        """Streams, inputs, limits and commands; no I/O, works while disconnected."""

    def _connect(self) -> None:
        """Open the transport (port, socket, SDK session). Default: nothing to open."""

    def _disconnect(self) -> None:
        """Close the transport and leave actuators safe. Default: nothing to close."""

    @abstractmethod
    def _apply(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """Send already-checked inputs; return what was actually sent (None: as given)."""

    @abstractmethod
    def _read(self) -> dict[str, Chunk]:
        """Return observations gathered since the last read, one chunk per stream."""

    def _reset(self, seed: int | None) -> None:
        """Return to the initial state; simulators reseed. Default: nothing to reset."""

    # --------------------------------------------------------------- lifecycle
    @property
    def _generic_mock(self) -> bool:
        """Mock mode served by the MockBackend (not by the driver's own transport)."""
        return self.mock and not self.mock_transport

    @property
    def connected(self) -> bool:
        return self._connected

    def connect(self) -> Self:
        """Open the device (or its in-memory mock); idempotent; returns self."""
        if self._connected:
            return self
        if self._generic_mock:
            from physres.device.mock import MockBackend

            self._backend = MockBackend(self.describe())
        else:
            self._connect()
        self._connected = True
        self._last_sent.clear()
        self._t0_ns = time.monotonic_ns()
        return self

    def disconnect(self) -> None:
        """Close; safe to call twice and after a failed connect."""
        if not self._connected:
            return
        try:
            if not self._generic_mock:
                self._disconnect()
        finally:
            self._connected = False
            self._backend = None

    def __enter__(self) -> Self:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def _require_connected(self, action: str) -> None:
        if not self._connected:
            raise NotConnectedError(
                f"{self.kind} device {self.name!r} is not connected: call connect() "
                f"(or use it as a context manager) before {action}()"
            )

    # ------------------------------------------------------------------ I/O
    def apply(self, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Check and send inputs; return what was actually sent.

        Each value is one sample (``shape``) or a chunk ``(T, *shape)``; it is
        cast to the declared dtype and checked against the declared limits
        before the transport sees it: a :class:`SafetyError` means nothing of
        this call was sent.
        """
        self._require_connected("apply")
        desc = self.describe()
        checked = self.check_inputs(inputs, desc)
        if self._generic_mock:
            sent = self._backend.apply(checked)
        else:
            sent = self._apply(checked)
            sent = checked if sent is None else sent
        for name, arr in sent.items():
            if arr.ndim and arr.shape[0]:
                self._last_sent[name] = arr[-1].copy()
        return sent

    def check_inputs(
        self, inputs: Mapping[str, Any], desc: Description | None = None
    ) -> dict[str, np.ndarray]:
        """Coerce to ``(T, *shape)`` arrays of the declared dtype and enforce limits."""
        desc = desc or self.describe()
        if not inputs:
            raise DataError(
                f"{self.name}.apply() got no inputs; expected some of {sorted(desc.inputs)}"
            )
        out: dict[str, np.ndarray] = {}
        for key, value in inputs.items():
            spec = desc.inputs.get(key)
            if spec is None:
                raise DataError(
                    f"{self.name} has no input {key!r}; its inputs are {sorted(desc.inputs)}"
                )
            out[key] = self._coerce(spec, value)
            spec.limits.check(
                out[key],
                where=f"{self.name}.{key}",
                unit=spec.units,
                previous=self._last_sent.get(key),
            )
        return out

    def _coerce(self, spec: InputSpec, value: Any) -> np.ndarray:
        arr = np.asarray(value)
        dt = spec.np_dtype
        numeric = "biufc" if dt.kind == "c" else "biuf"
        if dt.fields is None and arr.dtype.kind not in numeric:
            raise DataError(
                f"{self.name}.{spec.name}: expected numbers ({dt}), got dtype {arr.dtype}"
            )
        if dt.fields is not None and arr.dtype.names != dt.names:
            raise DataError(
                f"{self.name}.{spec.name}: expected records with fields {dt.names}, "
                f"got dtype {arr.dtype}"
            )
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            idx = [int(i) for i in np.argwhere(~np.isfinite(arr))[0]]
            raise SafetyError(f"{self.name}.{spec.name}{idx} = {arr[tuple(idx)]} is not finite")
        ndim = len(spec.shape)
        if arr.ndim == ndim:
            arr = arr[None]
        if arr.ndim != ndim + 1 or any(
            s is not None and s != d for s, d in zip(spec.shape, arr.shape[1:])
        ):
            raise DataError(
                f"{self.name}.{spec.name}: expected shape {spec.shape} or (T, *{spec.shape}), "
                f"got {arr.shape}"
            )
        if arr.dtype != dt:
            if dt.kind in "iub" and arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
                raise DataError(
                    f"{self.name}.{spec.name}: expected integers ({dt}), got fractional values"
                )
            if dt.kind in "iu" and arr.size:
                # refuse before the cast: 300 into int8 would wrap to 44 and pass the limits
                info = np.iinfo(dt)
                lo, hi = arr.min(), arr.max()
                if arr.dtype.kind == "f":  # in float, int64's max rounds up to 2**63: use
                    # the powers of two that bound the range exactly
                    top = 2.0 ** (info.bits - (dt.kind == "i"))
                    too_low, too_high = lo < float(info.min), hi >= top
                else:
                    too_low, too_high = lo < info.min, hi > info.max
                if too_low or too_high:
                    bad = lo if too_low else hi
                    raise SafetyError(
                        f"{self.name}.{spec.name}: {bad} {spec.units} does not fit {dt} "
                        f"[{info.min}, {info.max}]"
                    )
            arr = arr.astype(dt)
        return np.ascontiguousarray(arr)

    def read(self) -> dict[str, Chunk]:
        """Observations since the last read: ``{stream: Chunk((T, *shape))}``."""
        self._require_connected("read")
        if self._generic_mock:
            return self._backend.read()
        return self._read()

    def reset(self, seed: int | None = None) -> None:
        """Back to the initial state; simulators with the same seed repeat exactly."""
        self._last_sent.clear()
        self._clock_ns = 0
        if self._generic_mock:
            if self._backend is not None:
                self._backend.reset(seed)
            return
        self._reset(seed)

    @property
    def host_epoch_ns(self) -> int:
        """``time.monotonic_ns()`` at connect: add it to device-relative host times
        (``now_ns()`` of a wall-clock device) to compare two devices' timestamps."""
        return self._t0_ns

    def now_ns(self) -> int:
        """The device's time base: simulated time when stepped, else its clock."""
        if self._generic_mock and self._backend is not None:
            return self._backend.now_ns
        if self.clock == "stepped":
            return self._clock_ns
        return time.monotonic_ns() - self._t0_ns

    # -------------------------------------------------------------- commands
    @classmethod
    def command_specs(cls) -> dict[str, CommandSpec]:
        """The class's ``@command`` methods, found once per class (describe() runs per apply)."""
        cached = cls.__dict__.get("_command_specs")
        if cached is None:
            cached = cls._find_commands()
            cls._command_specs = cached
        return dict(cached)

    @classmethod
    def _find_commands(cls) -> dict[str, CommandSpec]:
        import inspect

        specs: dict[str, CommandSpec] = {}
        for attr in dir(cls):
            fn = getattr(cls, attr, None)
            if callable(fn) and getattr(fn, "__physres_command__", False):
                params = tuple(p for p in inspect.signature(fn).parameters if p != "self")
                doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
                specs[attr] = CommandSpec(name=attr, doc=doc, params=params)
        return specs

    def call(self, name: str, **kwargs: Any) -> Any:
        """Run a declared command by name (what a DeviceNode does for the bus)."""
        specs = self.command_specs()
        if name not in specs:
            raise UnknownNameError(
                f"{self.name} has no command {short(name)}; it has {sorted(specs)}"
            )
        return getattr(self, name)(**kwargs)

    @property
    def fault(self) -> str | None:
        """The latched fault (a silent servo, an e-stop...), or None when healthy."""
        return self._fault

    @command
    def status(self) -> dict[str, Any]:
        """Connection state, device time, the last values sent and the latched fault."""
        return {
            "fault": self._fault,
            "name": self.name,
            "kind": self.kind,
            "connected": self._connected,
            "mock": self.mock,
            "now_ns": self.now_ns() if self._connected else None,
            "last_sent": {k: v.tolist() for k, v in self._last_sent.items()},
        }

    # --------------------------------------------------------------- helpers
    def _description(
        self,
        *,
        streams: list[StreamSpec],
        inputs: list[InputSpec],
        meta: Mapping[str, Any] | None = None,
    ) -> Description:
        """Build a Description with this instance's kind, name, clock and commands."""
        return Description(
            kind=self.kind,
            name=self.name,
            clock=self.clock,  # type: ignore[arg-type]
            streams={s.name: s for s in streams},
            inputs={i.name: i for i in inputs},
            commands=self.command_specs(),
            meta=dict(meta or {}),
        )

    def __repr__(self) -> str:
        state = "connected" if self._connected else "disconnected"
        mock = " mock" if self.mock else ""
        return f"<{type(self).__name__} {self.name!r} kind={self.kind} {state}{mock}>"


def _pydantic_message(where: str, err: ValidationError, model: type[BaseModel]) -> str:
    """One line, values cut short: the CLI shows it as it is."""
    found = issues(err, model)
    return "; ".join(f"{where}: {'.'.join(loc) or '(root)'}: {text}" for loc, text in found)
