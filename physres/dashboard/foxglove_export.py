"""``physres export foxglove RECORDING --out F.mcap``: a recording Foxglove can decode.

The recording itself is left as it is (it replays exactly); the export is a
second MCAP file, chunked and indexed by ``foxglove-sdk``, whose channels use
Foxglove's well-known schemas (see :mod:`physres.dashboard.foxglove_bridge`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FoxgloveExport", "export_foxglove", "register"]


@dataclass
class FoxgloveExport:
    out: Path
    messages: int
    written: int
    channels: dict[str, str]
    end_reason: str
    damaged: bool


def _recording_path(path: Path) -> Path:
    """A run folder names its ``recording.mcap``; a file is itself."""
    return path / "recording.mcap" if path.is_dir() else path


def export_foxglove(
    recording: str | Path, out: str | Path, *, overwrite: bool = False
) -> FoxgloveExport:
    import foxglove

    from physres.bus.record import check_recording_path, read_recording
    from physres.dashboard.foxglove_bridge import FoxgloveSink, schema_for
    from physres.errors import RecordingError

    src = check_recording_path(_recording_path(Path(recording)))
    out = Path(out)
    if out.resolve() == src.resolve():
        raise RecordingError(
            f"--out {out} is the recording itself; the raw recording is kept as it is"
        )
    if out.exists() and not overwrite:
        raise RecordingError(f"--out {out} exists; pass --overwrite to replace it")
    info, messages = read_recording(src)
    ctx = foxglove.Context()
    writer = foxglove.open_mcap(out, allow_overwrite=True, context=ctx)
    sink = FoxgloveSink(ctx)
    n = 0
    try:
        for log_time, msg in messages:
            sink.log(msg, log_time)
            n += 1
    finally:
        writer.close()
    return FoxgloveExport(
        out=out,
        messages=n,
        written=sink.written,
        channels={"/" + t: schema_for(p) for t, (p, _ch) in sink.channels.items()},
        end_reason=info.end_reason,
        damaged=info.is_damaged,
    )


def _cmd(args: argparse.Namespace) -> int:
    from physres.cli import _warn, console

    r = export_foxglove(args.recording, args.out, overwrite=args.overwrite)
    for topic, schema in sorted(r.channels.items()):
        console.print(f"{topic}: {schema}", markup=False, highlight=False)
    console.print(
        f"wrote {r.written} Foxglove messages from {r.messages} bus messages to {r.out}",
        markup=False,
        highlight=False,
    )
    if r.damaged:
        _warn(f"exported the intact records only: {r.end_reason}")
        return 1
    return 0


def register(formats: argparse._SubParsersAction) -> None:
    p = formats.add_parser(
        "foxglove",
        help="a recording (or run folder) as an MCAP file in Foxglove's schemas: images, "
        "frame transforms, events, plottable series",
    )
    p.add_argument("recording", help="recording (.mcap) or a run folder holding recording.mcap")
    p.add_argument("--out", required=True, help="output .mcap file for Foxglove")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=_cmd)
