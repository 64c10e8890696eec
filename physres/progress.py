"""Progress bars that move with the work: rate, elapsed and time left on every bar.

One look for every long command (``physres run``, ``bench tasks``, ``robot
experts``, ``robot collect``): a bar per phase, counted in the units the
work comes in (task steps, episodes, layouts), so a 20-s drive never sits at
``0/1``.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

__all__ = ["PhaseBars", "RateColumn", "progress_bar"]


class RateColumn(ProgressColumn):
    """Items per second in the task's own unit (``fields["unit"]``), once rich has a rate."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True, min_width=12))

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "it")
        return Text(
            "" if speed is None else f"{_short(speed)} {unit}/s", style="progress.data.speed"
        )


def _short(x: float) -> str:
    """3 significant digits without exponent noise: 23.1k, 480, 2.5, 0.04."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def progress_bar(console: Console | None = None, *, disable: bool = False) -> Progress:
    """A rich Progress with description, bar, done/total, rate, elapsed and time left."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
        disable=disable,
    )


class PhaseBars:
    """``(phase, done, total)`` callback that keeps one bar per phase of ``progress``.

    A total of ``None`` makes a pulsing bar (work of unknown size, e.g. a fit).
    """

    def __init__(self, progress: Progress, label: str, *, unit: str = "steps") -> None:
        self.progress = progress
        self.label = label
        self.unit = unit
        self.bars: dict[str, TaskID] = {}

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        bar = self.bars.get(phase)
        if bar is None:
            text = f"{self.label}: {phase}" if self.label else phase
            bar = self.bars[phase] = self.progress.add_task(text, total=total, unit=self.unit)
        self.progress.update(bar, completed=done, total=total)
