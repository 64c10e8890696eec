"""The bucket motor board's limits, defined once for the driver, the simulator and tests.

Firmware numbers mirror ``firmware/bucket/proto.h`` (a unit test parses the
header and compares); the host-side limits are what the
:class:`~physres.drivers.bucket.MotorBoard` enforces before a byte leaves and
what the tank simulator's ``duty`` input takes in firmware mode. Plain numbers,
no imports: the direct-mode simulator reads them without the serial stack.
"""

from __future__ import annotations

__all__ = [
    "DUTY_FULL_SCALE",
    "DUTY_MAX_DEFAULT",
    "MAX_DUTY",
    "MAX_STEP",
    "N_MOTORS",
    "SCHED_DEPTH",
    "SLEW_PER_TICK",
    "TICK_US",
    "WATCHDOG_MS_DEFAULT",
    "WATCHDOG_MS_MAX",
    "WATCHDOG_MS_MIN",
]

# ---- the firmware's (proto.h)
#: duty units: 0 = off, 65535 = 100 %
DUTY_FULL_SCALE = 65535
#: the board's own clamp per motor: 60000/65535 = 91.6 %
DUTY_MAX_DEFAULT = 60000
#: the board's slew limit: duty units per 1 ms tick (0 → full scale in 32 ms)
SLEW_PER_TICK = 2048
TICK_US = 1000
N_MOTORS = 4
SCHED_DEPTH = 8
WATCHDOG_MS_DEFAULT = 250
WATCHDOG_MS_MIN = 50
WATCHDOG_MS_MAX = 5000

# ---- the host's (MotorBoard defaults; sim.bucket in firmware mode)
#: host-side duty ceiling, below the firmware's clamp so the board never has to
#: clamp what the host sent (what the host reports as sent is what the pins do)
MAX_DUTY = 0.9
#: host-side slew limit: largest change of a motor's duty between samples
MAX_STEP = 0.5
