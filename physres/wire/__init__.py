"""Serial wire protocol shared with physres firmware: COBS + CRC-16 frames,
message tables, a request/reply link over any pyserial URL, and tools to run
the firmware (simavr or host build) and inject faults on real ptys."""

from physres.wire.crc import crc16
from physres.wire.framing import Packet, PacketProtocol, decode_packet, encode_packet
from physres.wire.link import LinkLost, SerialLink
from physres.wire.protocol import (
    Applied,
    ErrorCode,
    Hello,
    Msg,
    ReplyError,
    Status,
    StrobeEvent,
)

__all__ = [
    "Applied",
    "ErrorCode",
    "Hello",
    "LinkLost",
    "Msg",
    "Packet",
    "PacketProtocol",
    "ReplyError",
    "SerialLink",
    "Status",
    "StrobeEvent",
    "crc16",
    "decode_packet",
    "encode_packet",
]
