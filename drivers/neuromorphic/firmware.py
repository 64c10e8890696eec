"""The neuromorphic bridge's firmware behind a pty, and what it reports on its clock.

:class:`BridgeFirmware` is :class:`~physres.wire.firmware_runner.FirmwareProcess`
for ``firmware/neuro_bridge`` (described in its ``firmware.toml``). On the host
target the chip behind the board is the emulator process
(``physres.sim.neuromorphic.chip_bus``, started by the firmware: this module
names it only in that file, never imports it); in simavr it is the harness's
SPI chip model. It keeps the lines both print: the activity LED's edges (the
time of each request the board acted on), the events the chip received and
sent (simavr), the chip's running counts (host).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from physres.wire.firmware_runner import FirmwareProcess, Target
from physres.wire.firmware_runner import simavr_missing as _simavr_missing

__all__ = ["FIRMWARE", "BridgeFirmware", "simavr_missing"]

#: the firmware's folder and ``firmware.toml`` name
FIRMWARE = "neuro_bridge"


def simavr_missing() -> str | None:
    """Why the bridge firmware cannot run in simavr here, or None when it can."""
    return _simavr_missing(FIRMWARE)


class BridgeFirmware(FirmwareProcess):
    """The bridge firmware (``"simavr"`` or ``"host"``); ``port`` is the path a driver opens.

    ``chip_args`` go to the chip: the emulator's options on the host target
    (``--chip brainscales2``, ``--fault stuck-weight``...), the harness's
    ``--chip-...`` options in simavr. ``baud`` makes the host build's pty carry
    bytes no faster than a UART at that rate (0: as fast as the pty goes).
    """

    def __init__(
        self,
        target: Target,
        *,
        chip_args: Sequence[str] = (),
        baud: int = 0,
        startup_timeout_s: float = 15.0,
    ):
        super().__init__(
            target,
            firmware=FIRMWARE,
            startup_timeout_s=startup_timeout_s,
            extra_args=tuple(chip_args),
            fill={"baud": str(int(baud))},
        )
        #: (t_ns, level) edges of the link-activity LED
        self.activity: list[tuple[int, int]] = []
        #: (t_ns, core, neuron, syn) inputs the chip received (simavr)
        self.chip_in: list[tuple[int, int, int, int]] = []
        #: (t_ns, core, neuron) spikes the chip sent (simavr)
        self.chip_out: list[tuple[int, int, int]] = []
        #: the emulator's last report (host): t_us, inputs, outputs, late
        self.chip: dict[str, int] = {}

    def on_line(self, key: str, fields: dict[str, Any]) -> None:
        if key == "ACT":
            self.activity.append((fields["t_ns"], fields["level"]))
        elif key == "IN":
            self.chip_in.append((fields["t_ns"], fields["core"], fields["neuron"], fields["syn"]))
        elif key == "OUT":
            self.chip_out.append((fields["t_ns"], fields["core"], fields["neuron"]))
        elif key == "CHIP":
            self.chip = dict(fields)
