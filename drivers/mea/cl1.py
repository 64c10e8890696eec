"""Cortical Labs CL1 through its ``cl`` API (kind ``drivers.cl1``): the MEA interface on a CL1.

The same :class:`~physres.mea.params.MEAParams` and streams as ``sim.mea``, so
a config switches between them by its ``kind:`` line. One ``apply`` row is one
tick of the CL1's closed loop (``neurons.loop``, ``step_ms`` long): the row's
pulses go out through ``neurons.stim`` (a ``ChannelSet`` per amplitude, a
biphasic ``StimDesign``), then the tick's spikes, delivered pulses and
(``raw: true``) samples are collected for ``read()``.

Safety: every row is turned into :class:`~physres.mea.stim.Stimulation`\\ s
and admitted by a :class:`~physres.mea.stim.StimGuard` with the CL1's limits
inside :meth:`check_inputs`, before the vendor sees anything (in mock mode
too); a refused chunk sends nothing. The vendor's own ``StimDesign`` checks
are a second line, never the first.

Under cl-sdk (the vendor's simulator, ``replay:`` names the recording it
replays; ``physres mea replay-file`` writes one from the simulated culture)
the driver runs unchanged; the replayed activity does not answer
stimulation. When the vendor fails mid-run (acquisition stopped, the loop
fell behind) the fault is latched and raised as a DeviceError naming the step
and the vendor's message; a CL1 recording (``record_dir:``) is stopped and
kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from physres.device.base import Device, command
from physres.device.spec import Chunk, Description, PendingChunk
from physres.drivers.mea.cl_api import is_simulator, load_cl, use_replay
from physres.errors import DeviceError, NotConnectedError, RuleError, SafetyError
from physres.mea.params import RAW_RATE_HZ, SPIKE_DTYPE, MEAParams, mea_io
from physres.mea.stim import CL1 as CL1_LIMITS
from physres.mea.stim import Pulse, StimGuard, Stimulation, check, stimulations_from_row

__all__ = ["CL1", "CL1Params"]

_NS_PER_FRAME = 1e9 / RAW_RATE_HZ
_UV_PER_UNIT = 0.195  # a CL1 sample unit in µV
_ACCEL = "CL_MOCK_ACCELERATED_TIME"
_REPLAY_ENV = "CL_MOCK_REPLAY_PATH"
_REWIND_FRAMES = 25_000  # frames per read while rewinding a replay (1 s: bounded memory)


def _design_args(pulse: Pulse) -> list[int | float]:
    """``StimDesign``'s arguments: width (whole µs, on the grid: checked), current, ..."""
    return [v for w, i in pulse.phases for v in (int(w), float(i))]


@contextmanager
def _accelerated(on: bool) -> Iterator[None]:
    """cl-sdk reads CL_MOCK_ACCELERATED_TIME when a session opens; set it for that only."""
    if not on:
        yield
        return
    before = os.environ.get(_ACCEL)
    os.environ[_ACCEL] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_ACCEL, None)
        else:
            os.environ[_ACCEL] = before


class CL1Params(MEAParams):
    """Where the CL1 (or cl-sdk) is and how the session runs."""

    #: cl-sdk only: the H5 recording the simulator replays (`physres mea replay-file`);
    #: None: $CL_MOCK_REPLAY_PATH (cl-sdk's own variable), so one config serves a CL1
    #: and cl-sdk alike; set on a CL1 it is refused (a real culture is not replayed)
    replay: str | None = None
    #: cl-sdk only: replay as fast as the driver asks (CL_MOCK_ACCELERATED_TIME=1)
    #: instead of at the CL1's wall-clock pace
    accelerated: bool = True
    #: how long before a stim the CL1 schedules it (µs; its API's minimum 80, steps of 40)
    lead_time_us: int = Field(80, ge=80, le=10_000, multiple_of=40)
    #: a folder for the CL1's own H5 recording of the session (`neurons.record`), kept
    #: whatever ends the session; None: physres's recording only
    record_dir: str | None = None

    @model_validator(mode="after")
    def _fits_a_cl1(self) -> CL1Params:
        if self.n_channels != 64:
            raise RuleError(
                "layout", f"a CL1 has 64 electrodes; layout {self.layout!r} has {self.n_channels}"
            )
        tps = 1000.0 / self.step_ms
        if abs(tps - round(tps)) > 1e-9:
            raise RuleError(
                "step_ms",
                f"step_ms {self.step_ms:g} is not a whole number of loop ticks per second "
                "(the CL1's loop takes ticks_per_second as an integer: 1, 2, 4, 5, 10 ms...)",
            )
        try:  # the configured pulse at full amplitude: refused now rather than at every step
            check(
                Stimulation(
                    (self.stim_electrodes[0],), Pulse.biphasic(self.amplitude_ua, self.phase_us)
                ),
                CL1_LIMITS,
                where="amplitude_ua × phase_us",
            )
        except SafetyError as e:
            raise RuleError("amplitude_ua", str(e)) from e
        return self


class CL1(Device):
    """``drivers.cl1``: a CL1 culture (or cl-sdk's replay of one) behind the MEA interface."""

    Params = CL1Params
    default_kind = "drivers.cl1"
    #: one apply row = one tick of the CL1's loop, whose frames are its clock
    clock = "stepped"
    params: CL1Params

    def __init__(self, name: str | None = None, *, mock: bool = False, **params: Any) -> None:
        super().__init__(name or "cl1", mock=mock, **params)
        p = self.params
        self.guard = StimGuard(CL1_LIMITS, allowed=p.stim_electrodes)
        self._spikes = PendingChunk(np.zeros(0, SPIKE_DTYPE))
        self._pulses = PendingChunk(np.zeros(0, SPIKE_DTYPE))
        self._raw = PendingChunk(np.zeros((0, p.n_channels), np.float32))
        self._admitted: list[list[Stimulation]] = []
        self._steps = 0  # steps admitted: the guard's clock
        self._cl: ModuleType | None = None
        self._session: Any = None  # the cl.open() context manager
        self._neurons: Any = None
        self._ticks: Iterator[Any] | None = None
        self._t0_frame = 0
        self._recording: Any = None
        self._replay: Path | None = None  # the file cl-sdk replays (None on a CL1)
        #: the CL1 recording's file, once one was started
        self.vendor_recording: str | None = None

    def describe(self) -> Description:
        streams, inputs, meta = mea_io(self.params)
        meta = {**meta, "limits": CL1_LIMITS.name, "replay": self.params.replay}
        return self._description(streams=streams, inputs=inputs, meta=meta)

    # ------------------------------------------------------------- safety
    def check_inputs(
        self, inputs: Mapping[str, Any], desc: Description | None = None
    ) -> dict[str, np.ndarray]:
        """The base checks, then every row's pulses through the CL1 guard (all or nothing)."""
        checked = super().check_inputs(inputs, desc)
        p = self.params
        rows = checked["stim"]
        plan = [
            stimulations_from_row(row, p.stim_electrodes, p.phase_us, (self._steps + k) * p.step_ns)
            for k, row in enumerate(rows)
        ]
        self.guard.admit([s for step in plan for s in step], where=f"{self.name}.stim")
        self._admitted = plan
        self._steps += len(rows)
        return checked

    # ---------------------------------------------------------- transport
    def _connect(self) -> None:
        p = self.params
        cl = load_cl(p.replay)
        self._replay = None
        self._fault = None  # a new session: a fault latched in the last one is history
        if is_simulator(cl):
            replay = p.replay or os.environ.get(_REPLAY_ENV) or cl._CL_MOCK_REPLAY_PATH
            if replay is None or replay == os.devnull:
                raise DeviceError(
                    f"{self.name}: this is cl-sdk (the CL1 simulator) and no recording is chosen "
                    f"for it to replay: set `replay:` or {_REPLAY_ENV} (write one with "
                    "`physres mea replay-file OUT.h5`)"
                )
            self._replay = use_replay(cl, replay)
        elif p.replay is not None:
            use_replay(cl, p.replay)  # refused: a CL1's own API, naming the fix
        self._cl = cl
        self._session = cl.open()
        try:
            with _accelerated(p.accelerated and is_simulator(cl)):
                self._neurons = self._session.__enter__()
            n = self._neurons.get_channel_count()
            if n != p.n_channels:
                raise DeviceError(f"{self.name}: the CL1 reports {n} channels, expected 64")
            self._start_loop()
            if p.record_dir is not None:
                self._recording = self._neurons.record(
                    file_location=str(Path(p.record_dir).resolve()),
                    attributes={"physres_device": self.name},
                )
                self.vendor_recording = self._recording.file["path"]
        except BaseException:
            self._close_session()
            raise

    def _start_loop(self) -> None:
        assert self._neurons is not None
        self._rewind_replay()
        tps = round(1000.0 / self.params.step_ms)
        self._ticks = iter(self._neurons.loop(tps, ignore_jitter=True))
        self._t0_frame = self._neurons.timestamp()

    def _rewind_replay(self) -> None:
        """cl-sdk starts its replay at a random frame: read ahead (public ``read``) to the
        recording's first frame, so a session, and a session after ``reset``, repeats."""
        if self._replay is None:
            return
        from cl.util import RecordingView

        view = RecordingView(str(self._replay))
        try:
            n = int(view.attributes["duration_frames"])
            start = int(view.attributes["start_timestamp"])
        finally:
            view.close()
        ahead = (start - self._neurons.timestamp()) % n
        while ahead > 0:
            k = min(ahead, _REWIND_FRAMES)
            self._neurons.read(k, None)
            ahead -= k

    def _disconnect(self) -> None:
        self._close_session()

    def _close_session(self) -> None:
        """Stop the loop and the CL1 recording, close the session; each step runs regardless."""
        ticks, self._ticks = self._ticks, None
        rec, self._recording = self._recording, None
        session, self._session = self._session, None
        self._neurons = None
        try:
            if ticks is not None and hasattr(ticks, "close"):
                ticks.close()
            if rec is not None:
                rec.stop()
        finally:
            if session is not None:
                session.__exit__(None, None, None)

    def _apply(self, inputs: dict[str, np.ndarray]) -> None:
        if self._fault is not None:
            raise DeviceError(f"{self.name}: {self._fault}; reconnect to start a new session")
        if self._ticks is None or self._cl is None:
            raise NotConnectedError(f"{self.name}: no CL1 session; call connect()")
        cl, neurons = self._cl, self._neurons
        plan, self._admitted = self._admitted, []
        lead = self.params.lead_time_us
        first = self._steps - len(plan)
        for k, stims in enumerate(plan):
            try:
                for s in stims:
                    design = cl.StimDesign(*_design_args(s.pulse))
                    neurons.stim(cl.ChannelSet(*s.electrodes), design, lead_time_us=lead)
                tick = next(self._ticks)
            except StopIteration:
                self._latch(first + k, "the CL1 loop ended")
            except Exception as e:  # the vendor's failure, whatever its type: latch, name it
                self._latch(first + k, f"{type(e).__name__}: {e}", e)
            self._collect(tick)
        self._forget_replayed()

    def _forget_replayed(self) -> None:
        """cl-sdk keeps every sample, spike and stim it replayed for a recording that may
        come (3.2 MB per second); with none running, drop them so a long run stays small."""
        if self._replay is not None and self._recording is None:
            for cache in ("_recording_samples", "_recording_spikes", "_recording_stims"):
                getattr(self._neurons, cache, []).clear()

    def _latch(self, step: int, why: str, cause: BaseException | None = None) -> None:
        t_s = step * self.params.step_ms / 1000
        self._fault = f"CL1 acquisition stopped at step {step} ({t_s:g} s): {why}"
        raise DeviceError(f"{self.name}: {self._fault}") from cause

    def _collect(self, tick: Any) -> None:
        t_tick = round((tick.timestamp - self._t0_frame) * _NS_PER_FRAME)
        spikes = tick.analysis.spikes
        ev = np.empty(len(spikes), SPIKE_DTYPE)
        ev["t_ns"] = [round((s.timestamp - self._t0_frame) * _NS_PER_FRAME) for s in spikes]
        ev["channel"] = [s.channel for s in spikes]
        self._spikes.add(ev, t_tick)
        stims = tick.analysis.stims
        pv = np.empty(len(stims), SPIKE_DTYPE)
        pv["t_ns"] = [round((s.timestamp - self._t0_frame) * _NS_PER_FRAME) for s in stims]
        pv["channel"] = [s.channel for s in stims]
        self._pulses.add(pv, t_tick)
        if self.params.raw:
            self._raw.add(np.asarray(tick.frames, np.float32) * np.float32(_UV_PER_UNIT), t_tick)
        self._clock_ns = t_tick + self.params.step_ns

    def _read(self) -> dict[str, Chunk]:
        out = {
            "spikes": self._spikes.take(self._clock_ns),
            "pulses": self._pulses.take(self._clock_ns),
        }
        if self.params.raw:
            out["raw"] = self._raw.take(self._clock_ns)
        return out

    def _reset(self, seed: int | None) -> None:
        """A new loop from the CL1's present; under cl-sdk from the replay's first frame.

        A culture cannot be rewound or reseeded (``seed`` is unused); a replay can.
        """
        self.guard.reset()
        self._steps = 0
        self._admitted = []
        for pending in (self._spikes, self._pulses, self._raw):
            pending.clear()
        if self._ticks is not None and self._fault is None:
            close = getattr(self._ticks, "close", None)
            if close is not None:
                close()
            # pulses still queued from before the reset must not land after it
            self._neurons.interrupt(self._cl.ChannelSet(*self.params.stim_electrodes))
            self._start_loop()

    @command
    def refused(self) -> int:
        """Stimulation chunks refused by the safety guard since construction."""
        return self.guard.refused
