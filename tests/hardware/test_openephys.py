"""An Open Ephys GUI through the real ``drivers.openephys`` (ZMQ Interface + HTTP server).

By default the GUI is the emulator (physres.sim.openephys); with ``-m hardware``
it is the lab's GUI on ``PHYSRES_OPENEPHYS`` (``HOST:DATA_PORT``, the ZMQ
Interface's data port; its HTTP server on 37497), acquiring at 25 kHz with a
ZMQ Interface after the acquisition board. The driver starts acquisition,
checks ten steps of data, and stops it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest

from physres.drivers.mea.openephys import OpenEphys

VAR = "PHYSRES_OPENEPHYS"


@pytest.fixture(params=["emulated", pytest.param("real", marks=pytest.mark.hardware)])
def gui_address(request: pytest.FixtureRequest) -> Iterator[dict[str, object]]:
    if request.param == "real":
        value = os.environ.get(VAR, "").strip()
        if not value:
            pytest.skip(f"set {VAR} to the GUI's HOST:DATA_PORT (e.g. 127.0.0.1:5556)")
        host, _, port = value.rpartition(":")
        yield {"host": host or "127.0.0.1", "data_port": int(port)}
        return
    from physres.sim.openephys.gui import OpenEphysEmulator
    from physres.sim.openephys.sources import SyntheticSource

    with OpenEphysEmulator(SyntheticSource(64), n_channels=64) as g:
        yield {"host": "127.0.0.1", "data_port": g.data_port, "http_port": g.http_port}


def test_ten_steps_of_raw_and_spikes_arrive_on_the_sample_clock(
    gui_address: dict[str, object],
) -> None:
    with OpenEphys("oe", raw=True, **gui_address) as dev:
        dev.apply({"stim": np.zeros((10, 4))})
        out = dev.read()
        counters = dev.status()["counters"]
    assert out["raw"].data.shape == (2_500, 64) and out["raw"].t_dev_ns == 0
    assert np.isfinite(out["raw"].data).mean() > 0.99
    assert counters["heartbeats"] >= 1 or counters["heartbeat_misses"] == 0
    assert counters["dropped"] == 0 and not counters["garbled"]
