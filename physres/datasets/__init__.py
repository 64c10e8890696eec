"""Demonstration datasets (``physres.datasets``): collect, store, load, view.

* :func:`collect` runs the tabletop experts with DART-style noise and appends
  one atomic episode file at a time (:class:`DatasetWriter`);
* :class:`DemoDataset` opens a folder, loads every complete episode, reports
  the broken ones and yields numpy training batches
  (``physres.datasets.torch_dataset.TorchDemoDataset`` wraps it for torch);
* :func:`write_video` writes an episode to MP4/GIF with its prompt overlaid.

The on-disk format is versioned and documented in ``FORMAT.md`` next to this file.
"""

from physres.datasets.collect import CollectResult, NoiseConfig, collect, episode_seed, run_episode
from physres.datasets.format import FORMAT_NAME, FORMAT_VERSION, DatasetError
from physres.datasets.reader import BrokenDemo, Demo, DemoDataset, DemoInfo
from physres.datasets.viewer import annotate_frames, write_video
from physres.datasets.writer import DatasetWriter, DemoRecorder

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "BrokenDemo",
    "CollectResult",
    "DatasetError",
    "DatasetWriter",
    "Demo",
    "DemoDataset",
    "DemoInfo",
    "DemoRecorder",
    "NoiseConfig",
    "annotate_frames",
    "collect",
    "episode_seed",
    "run_episode",
    "write_video",
]
