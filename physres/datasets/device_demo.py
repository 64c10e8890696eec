"""Record demonstrations through an arm Device: local, mock, or on the bus.

The env's collector records what a scripted expert does in simulation; a real
arm driven by a person or a policy has no env, only its Device (often a
:class:`~physres.device.remote.RemoteDevice` whose node owns the serial port).
:class:`DeviceDemo` drives any arm kind by the contract's ``action`` rows
(:mod:`physres.drivers.arm.schema`) and records each step into the same
:class:`~physres.datasets.writer.DemoRecorder`, so the episode lands in the
same dataset format (one atomic file, an index line, the action spec in the
header): the observation seen before the step (the arm's ``image`` if it has
a camera, and ``proprio`` = ``ee`` (4), ``gripper``, ``joints``), the action as
executed (clipped to the action spec) and the label the demonstrator meant.
The recording starts with one period holding the arm, gripper open.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from physres.datasets.writer import DatasetWriter, DemoRecorder
from physres.device.base import Device
from physres.device.spec import Chunk
from physres.errors import ConfigError

__all__ = ["DeviceDemo", "proprio_names"]

_NEEDED = ("ee", "gripper", "joints")


def proprio_names(device: Device) -> list[str]:
    """What each ``proprio`` entry of this arm's recordings is (stored with each episode)."""
    desc = device.describe()
    n = desc.streams["joints"].shape[0]
    names = desc.meta.get("joint_names", [f"q{i + 1}" for i in range(n)])[:n]
    return ["x", "y", "z", "yaw", "gripper_open", *names]


class DeviceDemo:
    """One demonstration recorded step by step through ``device`` (connected, an arm).

    ``step(action)`` sends one action row and records it with the observation
    the demonstrator saw before it; ``write(writer)`` appends the episode.
    """

    def __init__(self, device: Device, prompt: str, *, action_spec: Any) -> None:
        """``action_spec`` is the arm's (``physres.sim.arm.ACTION_SPEC`` for the tabletop
        contract): the datasets layer names no simulator, so the caller says which."""
        desc = device.describe()
        missing = [s for s in _NEEDED if s not in desc.streams] + (
            [] if "action" in desc.inputs else ["input 'action'"]
        )
        if missing:
            raise ConfigError(
                f"{device.kind} device {device.name!r} is no arm: it lacks {missing} "
                "(see physres.drivers.arm.schema)"
            )
        self.device = device
        self.spec = action_spec
        self.rec = DemoRecorder(prompt=prompt)
        self.success = False
        self._latest: dict[str, np.ndarray] = {}
        device.read()  # drop anything from before the recording
        # one period holding the arm where it is, gripper open: every kind (a remote one
        # publishes only in answer to an input) then has a first observation to record
        device.apply({"gripper": 1.0})
        self.obs = self._observe(device.read())

    def _observe(self, chunks: Mapping[str, Chunk]) -> dict[str, Any]:
        for name, chunk in chunks.items():  # a step that moved nothing keeps the last sample
            if len(chunk.data):
                self._latest[name] = chunk.data[-1]

        def last(name: str) -> np.ndarray:
            if name not in self._latest:
                raise ConfigError(f"{self.device.name}: read() gave no {name!r} sample")
            return np.asarray(self._latest[name], dtype=np.float32)

        obs: dict[str, Any] = {}
        if "image" in self._latest:
            obs["image"] = self._latest["image"]
        obs["proprio"] = np.concatenate([last("ee"), last("gripper")[None], last("joints")])
        obs["prompt"] = self.rec.prompt
        return obs

    def step(
        self, action: Any, *, label: Any = None, perturbed: bool = False, success: bool = False
    ) -> dict[str, Any]:
        """Send one action (clipped to the action spec, as the env does) and record it with
        the observation before it; ``label`` is the action meant (default: the action).
        Returns the observation after the step."""
        applied = self.spec.validate(action)
        label = applied if label is None else self.spec.validate(label)
        if applied[5] <= self.spec.terminate_threshold:  # terminate moves nothing
            self.device.apply({"action": applied.astype(np.float64)})
        self.success = bool(success)
        self.rec.add(
            self.obs,
            action=applied,
            expert_action=label,
            perturbed=perturbed,
            reward=float(success),
            success=success,
        )
        self.obs = self._observe(self.device.read())
        return self.obs

    def write(self, writer: DatasetWriter, **meta: Any) -> dict[str, Any]:
        """Append the episode to ``writer``'s dataset; returns its index line."""
        d = self.device
        info = {
            "prompt": self.rec.prompt,
            "success": self.success,
            "device": {"kind": d.kind, "name": d.name},
            "proprio_names": proprio_names(d),
            "recorded_by": "DeviceDemo",
            **meta,
        }
        return writer.write_episode(self.rec.arrays(), info)
