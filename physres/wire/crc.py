"""CRC-16/CCITT-FALSE, the checksum every physres serial frame ends with.

Poly 0x1021, init 0xFFFF, not reflected, no final xor; check value
``crc16(b"123456789") == 0x29B1``. The firmware computes the same bitwise
(firmware/common/crc16.c); here crcmod's table-driven C implementation does it.
"""

from __future__ import annotations

import crcmod.predefined

__all__ = ["crc16"]

_crc = crcmod.predefined.mkPredefinedCrcFun("crc-ccitt-false")


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE of ``data``."""
    return int(_crc(bytes(data)))
