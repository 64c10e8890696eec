"""The substrate-absent control: the same experiment on the same array with nothing on it.

A device can declare, in its description's ``meta["substrate_control"]``, a
device that is everything it is *except* the substrate: for every MEA kind,
``sim.mea`` with ``culture: false`` (the same electrodes, noise and
stimulation artifacts; no neurons). A published CL1 data set reached 41–49 %
on a 10-class task from stimulation artifacts alone, so a culture's score
means something only beside this one. The protocol runs it with the same
episodes, feature stages and readout and reports
``control_substrate_<metric>`` (and ``control_substrate_name``). Plain data
in the description, so it works for a device behind the bus too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from physres import registry
from physres.errors import ConfigError
from physres.experiments.drive import collect_states

if TYPE_CHECKING:
    from physres.device.base import Device
    from physres.tasks.base import Task, TaskData

__all__ = ["substrate_control"]


def substrate_control(
    device: Device,
    task: Task,
    data: TaskData,
    *,
    features: Sequence[Any] = (),
    readout: Any = None,
    **drive: Any,
) -> dict[str, Any]:
    """Score of the device's declared substrate-absent twin; ``{}`` when it declares none."""
    spec = device.describe().meta.get("substrate_control")
    if not spec:
        return {}
    try:
        name, kind, params = spec["name"], spec["kind"], dict(spec["params"])
    except (KeyError, TypeError) as e:
        raise ConfigError(
            f"{device.name}: meta substrate_control must be {{name, kind, params}}, got {spec!r}"
        ) from e
    with registry.create(kind, f"{device.name}_{name}", params) as twin:
        s_train = collect_states(twin, data.train, task, **drive)
        s_test = collect_states(twin, data.test, task, **drive)
    pipe = task.pipeline(data, s_train, features=features, readout=readout)
    m = task.evaluate(s_train, data.train, s_test, data.test, data, pipeline=pipe)
    return {
        f"control_substrate_{task.metric}": float(m[task.metric]),
        "control_substrate_name": name,
    }
