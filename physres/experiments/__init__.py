"""Experiments: drive a device with a task, collect states, fit and score."""

from physres.experiments.drive import (
    collect_states,
    free_run,
    select_input,
    select_stream,
    steps_to_samples,
)

__all__ = ["collect_states", "free_run", "select_input", "select_stream", "steps_to_samples"]
