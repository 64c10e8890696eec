"""What a run holds open: bus, device nodes, recorder and the device it drives.

:class:`RunSession` is a context manager that builds these in order and
always tears down whatever was built, in reverse, whatever ended the run: a
device raising mid-drive, a recorder that cannot open its file, Ctrl-C. The
recorder is told why the run ended, so the recording's last note agrees with
``run.json``.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import zmq

from physres import registry
from physres.errors import ConfigError, RecordingError
from physres.experiments.artifacts import jsonable, outcome

if TYPE_CHECKING:
    from physres.bus import BusConfig
    from physres.config import RunConfig
    from physres.device.base import Device
    from physres.device.spec import Description

__all__ = ["RunSession", "device_params"]


def device_params(kind: str, params: dict[str, Any], n_inputs: int | None) -> dict[str, Any]:
    """``params``, plus the task's input count where the kind declares a field for it.

    The one place a task's shape reaches a device's params (run devices and
    the reference substrate alike); the binding itself is the registry's
    (:func:`physres.registry.bind_task`), declared by each kind, never sniffed.
    """
    return registry.bind_task(kind, params, n_inputs)


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold a second Ctrl-C until teardown is done; then raise it.

    The first Ctrl-C starts the teardown; an impatient second one must not
    cut the recording short before its end note and footer are written.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old if old is not None else signal.default_int_handler)
    if pending and sys.exc_info()[0] is None:
        raise KeyboardInterrupt


class RunSession:
    """Every configured device on the bus (or local), recorded; ``device`` is the one driven.

    ``recording`` is the MCAP path (None: nothing recorded); after exit,
    ``recording_stats`` holds the recorder's counts.
    """

    def __init__(
        self,
        cfg: RunConfig,
        target: str,
        *,
        bus: BusConfig,
        n_inputs: int | None,
        recording: Path | None,
        say: Callable[[str], object] | None = None,
    ) -> None:
        self.cfg = cfg
        self.target = target
        self.bus = bus
        self.n_inputs = n_inputs
        self.recording = recording
        self.say = say
        self.device: Device | None = None
        self.description: Description | None = None
        self.recording_stats: dict[str, Any] | None = None
        self._stack = ExitStack()

    def __enter__(self) -> RunSession:
        try:
            self._open()
        except BaseException as e:
            with _sigint_deferred():
                self._stack.__exit__(type(e), e, e.__traceback__)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with _sigint_deferred():
            self._stack.__exit__(exc_type, exc, tb)

    def _open(self) -> None:
        from physres.bus import bus_for_run, ensure_broker
        from physres.device.node import DeviceNode
        from physres.device.remote import RemoteDevice
        from physres.experiments.hosts import served_elsewhere

        cfg, stack = self.cfg, self._stack
        devices = {
            name: registry.create(dc.kind, name, device_params(dc.kind, dc.params, self.n_inputs))
            for name, dc in cfg.devices.items()
        }
        self.description = devices[self.target].describe()
        if cfg.drive.via == "local":
            self.device = devices[self.target].connect()
            stack.callback(self.device.disconnect)
            return
        self.bus = bus_for_run(self.bus)  # a private bus unless the config or user named one
        ctx = zmq.Context()
        stack.callback(ctx.destroy, linger=0)
        broker = ensure_broker(self.bus, ctx, say=self.say)
        if broker is not None:
            stack.callback(broker.stop)
        # a device that a live node already serves (`physres serve` on another machine)
        # is driven there: the same config, one device, wherever it lives
        elsewhere = served_elsewhere(ctx, self.bus, devices)
        for name, row in elsewhere.items():
            if row.get("kind") != devices[name].kind:
                raise ConfigError(
                    f"device {name!r} is {devices[name].kind} in the config but the node of that "
                    f"name on bus {self.bus.name!r} serves {row.get('kind')!r} (`physres ls`)"
                )
            if self.say is not None:
                self.say(f"device {name!r}: served by {row.get('host')} (pid {row.get('pid')})")
        for d in devices.values():
            if d.name not in elsewhere:
                stack.callback(DeviceNode(d, self.bus, ctx).start().stop)
        if self.recording is not None:  # stops first: it is told why before the nodes go
            self._start_recorder(ctx, [f"{n}/" for n in devices])
        # a stepped device's outputs may take as long as its chunk takes in real time
        # (firmware in the loop runs at wall-clock pace): wait at least drive.timeout_s
        proxy = RemoteDevice(
            self.target, cfg=self.bus, ctx=ctx, timeout_s=max(30.0, cfg.drive.timeout_s)
        ).connect()
        stack.callback(proxy.disconnect)
        self.device = proxy

    def _start_recorder(self, ctx: zmq.Context, default_topics: list[str]) -> None:
        from physres.bus.record import Recorder

        assert self.recording is not None
        rec = Recorder(
            self.recording,
            self.cfg.record.topics or default_topics,
            self.bus,
            ctx,
            flush_s=self.cfg.record.flush_s,
            metadata={"run": self.cfg.name, "seed": str(self.cfg.seed)},
        )
        try:
            rec.start()
        except OSError as e:
            raise RecordingError(f"cannot record to {self.recording}: {e.strerror or e}") from e

        def stop(exc_type: Any, exc: BaseException | None, tb: Any) -> None:
            rec.stop(outcome(exc)[1])
            self.recording_stats = {"file": self.recording.name, **jsonable(rec.stats)}

        self._stack.push(stop)
