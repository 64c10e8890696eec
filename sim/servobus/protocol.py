"""The Feetech STS/SCS wire format, both directions, as pure functions.

Instruction packet: ``FF FF id len instr params... chk``; status packet:
``FF FF id len error params... chk``; ``len`` counts instr/error + params + chk,
``chk = ~(id + len + instr + params) & 0xFF``. Multi-byte registers are little
endian (the SDK's ``SCS_END = 0`` for STS servos).

Bytes go into :class:`PacketParser` (``feed``) and complete packets come out;
garbage and bad checksums are counted in named counters, never raised, because
a real half-duplex bus does see noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "BROADCAST_ID",
    "INSTRUCTION_NAMES",
    "INST_ACTION",
    "INST_PING",
    "INST_READ",
    "INST_REG_WRITE",
    "INST_SYNC_READ",
    "INST_SYNC_WRITE",
    "INST_WRITE",
    "Packet",
    "PacketParser",
    "checksum",
    "encode",
]

BROADCAST_ID = 0xFE
INST_PING = 0x01
INST_READ = 0x02
INST_WRITE = 0x03
INST_REG_WRITE = 0x04
INST_ACTION = 0x05
INST_SYNC_READ = 0x82
INST_SYNC_WRITE = 0x83
INSTRUCTION_NAMES = {
    INST_PING: "ping",
    INST_READ: "read",
    INST_WRITE: "write",
    INST_REG_WRITE: "reg_write",
    INST_ACTION: "action",
    INST_SYNC_READ: "sync_read",
    INST_SYNC_WRITE: "sync_write",
}
_MAX_LEN = 250  # the SDK's RXPACKET_MAX_LEN / TXPACKET_MAX_LEN


def checksum(body: bytes) -> int:
    """``~sum(id, len, instr/error, params) & 0xFF``."""
    return ~sum(body) & 0xFF


def encode(servo_id: int, code: int, params: bytes = b"") -> bytes:
    """One packet; ``code`` is the instruction (host → servo) or error byte (servo → host)."""
    if not 0 <= servo_id <= 0xFE:
        raise ValueError(f"servo id {servo_id} is outside 0..254")
    body = bytes([servo_id, len(params) + 2, code]) + bytes(params)
    return b"\xff\xff" + body + bytes([checksum(body)])


@dataclass(frozen=True)
class Packet:
    """A decoded packet: ``code`` is the instruction or, for status packets, the error byte."""

    id: int
    code: int
    params: bytes
    t: float = 0.0

    @property
    def name(self) -> str:
        return INSTRUCTION_NAMES.get(self.code, f"0x{self.code:02x}")


@dataclass
class PacketParser:
    """Incremental decoder: ``feed(bytes)`` returns every packet completed so far.

    ``garbage_bytes`` counts bytes skipped while hunting for a header and
    ``bad_checksums`` the packets dropped for a wrong checksum (resync starts
    one byte after the false header, as the SDK's own receiver does).
    """

    garbage_bytes: int = 0
    bad_checksums: int = 0
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes, t: float = 0.0) -> list[Packet]:
        self._buf += data
        out: list[Packet] = []
        buf = self._buf
        while True:
            start = buf.find(b"\xff\xff")
            if start < 0:
                keep = 1 if buf.endswith(b"\xff") else 0
                self.garbage_bytes += len(buf) - keep
                del buf[: len(buf) - keep]
                break
            if start:
                self.garbage_bytes += start
                del buf[:start]
            # FF FF FF id...: a third FF is a header byte repeated, not an id
            if len(buf) >= 3 and buf[2] == 0xFF:
                self.garbage_bytes += 1
                del buf[0]
                continue
            if len(buf) < 4:
                break
            length = buf[3]
            if length < 2 or length > _MAX_LEN:
                self.garbage_bytes += 2
                del buf[:2]
                continue
            total = length + 4
            if len(buf) < total:
                break
            body = bytes(buf[2 : total - 1])
            if checksum(body) != buf[total - 1]:
                self.bad_checksums += 1
                del buf[:2]
                continue
            out.append(Packet(id=body[0], code=body[2], params=body[3:], t=t))
            del buf[:total]
        return out
