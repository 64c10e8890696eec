"""The emulated chip on the bridge's chip bus: the far side of ``firmware/neuro_bridge``.

The bridge firmware's host build starts this module as a child process
(``firmware/neuro_bridge/firmware.toml``) with one end of a socket pair on
file descriptor 3, and speaks the chip bus there: fixed-size records defined
in ``firmware/neuro_bridge/chip.h`` and ``firmware/PROTOCOL.md`` ("Chip bus").
This process is the chip: it holds the chip's memory (bias codes per core,
synapse slots per neuron), answers read-backs from that memory, and runs the
emulator's neurons on the board's clock. The board sends a time beacon every
millisecond; the chip runs up to the newest beacon whenever it has caught up
with its socket, so it batches steps when it falls behind and never runs ahead
of the board. Input events carry their board time and land on the step that
contains it (one that arrives after the chip has passed its time lands at the
current step and is counted as ``late``). Output spikes go back as ``'O'``
records stamped with the board time of their step.

It prints ``CHIP <t_us> <inputs> <outputs> <late>`` on stdout (shared with the
firmware process) every 100 ms and when it ends. Faults for tests:
``--fault stuck-weight`` makes bit 0 of every stored weight read 0 (a bad SRAM
cell: a read-back of an odd weight differs from what was written).
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import struct
import sys
import threading
import time

import numpy as np

from physres.neuro.aer import INPUT_EVENT
from physres.neuro.chips import CHIPS, ChipModel
from physres.neuro.tables import BIAS_SLOTS, SYN_DTYPE, WIRE_NPC, ChipTables, config_from_tables

__all__ = ["CHIP_IDS", "ChipBus", "EmulatedNeurons", "main"]

#: chip model numbers on the bus (proto.h CHIP_*)
CHIP_IDS = {"dynapse": 1, "brainscales2": 2}
_NPC_WIRE = WIRE_NPC
#: record type → payload bytes after the type byte (chip.h)
_LEN = {b"B": 4, b"b": 2, b"S": 7, b"s": 4, b"E": 7, b"T": 4, b"R": 4, b"I": 0}
SYN = SYN_DTYPE


class ChipBus:
    """The chip's memory and the record parser; neurons come from ``dynamics``.

    ``dynamics`` is any object with ``configure(bus)`` (rebuild from the tables),
    ``reset(t_us)`` and ``run(until_us, inputs) -> outputs`` (:data:`INPUT_EVENT`
    in, :data:`OUTPUT_EVENT` out, times in board µs). None: a chip whose neurons
    never fire (configuration tests need only the memory).
    """

    def __init__(
        self, model: ChipModel, dynamics: object | None = None, *, stuck_weight: bool = False
    ):
        self.model = model
        self.dynamics = dynamics
        self.stuck_weight = stuck_weight
        self.memory = ChipTables.empty(model)
        self.biases = self.memory.biases
        self.synapses = self.memory.rows
        #: the neurons run only once every core's biases were written (a chip is not
        #: run on whatever its bias generators hold at power-up, nor half set up)
        self.cores_set = np.zeros(model.n_cores, bool)
        self.dirty = True
        self.t_beacon = 0
        self.t_done: int | None = None
        self.pending: list[tuple[int, int, int]] = []
        self.reset_at: int | None = None
        #: feed() runs on the socket's thread, advance() on the neurons'
        self.lock = threading.Lock()
        self.inputs = self.outputs = self.late = self.bad_records = 0
        self._buf = bytearray()

    # ------------------------------------------------------------ records
    def feed(self, data: bytes) -> bytes:
        """Take bytes from the board; return the answers to its reads (in order)."""
        with self.lock:
            return self._feed(data)

    def _feed(self, data: bytes) -> bytes:
        self._buf += data
        out = bytearray()
        while self._buf:
            kind = bytes(self._buf[:1])
            n = _LEN.get(kind)
            if n is None:  # not a record: the stream is out of step; drop one byte
                self.bad_records += 1
                del self._buf[:1]
                continue
            if len(self._buf) < 1 + n:
                break
            body = bytes(self._buf[1 : 1 + n])
            del self._buf[: 1 + n]
            out += self._record(kind, body)
        return bytes(out)

    @property
    def configured(self) -> bool:
        return bool(self.cores_set.all())

    def _slot_ok(self, addr: int, slot: int) -> bool:
        return (
            addr // _NPC_WIRE < self.model.n_cores
            and slot < self.model.slots
            and (addr % _NPC_WIRE < self.model.neurons_per_core)
        )

    def _record(self, kind: bytes, b: bytes) -> bytes:
        m = self.model
        if kind == b"B":
            core, idx, coarse, fine = b
            if core < m.n_cores and idx < BIAS_SLOTS:
                self.biases[core, idx] = (coarse, fine)
                self.cores_set[core] = self.dirty = True
        elif kind == b"b":
            core, idx = b
            code = self.biases[core, idx] if core < m.n_cores and idx < BIAS_SLOTS else (0, 0)
            return b"b" + bytes((core, idx, int(code[0]), int(code[1])))
        elif kind == b"S":
            addr, slot, src, typ, w = struct.unpack("<HBHBB", b)
            if self._slot_ok(addr, slot):
                if self.stuck_weight:
                    w &= 0xFE
                self.synapses[addr, slot] = (src, typ, w)
                self.dirty = True
        elif kind == b"s":
            addr, first, n = struct.unpack("<HBB", b)
            n = min(n, 16)
            rows = np.zeros(n, SYN)
            if addr // _NPC_WIRE < m.n_cores:
                got = self.synapses[addr, first : first + n]
                rows[: len(got)] = got
            return b"s" + struct.pack("<HBB", addr, first, n) + rows.tobytes()
        elif kind == b"E":
            t_us, addr, syn = struct.unpack("<IHB", b)
            self.pending.append((t_us, addr, syn))
        elif kind == b"T":
            (self.t_beacon,) = struct.unpack("<I", b)
        elif kind == b"R":
            (t_us,) = struct.unpack("<I", b)
            self.pending.clear()
            self.reset_at = t_us
        elif kind == b"I":
            return b"I" + struct.pack(
                "<BBHHBBB",
                CHIP_IDS[m.name],
                m.n_cores,
                m.neurons_per_core,
                m.slots,
                len(m.synapse_types),
                m.max_weight_level,
                BIAS_SLOTS,
            )
        return b""

    # ------------------------------------------------------------- neurons
    def advance(self) -> bytes:
        """Run the neurons up to the newest beacon; the output records to send.

        Called from the neuron thread: what it needs is taken under the lock,
        the emulator runs outside it, so the chip's memory answers the board
        (and its socket is read) while the neurons compute or compile.
        """
        with self.lock:
            t = self.t_beacon
            reset, self.reset_at = self.reset_at, None
            if reset is not None:
                self.t_done = reset
            if self.t_done is None:
                self.t_done = t
            t_done = self.t_done
            if t - t_done <= 0 and reset is None:
                return b""
            due = [p for p in self.pending if p[0] - t <= 0]
            self.pending = [p for p in self.pending if p[0] - t > 0]
            self.inputs += len(due)
            self.late += sum(1 for p in due if p[0] < t_done)
            self.t_done = t
            memory = None
            if self.dirty and self.configured:
                memory = ChipTables(self.memory.biases.copy(), self.memory.rows.copy())
                self.dirty = False
            run = self.dynamics is not None and self.configured
        if not run:
            return b""
        dyn = self.dynamics
        if memory is not None:
            dyn.configure(memory, self.model, t_done)  # type: ignore[attr-defined]
        elif reset is not None:
            dyn.reset(reset)  # type: ignore[attr-defined]
        ev = np.array(due, dtype=[("t", "<i8"), ("addr", "<i8"), ("syn", "<i8")])
        inputs = np.empty(len(ev), INPUT_EVENT)
        inputs["t_us"] = np.maximum(ev["t"], t_done)
        inputs["core"] = ev["addr"] // _NPC_WIRE
        inputs["neuron"] = ev["addr"] % _NPC_WIRE
        inputs["syn"] = ev["syn"]
        out = dyn.run(t, inputs)  # type: ignore[attr-defined]
        with self.lock:
            self.outputs += len(out)
        return encode_outputs(out)


class EmulatedNeurons:
    """The emulator (:class:`~physres.sim.neuromorphic.chip.Chip`) on the board's clock.

    The chip's own clock starts at 0 when it is built or reset; ``t0`` is the
    board time of that moment, so events and spikes cross as ``board = t0 + chip``.
    A change of the tables rebuilds the chip from them (its neurons start at rest).
    """

    def __init__(self, **chip_kw: object) -> None:
        self.chip_kw = chip_kw
        self.chip: object | None = None
        self.t0 = 0

    def configure(self, memory: ChipTables, model: ChipModel, t_us: int) -> None:
        from physres.sim.neuromorphic.chip import Chip

        self.chip = Chip(config_from_tables(memory, model), **self.chip_kw)  # type: ignore[arg-type]
        self.t0 = t_us

    def reset(self, t_us: int) -> None:
        if self.chip is not None:
            self.chip.reset()  # type: ignore[attr-defined]
        self.t0 = t_us

    def run(self, until_us: int, inputs: np.ndarray) -> np.ndarray:
        assert self.chip is not None
        ev = inputs.copy()
        ev["t_us"] = inputs["t_us"] - self.t0
        out, _ = self.chip.run(ev, until_us - self.t0)  # type: ignore[attr-defined]
        out = out.copy()
        out["t_us"] += self.t0
        return out


def encode_outputs(out: np.ndarray) -> bytes:
    """'O' records (type, t_us u32, addr u16) for :data:`OUTPUT_EVENT` rows."""
    rec = np.empty(len(out), dtype=[("k", "u1"), ("t", "<u4"), ("addr", "<u2")])
    rec["k"] = ord("O")
    rec["t"] = out["t_us"] & 0xFFFFFFFF
    rec["addr"] = out["core"].astype(np.uint16) * _NPC_WIRE + out["neuron"]
    return rec.tobytes()


def _serve(sock: socket.socket, bus: ChipBus) -> None:
    """The socket on this thread (memory answers at once), the neurons on another."""
    send_lock = threading.Lock()
    beacon = threading.Event()
    done = threading.Event()

    def send(data: bytes) -> None:
        if data:
            with send_lock:
                sock.sendall(data)

    def report() -> None:
        print(f"CHIP {bus.t_beacon} {bus.inputs} {bus.outputs} {bus.late}", flush=True)

    def neurons() -> None:
        last_report = time.monotonic()
        try:
            while not done.is_set():
                beacon.wait(0.05)
                beacon.clear()
                send(bus.advance())
                if time.monotonic() - last_report >= 0.1:
                    last_report = time.monotonic()
                    report()
        except OSError:
            pass
        finally:
            done.set()

    worker = threading.Thread(target=neurons, name="chip-neurons", daemon=True)
    worker.start()
    try:
        while not done.is_set():
            ready, _, _ = select.select([sock], [], [], 0.05)
            if not ready:
                continue
            data = sock.recv(1 << 16)
            if not data:
                return
            send(bus.feed(data))
            beacon.set()
    except OSError:  # the board is gone (broken pipe, reset)
        return
    finally:
        done.set()
        worker.join(timeout=5)
        report()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m physres.sim.neuromorphic.chip_bus")
    ap.add_argument("--chip", choices=sorted(CHIPS), default="dynapse")
    ap.add_argument("--fd", type=int, default=3, help="the chip-bus socket (default 3)")
    ap.add_argument("--fault", choices=["stuck-weight"], action="append", default=[])
    ap.add_argument("--seed", type=int, default=0, help="temporal noise")
    ap.add_argument("--chip-seed", type=int, default=0, help="which die: the mismatch draw")
    ap.add_argument("--mismatch-cv", type=float, default=0.15, help="0: an ideal chip")
    ap.add_argument("--noise", type=float, default=0.02)
    args = ap.parse_args(argv)
    try:
        sock = socket.socket(fileno=args.fd)
    except OSError as e:
        print(f"chip_bus: no chip-bus socket on fd {args.fd}: {e}", file=sys.stderr)
        return 2
    neurons = EmulatedNeurons(
        seed=args.seed,
        chip_seed=args.chip_seed,
        mismatch=args.mismatch_cv > 0,
        mismatch_cv=args.mismatch_cv,
        noise=args.noise,
    )
    bus = ChipBus(CHIPS[args.chip], neurons, stuck_weight="stuck-weight" in args.fault)
    with sock:
        _serve(sock, bus)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
