"""The serial link every physres board speaks, and nothing of any board's messages.

COBS + CRC-16 frames with sequence numbers (:mod:`~physres.wire.framing`), the
request/reply convention (:mod:`~physres.wire.messages`), a request/reply link
over any pyserial URL with retries (:mod:`~physres.wire.link`), and tools to run
a firmware (simavr or host build) and inject faults on real ptys. Each board's
message set lives with its driver (the bucket's: ``physres.drivers.bucket.protocol``).
"""

from physres.wire.crc import crc16
from physres.wire.framing import Packet, PacketProtocol, decode_packet, encode_packet
from physres.wire.link import LinkLost, SerialLink
from physres.wire.messages import EVENT_MIN, REPLY_FLAG, ReplyError, expect_ok, is_event

__all__ = [
    "EVENT_MIN",
    "REPLY_FLAG",
    "LinkLost",
    "Packet",
    "PacketProtocol",
    "ReplyError",
    "SerialLink",
    "crc16",
    "decode_packet",
    "encode_packet",
    "expect_ok",
    "is_event",
]
