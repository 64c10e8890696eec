"""An optional ``torch.utils.data.Dataset`` view of a :class:`DemoDataset`.

Imported only when asked for, so the dataset code runs without torch. Items
are dicts of tensors (images stay ``uint8`` HWC as stored: convert on the
device where it is cheap) plus the prompt string.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from physres.datasets.reader import DemoDataset

__all__ = ["TorchDemoDataset"]


class TorchDemoDataset(Dataset):
    """Map-style dataset over every step; ``history`` frames per observation."""

    def __init__(
        self, demos: DemoDataset, *, history: int = 1, label: str = "expert_action"
    ) -> None:
        self.demos = demos
        self.history = history
        self.label = label
        self._index = demos.sample_index()

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> dict[str, Any]:
        batch = self.demos.gather([self._index[i]], self.history, self.label)
        item: dict[str, Any] = {}
        for key, value in batch.items():
            if value.dtype.kind in "US":
                item[key] = str(value[0])
            else:
                item[key] = torch.from_numpy(np.array(value[0]))  # 0-d for scalars
        return item
