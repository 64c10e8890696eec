"""physres: hardware-in-the-loop physical reservoir computing and robotics.

Devices (real drivers, simulators, mocks) share one contract
(:mod:`physres.device`), talk over a ZeroMQ bus (:mod:`physres.bus`), and are
read out by linear readouts (:mod:`physres.readout`).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
