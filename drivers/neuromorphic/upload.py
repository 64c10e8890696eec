"""Diff-and-upload of a chip configuration through the bridge, with read-back.

The chip's memory (:class:`~physres.neuro.tables.ChipTables`) is compared with
what the configuration needs, table by table: each core's bias registers are
read back and rewritten only when they differ; each neuron's synapse row is
compared by the CRC the board computes over the row it reads from the chip
(ROW_CRC, 56 rows a request), and only rows whose CRC differs are written.
Everything written is then read back entry by entry; a difference raises
:class:`ConfigMismatch` naming the core and bias, or the neuron and slot, with
the value written and the value read, so no experiment runs on a chip that
holds something else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from physres.drivers.neuromorphic import protocol as P
from physres.errors import DeviceError
from physres.neuro.config import BIAS_NAMES
from physres.neuro.tables import BIAS_SLOTS, WIRE_NPC, ChipTables, row_crc

__all__ = ["ConfigMismatch", "UploadReport", "upload"]

Request = Callable[[P.Msg, bytes], bytes]


class ConfigMismatch(DeviceError):
    """The chip read back something other than what was written to it."""


@dataclass
class UploadReport:
    """What an upload sent: tables compared, tables rewritten, frames used."""

    cores_written: list[int] = field(default_factory=list)
    rows_written: list[int] = field(default_factory=list)
    rows_compared: int = 0
    frames: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "cores_written": list(self.cores_written),
            "rows_written": len(self.rows_written),
            "rows_compared": self.rows_compared,
            "frames": self.frames,
        }


def _bias_name(i: int) -> str:
    return BIAS_NAMES[i] if i < len(BIAS_NAMES) else "input_weight"


def upload(
    request: Request, want: ChipTables, npc: int, where: str, rows: np.ndarray | None = None
) -> UploadReport:
    """Make the chip hold ``want``; ``rows``: the wire addresses to compare (default all)."""
    rep = UploadReport()

    def ask(msg: P.Msg, payload: bytes) -> bytes:
        """One request; a chip read that timed out (CHIP) is asked again twice: an
        emulated chip on a busy host can be slow to answer, a lost chip stays lost."""
        reply = b""
        for _ in range(3):
            rep.frames += 1
            reply = request(msg, payload)
            if reply[:1] != bytes([P.ErrorCode.CHIP]):
                break
        return reply

    n_cores = want.biases.shape[0]
    for core in range(n_cores):
        got = _read_biases(ask, core, where)
        if not np.array_equal(got, want.biases[core]):
            P.parse_count(
                P.Msg.WRITE_BIASES,
                ask(P.Msg.WRITE_BIASES, P.write_biases_payload(core, 0, want.biases[core])),
                where,
            )
            rep.cores_written.append(core)
    if rows is None:
        rows = np.array([c * WIRE_NPC + n for c in range(n_cores) for n in range(npc)])
    rows = np.asarray(rows, np.int64)
    for start in range(0, len(rows), P.CRC_PER_FRAME):
        chunk = rows[start : start + P.CRC_PER_FRAME]
        # ROW_CRC takes a contiguous run of addresses; cut at every gap
        for run in np.split(chunk, np.flatnonzero(np.diff(chunk) != 1) + 1):
            first, crcs = P.parse_row_crc(
                ask(P.Msg.ROW_CRC, P.row_crc_payload(int(run[0]), len(run))), where
            )
            if first != run[0] or len(crcs) != len(run):
                raise DeviceError(
                    f"{where}: ROW_CRC answered rows {first}+{len(crcs)}, asked {run[0]}+{len(run)}"
                )
            rep.rows_compared += len(run)
            for addr, crc in zip(run, crcs):
                if int(crc) != row_crc(want.rows[addr]):
                    _write_row(ask, int(addr), want.rows[addr], where)
                    rep.rows_written.append(int(addr))
    verify(ask, want, rep.cores_written, rep.rows_written, where)
    return rep


def _read_biases(ask: Request, core: int, where: str) -> np.ndarray:
    _, _, codes = P.parse_biases(
        ask(P.Msg.READ_BIASES, P.read_biases_payload(core, 0, BIAS_SLOTS)), where
    )
    return codes


def _write_row(ask: Request, addr: int, row: np.ndarray, where: str) -> None:
    for first in range(0, len(row), P.SYN_PER_FRAME):
        part = row[first : first + P.SYN_PER_FRAME]
        payload = P.write_synapses_payload(addr, first, part)
        P.parse_count(P.Msg.WRITE_SYNAPSES, ask(P.Msg.WRITE_SYNAPSES, payload), where)


def _read_row(ask: Request, addr: int, slots: int, where: str) -> np.ndarray:
    parts = []
    for first in range(0, slots, P.SYN_PER_FRAME):
        n = min(P.SYN_PER_FRAME, slots - first)
        reply = ask(P.Msg.READ_SYNAPSES, P.read_synapses_payload(addr, first, n))
        _, _, entries = P.parse_synapses(reply, where)
        parts.append(entries)
    return np.concatenate(parts)


def verify(ask: Request, want: ChipTables, cores: list[int], rows: list[int], where: str) -> None:
    """Read back the given cores' biases and rows; :class:`ConfigMismatch` on any difference."""
    for core in cores:
        got = _read_biases(ask, core, where)
        diff = np.flatnonzero((got != want.biases[core]).any(axis=1))
        if diff.size:
            i = int(diff[0])
            wrote = tuple(int(v) for v in want.biases[core, i])
            raise ConfigMismatch(
                f"{where}: read-back of core {core} bias {_bias_name(i)} gave "
                f"{tuple(int(v) for v in got[i])}, wrote {wrote} "
                f"({diff.size} of {BIAS_SLOTS} registers differ); nothing was run"
            )
    slots = want.rows.shape[1]
    for addr in rows:
        got = _read_row(ask, addr, slots, where)
        diff = np.flatnonzero(got != want.rows[addr])
        if diff.size:
            s = int(diff[0])
            g, w = got[s], want.rows[addr][s]
            raise ConfigMismatch(
                f"{where}: read-back of neuron {addr} (core {addr // WIRE_NPC}, neuron "
                f"{addr % WIRE_NPC}) slot {s} gave (src {int(g['src'])}, type {int(g['type'])}, "
                f"weight {int(g['weight'])}), wrote (src {int(w['src'])}, type {int(w['type'])}, "
                f"weight {int(w['weight'])}) ({diff.size} slots of that row differ); "
                "nothing was run"
            )
