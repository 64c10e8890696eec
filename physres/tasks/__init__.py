"""Benchmark tasks every substrate runs: data, drive mapping and scoring.

``tasks.create("narma10")`` builds a task by name; ``generate(seed)`` gives
honest train/test splits; ``encode`` maps task inputs onto a device input;
``targets`` and ``score`` say what a readout is fitted towards and how its
predictions are scored; ``readout_spec`` names the readout a run uses unless
its config chooses another; ``evaluate`` fits a pipeline once and returns
metrics. The drive loop that joins a
task to a device is :func:`physres.experiments.drive.collect_states`.
"""

from physres.tasks.base import Episode, Task, TaskData, TaskParams, check_states, nrmse
from physres.tasks.kinds import RegressionTask, SequenceClassificationTask
from physres.tasks.registry import create, names, register, resolve

__all__ = [
    "Episode",
    "RegressionTask",
    "SequenceClassificationTask",
    "Task",
    "TaskData",
    "TaskParams",
    "check_states",
    "create",
    "names",
    "nrmse",
    "register",
    "resolve",
]
