"""A Feetech STS servo-bus emulator on a real pseudo-terminal (``physres.sim.servobus``).

The vendor SDK opens :attr:`ServoBus.port` exactly as it opens a USB adapter,
so CI runs the real driver against simulated servos that answer ping, read,
write, sync read and sync write and move with per-joint speed limits.
"""

from physres.sim.servobus.bus import SO101_JOINTS, ServoBus, WireWrite
from physres.sim.servobus.protocol import Packet, PacketParser, checksum, encode
from physres.sim.servobus.servo import ADDR, STS3215_MODEL, JointModel, servo_step

__all__ = [
    "ADDR",
    "SO101_JOINTS",
    "STS3215_MODEL",
    "JointModel",
    "Packet",
    "PacketParser",
    "ServoBus",
    "WireWrite",
    "checksum",
    "encode",
    "servo_step",
]
