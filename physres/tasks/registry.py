"""Tasks by name: ``tasks.create("narma10", washout=200)``.

Like the device registry, one table maps a name to ``"module:Class"`` and the
module is imported only when that task is built (the speech task pulls in
scipy.signal's filter design; nothing else should pay for it).
"""

from __future__ import annotations

import importlib
from typing import Any

from physres.errors import ConfigError
from physres.tasks.base import Task

__all__ = ["create", "names", "register", "resolve"]

_TASKS: dict[str, str] = {
    "xor": "physres.tasks.xor:DelayedXOR",
    "narma10": "physres.tasks.narma:NARMA10",
    "mackey_glass": "physres.tasks.mackey_glass:MackeyGlass",
    "henon": "physres.tasks.henon:Henon",
    "memory_capacity": "physres.tasks.memory:MemoryCapacity",
    "spoken_digits": "physres.tasks.speech:SpokenDigits",
    "spoken_zero_one": "physres.tasks.speech:SpokenZeroOne",
}


def register(name: str, target: str, *, replace: bool = False) -> None:
    """Add a task ``name`` → ``"module:Class"``; refuses to shadow one unless asked."""
    if name in _TASKS and _TASKS[name] != target and not replace:
        raise ConfigError(f"task {name!r} is already registered as {_TASKS[name]}")
    _TASKS[name] = target


def names() -> list[str]:
    """Every registered task name."""
    return sorted(_TASKS)


def resolve(name: str) -> type[Task]:
    """The class registered as ``name``."""
    if name not in _TASKS:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(names())}")
    module_name, _, cls_name = _TASKS[name].partition(":")
    return getattr(importlib.import_module(module_name), cls_name)


def create(name: str, **params: Any) -> Task:
    """Build task ``name`` from validated params (unknown params are a ConfigError)."""
    return resolve(name)(**params)
