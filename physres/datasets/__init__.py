"""Demonstration datasets (``physres.datasets``): store, load, view.

* :class:`DatasetWriter` appends one atomic episode file at a time (the
  tabletop experts' collection with DART-style noise,
  :func:`physres.sim.arm.collect.collect`, writes through it: the core imports
  no simulator);
* :class:`DemoDataset` opens a folder, loads every complete episode, reports
  the broken ones and yields numpy training batches
  (``physres.datasets.torch_dataset.TorchDemoDataset`` wraps it for torch);
* :class:`DeviceDemo` records a demonstration through any arm Device (local,
  mock or on the bus: a real arm driven by a person or a policy) in the same format;
* :func:`write_video` writes an episode to MP4/GIF with its prompt overlaid.

The on-disk format is versioned and documented in ``FORMAT.md`` next to this file.
"""

from physres.datasets.device_demo import DeviceDemo
from physres.datasets.format import FORMAT_NAME, FORMAT_VERSION, DatasetError
from physres.datasets.reader import BrokenDemo, Demo, DemoDataset, DemoInfo
from physres.datasets.viewer import annotate_frames, write_video
from physres.datasets.writer import DatasetWriter, DemoRecorder

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "BrokenDemo",
    "DatasetError",
    "DatasetWriter",
    "Demo",
    "DemoDataset",
    "DemoInfo",
    "DemoRecorder",
    "DeviceDemo",
    "annotate_frames",
    "write_video",
]
