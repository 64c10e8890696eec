"""Tasks by name: ``tasks.create("narma10", washout=200)``.

Like the device kinds, a :class:`physres.registry.Registry` maps a name to
``"module:Class"`` and the module is imported only when that task is built
(the speech task pulls in scipy.signal's filter design; nothing else should pay
for it). Third-party packages add tasks through the ``physres.tasks`` group,
and a config may name a task class by its ``"module:Class"`` path.
"""

from __future__ import annotations

from typing import Any

from physres.errors import ConfigError
from physres.registry import Registry
from physres.tasks.base import Task

__all__ = ["TASKS", "create", "names", "register", "resolve"]

TASKS: Registry[type[Task]] = Registry(
    "task",
    {
        "xor": "physres.tasks.xor:DelayedXOR",
        "narma10": "physres.tasks.narma:NARMA10",
        "mackey_glass": "physres.tasks.mackey_glass:MackeyGlass",
        "henon": "physres.tasks.henon:Henon",
        "memory_capacity": "physres.tasks.memory:MemoryCapacity",
        "spoken_digits": "physres.tasks.speech:SpokenDigits",
        "spoken_zero_one": "physres.tasks.speech:SpokenZeroOne",
        "dataset": "physres.tasks.dataset:DatasetTask",
        "japanese_vowels": "physres.tasks.dataset:JapaneseVowels",
        "brainoware_vowels": "physres.tasks.brainoware:BrainowareVowels",
    },
    group="physres.tasks",
    paths=True,  # `kind: mylab.tasks:MyTask` in a config, no packaging needed
)


def register(name: str, target: str, *, replace: bool = False) -> None:
    """Add a task ``name`` → ``"module:Class"``; refuses to shadow one unless asked."""
    TASKS.register(name, target, replace=replace)


def names() -> list[str]:
    """Every registered task name."""
    return sorted(TASKS.names())


def resolve(name: str) -> type[Task]:
    """The class registered as ``name`` (or named by a ``"module:Class"`` path)."""
    cls = TASKS.load(name)
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ConfigError(f"task {name!r} is {cls!r}, not a physres.tasks.Task subclass")
    return cls


def create(name: str, **params: Any) -> Task:
    """Build task ``name`` from validated params (unknown params are a ConfigError)."""
    return resolve(name)(**params)
