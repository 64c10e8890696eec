"""``sim.mea``: a dissociated cortical culture on a multi-electrode array, simulated.

:mod:`~physres.sim.mea.culture` grows the dish, :mod:`~physres.sim.mea.kernels`
steps it (numba), :mod:`~physres.sim.mea.electrodes` turns it into what the
electrodes report, :class:`~physres.sim.mea.device.SimMEA` is the Device.
"""

from physres.sim.mea.device import SimMEA
from physres.sim.mea.params import SimMEAParams

__all__ = ["SimMEA", "SimMEAParams"]
