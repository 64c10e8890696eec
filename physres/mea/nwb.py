"""An MEA run folder as one NWB file (``physres export nwb RUN_DIR``), through pynwb.

NWB is what electrophysiology archives (DANDI) and analysis tools read. Any
MEA kind's run folder exports the same way, because every kind speaks the
interface of :mod:`physres.mea.params`:

* ``electrodes``: the layout's positions (``rel_x``/``rel_y``, µm) and labels,
  one electrode group for the array, a device named by the run's kind;
* ``units``: one multi-unit per electrode, its detected spike times (s);
* ``intervals/stimulation``: one interval per delivered pulse (the ``pulses``
  stream) with its electrode, amplitude (from the rows the device was sent)
  and phase width;
* ``trials``: the task's episodes (split, and the class label where there is
  one), when they line up with the recorded drive;
* provenance: ``run.json`` in ``notes``, ``config.yaml`` in ``protocol``, what
  could not be exported in ``data_collection``.

Times: device time restarts at every reset (classification episodes reset
the culture), so the export lays the recorded applies end to end on one
session clock, using the ``sent`` messages (each carries its rows and the
device time after them). A damaged recording exports its intact records and
says what was skipped; a folder that is no MEA run, or lacks ``run.json`` or
``config.yaml``, is refused with what is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from physres.errors import ConfigError, DataError, RecordingError, RunFolderError
from physres.mea.params import RAW_RATE_HZ, MEAParams

__all__ = ["MEARun", "NWBExport", "export_after_run", "export_nwb", "is_mea_kind", "read_mea_run"]


@dataclass
class MEARun:
    """What an MEA run folder holds, on one session clock (seconds)."""

    folder: Path
    device: str
    kind: str
    params: MEAParams
    run: dict[str, Any]
    config_text: str
    spike_t: np.ndarray
    spike_ch: np.ndarray
    pulse_t: np.ndarray
    pulse_ch: np.ndarray
    pulse_ua: np.ndarray
    #: (start s, stop s, split, label or -1) per task episode that lines up with the drive
    trials: list[tuple[float, float, str, int]] = field(default_factory=list)
    #: what the export had to leave out, one sentence each
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NWBExport:
    """What :func:`export_nwb` wrote and what it left out."""

    out: Path
    spikes: int
    pulses: int
    trials: int
    notes: tuple[str, ...]


def _read_text(folder: Path, name: str, what: str) -> str:
    p = folder / name
    if not p.is_file():
        raise RunFolderError(
            f"{folder}: no {name}; expected a physres run folder ({what} is needed for the export)"
        )
    return p.read_text()


def _mea_device(folder: Path, cfg: Any, run: dict[str, Any]) -> tuple[str, str, MEAParams]:
    from physres import registry

    names = [run.get("device")] if run.get("device") in cfg.devices else list(cfg.devices)
    for name in names:
        dc = cfg.devices[name]
        cls, _ = registry.resolve(dc.kind)
        if issubclass(cls.Params, MEAParams):
            return name, dc.kind, cls.Params(**dc.params)
    listing = ", ".join(f"{n}: {d.kind}" for n, d in cfg.devices.items())
    raise DataError(
        f"{folder} is not an MEA run: its devices ({listing}) are no MEA kind "
        "(sim.mea, drivers.cl1, drivers.openephys); NWB export reads spikes and electrodes"
    )


class _Clock:
    """Device time → session time: each apply's rows laid end to end (resets restart t_dev).

    A stepped device answers each apply with chunks tagged by its ``in_seq``; its
    clock restarts at every reset, so the applies are laid end to end. A
    wall-clock device (a rig streaming as it goes) publishes untagged chunks on
    one clock of its own: that clock is the session's (``wall``).
    """

    def __init__(self, step_ns: int, sent: list[tuple[int, int, np.ndarray]], wall: bool) -> None:
        self.step_ns = step_ns
        self.offset: dict[int, int] = {}  # in_seq → session ns at device time 0
        self.rows: list[np.ndarray] = []  # the rows of every apply, in order
        self.row_t: list[np.ndarray] = []  # session ns of each row's start
        end, dev_end, base = 0, None, 0
        for in_seq, t_dev, rows in sent:
            start = t_dev - len(rows) * step_ns
            if wall:
                base = 0
            elif dev_end is None or start != dev_end:  # first apply, or after a reset
                base = end - start  # this segment starts where the last one ended
            self.offset[in_seq] = base
            self.rows.append(np.asarray(rows, np.float64).reshape(len(rows), -1))
            self.row_t.append(base + start + np.arange(len(rows), dtype=np.int64) * step_ns)
            end, dev_end = base + t_dev, t_dev

    def session_ns(self, in_seq: Any, t_ns: np.ndarray) -> np.ndarray:
        return t_ns + self.offset.get(in_seq, 0) if isinstance(in_seq, int) else t_ns


def read_mea_run(folder: str | Path) -> MEARun:
    """Read an MEA run folder (``config.yaml``, ``run.json``, ``recording.mcap``)."""
    from physres.bus.record import read_recording
    from physres.config import parse_config

    folder = Path(folder)
    if not folder.is_dir():
        raise RunFolderError(f"{folder} is not a folder; expected a physres run folder")
    run_text = _read_text(folder, "run.json", "its provenance")
    try:
        run = json.loads(run_text)
    except json.JSONDecodeError as e:
        raise RunFolderError(f"{folder}/run.json is not JSON: {e}") from None
    if not isinstance(run, dict):
        raise RunFolderError(f"{folder}/run.json holds {type(run).__name__}, not an object")
    config_text = _read_text(folder, "config.yaml", "the device's parameters")
    cfg = parse_config(config_text, str(folder / "config.yaml"))
    device, kind, params = _mea_device(folder, cfg, run)
    rec_path = folder / "recording.mcap"
    if not rec_path.exists():
        raise RecordingError(
            f"{folder}: no recording.mcap (the run was not recorded: `record: enabled: false`, "
            "or `drive: via: local`); NWB export needs the recorded spikes"
        )
    info, messages = read_recording(rec_path, [f"{device}/"])
    sent: list[tuple[int, int, np.ndarray]] = []
    spikes: list[tuple[Any, np.ndarray]] = []
    pulses: list[tuple[Any, np.ndarray]] = []
    for _, msg in messages:
        if msg.source != device:
            continue
        arr = msg.arrays.get(msg.stream)
        if msg.stream == "sent" and "stim" in msg.arrays:
            sent.append((int(msg.meta.get("in_seq", -1)), msg.t_dev, msg.arrays["stim"]))
        elif msg.stream in ("spikes", "pulses") and arr is not None and arr.dtype.names:
            (spikes if msg.stream == "spikes" else pulses).append((msg.meta.get("in_seq"), arr))
    tagged = any(isinstance(s, int) for s, _ in (*spikes, *pulses))
    clock = _Clock(params.step_ns, sent, wall=not tagged and bool(spikes or pulses))
    notes = []
    if info.is_damaged or info.truncated:
        notes.append(f"recording {info.end_reason}: exported the intact records only")

    def on_clock(parts: list[tuple[Any, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        if not parts:
            return np.zeros(0), np.zeros(0, np.int64)
        t = np.concatenate([clock.session_ns(s, a["t_ns"].astype(np.int64)) for s, a in parts])
        ch = np.concatenate([a["channel"].astype(np.int64) for _, a in parts])
        order = np.argsort(t, kind="stable")
        return t[order] / 1e9, ch[order]

    spike_t, spike_ch = on_clock(spikes)
    pulse_t, pulse_ch = on_clock(pulses)
    pulse_ua = _amplitudes(clock, params, pulse_t, pulse_ch, notes)
    bad = (spike_ch < 0) | (spike_ch >= params.n_channels)
    if bad.any():
        notes.append(f"{int(bad.sum())} spikes on channels outside the layout skipped")
        spike_t, spike_ch = spike_t[~bad], spike_ch[~bad]
    out = MEARun(
        folder, device, kind, params, run, config_text,
        spike_t, spike_ch, pulse_t, pulse_ch, pulse_ua, notes=notes,
    )  # fmt: skip
    out.trials = _trials(cfg, clock, notes)
    return out


def _amplitudes(
    clock: _Clock, p: MEAParams, t: np.ndarray, ch: np.ndarray, notes: list[str]
) -> np.ndarray:
    """Each pulse's amplitude: the sent row at its step, the column of its electrode."""
    amp = np.full(len(t), np.nan)
    if not len(t) or not clock.rows:
        return amp
    rows, row_t = np.concatenate(clock.rows), np.concatenate(clock.row_t) / 1e9
    k = np.searchsorted(row_t, t, side="right") - 1
    col = {e: j for j, e in enumerate(p.stim_electrodes)}
    for i, (ki, c) in enumerate(zip(k.tolist(), ch.tolist())):
        if ki >= 0 and c in col and col[c] < rows.shape[1]:
            amp[i] = rows[ki, col[c]]
    if np.isnan(amp).any():
        notes.append(f"{int(np.isnan(amp).sum())} pulses without a recorded amplitude (NaN)")
    return amp


def _trials(cfg: Any, clock: _Clock, notes: list[str]) -> list[tuple[float, float, str, int]]:
    """The task's episodes on the session clock, if the recorded rows line up with them."""
    if cfg.task is None:
        return []
    from physres import tasks

    try:
        params = dict(cfg.task.params)
        if cfg.readout.alpha is not None:
            params["alpha"] = cfg.readout.alpha
        task = tasks.create(cfg.task.kind, **params)
        data = task.generate(cfg.seed)
    except Exception as e:  # labels are a courtesy: say why they are missing, export the rest
        notes.append(f"task labels left out: the task could not be regenerated ({e})")
        return []
    if not clock.row_t:
        notes.append("task labels left out: no `sent` rows recorded to place them in time")
        return []
    row_t = np.concatenate(clock.row_t)
    hold, step = task.params.hold, clock.step_ns
    out, r = [], 0
    episodes = [("train", ep) for ep in data.train] + [("test", ep) for ep in data.test]
    for split, ep in episodes:
        n = ep.n_steps * hold
        if r + n > len(row_t):
            notes.append(
                f"task labels: {len(episodes) - len(out)} of {len(episodes)} episodes were not "
                "(completely) driven before the recording ended"
            )
            break
        label = ep.y if isinstance(ep.y, int) else -1
        out.append((row_t[r] / 1e9, (row_t[r + n - 1] + step) / 1e9, split, label))
        r += n
    if r < len(row_t) and len(out) == len(episodes):
        notes.append(f"{len(row_t) - r} rows after the task's episodes (free run) not labelled")
    return out


def _session_start(run: dict[str, Any]) -> datetime:
    started = run.get("started")
    if isinstance(started, str):
        with contextlib.suppress(ValueError):
            return datetime.strptime(started, "%Y-%m-%dT%H:%M:%S%z")
    raise RunFolderError(
        f"run.json: 'started' is {started!r}, not a time like 2026-01-31T12:00:00+0000"
    )


def export_nwb(
    folder: str | Path,
    out: str | Path | None = None,
    *,
    age: str = "P0D/",
    species: str | None = None,
    sex: str = "U",
) -> NWBExport:
    """Write ``folder``'s MEA run as NWB (default ``folder/recording.nwb``); see module doc.

    ``age`` (ISO 8601 duration: the culture's days in vitro, e.g. ``P21D``),
    ``species`` and ``sex`` describe the culture as NWB's Subject; physres
    cannot know them, so the defaults say "unknown" in NWB's own terms (an
    open range from 0 days, sex ``U``) rather than invent them.
    """
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.epoch import TimeIntervals
    from pynwb.file import Subject
    from pynwb.misc import Units

    from physres import __version__

    r = read_mea_run(folder)
    out = Path(out) if out is not None else r.folder / "recording.nwb"
    if out.suffix.lower() != ".nwb":
        raise ConfigError(f"export to {out}: expected a file ending in .nwb")
    if out.is_dir():
        raise ConfigError(f"export to {out}: is a directory; name the file to write")
    lay = r.params.electrodes
    start = _session_start(r.run)
    nwb = NWBFile(
        session_description=f"physres run {r.run.get('name', r.folder.name)}: "
        f"{r.run.get('task', 'no task')} on {r.kind} device {r.device!r}",
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"physres:{r.folder.resolve()}:{start}")),
        session_start_time=start.astimezone(UTC),
        session_id=r.folder.name.replace("/", "_"),
        experiment_description=f"reservoir computing with an MEA culture ({r.kind})",
        notes=json.dumps(r.run, indent=2, default=str),
        protocol=r.config_text,
        source_script=f"physres {__version__} export nwb",
        source_script_file_name="physres",
        data_collection="; ".join(r.notes) or "complete",
        keywords=["physres", "reservoir computing", "multi-electrode array", r.kind],
    )
    nwb.subject = Subject(
        subject_id=r.device,
        description=f"the culture behind device {r.device!r} ({r.kind})",
        age=age,
        species=species,
        sex=sex,
    )
    dev = nwb.create_device(
        name=r.kind,
        description=f"{r.kind} ({'simulated culture' if r.kind.startswith('sim.') else 'MEA rig'})",
    )
    group = nwb.create_electrode_group(
        name="array",
        description=f"{lay.name}: {lay.n_channels} electrodes at {lay.pitch_um:g} µm pitch",
        location="culture dish",
        device=dev,
    )
    nwb.add_electrode_column("label", "electrode label on the array")
    nwb.add_electrode_column("stimulating", "whether the run could stimulate on it")
    stim = set(r.params.stim_electrodes)
    for i, ((x, y), label) in enumerate(zip(lay.positions.tolist(), lay.labels)):
        nwb.add_electrode(
            group=group, location="culture dish", rel_x=x, rel_y=y, rel_z=0.0,
            label=label, stimulating=i in stim,
        )  # fmt: skip
    # spike times lie on the rigs' 25 kHz sample grid (the simulator's dt is coarser)
    nwb.units = Units(
        name="units", description="multi-unit activity per electrode", resolution=1 / RAW_RATE_HZ
    )
    nwb.add_unit_column("channel", "electrode (row of the electrodes table) the unit is on")
    for ch in range(lay.n_channels):
        times = r.spike_t[r.spike_ch == ch]
        nwb.add_unit(spike_times=times, electrodes=[ch], channel=ch)
    if len(r.pulse_t):
        ti = TimeIntervals(
            name="stimulation",
            description="biphasic current pulses delivered (charge-balanced, cathodic first)",
        )
        ti.add_column("electrode", "stimulating electrode (row of the electrodes table)")
        ti.add_column("amplitude_ua", "current of each phase, µA")
        ti.add_column("phase_us", "width of each phase, µs")
        width_s = 2 * r.params.phase_us / 1e6
        for t, ch, ua in zip(r.pulse_t.tolist(), r.pulse_ch.tolist(), r.pulse_ua.tolist()):
            ti.add_row(
                start_time=t, stop_time=t + width_s, electrode=ch,
                amplitude_ua=ua, phase_us=r.params.phase_us,
            )  # fmt: skip
        nwb.add_time_intervals(ti)
    if r.trials:
        nwb.add_trial_column("split", "train or test")
        nwb.add_trial_column("label", "class label of the episode (-1: per-step targets)")
        for a, b, split, label in r.trials:
            nwb.add_trial(start_time=a, stop_time=b, split=split, label=label)
    tmp = out.with_name(f".{out.stem}.partial.nwb")  # pynwb warns about other endings
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwb)
        os.replace(tmp, out)
    except OSError as e:
        raise RecordingError(f"export to {out}: cannot write it: {e.strerror or e}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return NWBExport(out, len(r.spike_t), len(r.pulse_t), len(r.trials), tuple(r.notes))


def is_mea_kind(kind: str) -> bool:
    """Whether device ``kind`` speaks the MEA interface (its Params are MEAParams)."""
    from physres import registry

    try:
        cls, _ = registry.resolve(kind)
    except ConfigError:
        return False
    return issubclass(cls.Params, MEAParams)


def export_after_run(folder: str | Path) -> dict[str, Any]:
    """``physres run``'s last step for an MEA run: ``recording.nwb`` beside the recording.

    Whatever ended the run (a CL1 that stopped mid-way included), what was
    recorded is exported; this never raises (the run's own outcome is what
    counts): what went wrong comes back under ``error`` for ``run.json``.
    """
    try:
        r = export_nwb(folder)
    except ImportError as e:
        return {"error": f"pynwb is not installed ({e}); pip install 'physres[mea]'"}
    except Exception as e:  # reported in run.json, never masking how the run ended
        return {"error": f"{type(e).__name__}: {e}"}
    return {
        "file": r.out.name,
        "spikes": r.spikes,
        "pulses": r.pulses,
        "trials": r.trials,
        "notes": list(r.notes),
    }
