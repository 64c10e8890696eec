"""The MEA family's shared vocabulary: layouts, parameters and streams every MEA kind speaks.

Core (no simulator, no driver): ``sim.mea`` and the rig drivers import it,
so switching between them is one ``kind:`` line in a config.
"""

from physres.mea.layouts import LAYOUT_NAMES, Layout, layout
from physres.mea.params import RAW_RATE_HZ, SPIKE_DTYPE, MEAParams, mea_io

__all__ = [
    "LAYOUT_NAMES",
    "RAW_RATE_HZ",
    "SPIKE_DTYPE",
    "Layout",
    "MEAParams",
    "layout",
    "mea_io",
]
