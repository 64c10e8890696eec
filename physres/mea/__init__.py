"""Vocabulary every MEA kind shares (simulator and drivers alike): electrode layouts,
parameters and streams, stimulation safety, spike detection, NWB export.

A core package, so ``physres.sim`` and ``physres.drivers`` both import it and a
lab switches ``kind: sim.mea`` to its hardware with one config line.
"""

__all__: list[str] = []  # each module (layouts, params, stim, detect, nwb) exports its own
