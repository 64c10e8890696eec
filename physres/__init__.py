"""physres: hardware-in-the-loop physical reservoir computing and robotics.

Devices (real drivers, simulators, mocks) share one contract
(:mod:`physres.device`), talk over a ZeroMQ bus (:mod:`physres.bus`), and are
read out by linear readouts (:mod:`physres.readout`). Where to start, one
module a job (each lists its public names in ``__all__``; the README's
"Python API" shows them in use):

* drive a device: :func:`physres.registry.create` (``"sim.esn"``, ``"mock.bucket"``...)
* fit a readout: :class:`physres.readout.RidgeReadout` and friends
* generate a task's data and score it: :func:`physres.tasks.create`
* read a recording: :func:`physres.bus.record.read_recording`
* load robot demonstrations: :class:`physres.datasets.DemoDataset`

The package root stays light on purpose: importing ``physres`` loads none of these.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
