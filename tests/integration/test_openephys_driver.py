"""drivers.openephys against the emulated GUI: spikes out, faults counted, stops explained.

Each test starts an emulated Open Ephys GUI (ZMQ Interface + HTTP server) in
this process and points the real driver at its ports, as a lab points it at
the GUI's; the emulator's Faults make the stream misbehave on purpose.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from physres.bus.record import read_recording
from physres.cli import main
from physres.drivers.mea.openephys import OpenEphys
from physres.errors import DeviceError, SafetyError
from physres.sim.openephys.gui import Faults, OpenEphysEmulator
from physres.sim.openephys.sources import SyntheticSource

N = 16  # electrodes of the 60-channel layout would do as well; 16 keeps the tests light
STIM = np.zeros((10, 4))  # ten 10 ms steps, no pulses


@contextmanager
def gui(faults: Faults | None = None, n: int = 64) -> Iterator[OpenEphysEmulator]:
    with OpenEphysEmulator(SyntheticSource(n, seed=3), n_channels=n, faults=faults) as g:
        yield g


def driver(g: OpenEphysEmulator, **params: object) -> OpenEphys:
    p = {"host": "127.0.0.1", "data_port": g.data_port, "http_port": g.http_port}
    p.update({"detect": {"noise_window_s": 0.2}, **params})
    return OpenEphys("oe", **p)


def test_spikes_come_from_the_guis_raw_on_the_sample_clock() -> None:
    with gui() as g, driver(g, raw=True) as dev:
        assert g.mode == "ACQUIRE" and any(c.alive for c in g.clients.values())
        spikes, raw = [], []
        for k in range(10):
            dev.apply({"stim": STIM})
            out = dev.read()
            assert out["spikes"].t_dev_ns == k * 100_000_000  # ten 10 ms steps per apply
            spikes.append(out["spikes"].data)
            raw.append(out["raw"].data)
        assert dev.now_ns() == 1_000_000_000
    assert g.mode == "IDLE", "the driver stops the acquisition it started"
    ev = np.concatenate(spikes)
    assert np.concatenate(raw).shape == (25_000, 64)
    assert np.all((ev["t_ns"] >= 0) & (ev["t_ns"] < 1_000_000_000))
    rate = len(ev) / 64  # the source fires 5 spikes/s per channel
    assert 3.5 <= rate <= 6.5, rate


def test_record_puts_the_gui_in_record_mode_until_disconnect() -> None:
    with gui() as g:
        with driver(g, record=True) as dev:
            dev.apply({"stim": STIM[:2]})
            assert g.mode == "RECORD"
        assert g.mode == "IDLE"


def test_a_pulse_is_refused_before_anything_is_sent() -> None:
    with gui() as g, driver(g) as dev:
        stim = STIM.copy()
        stim[3, 1] = 5.0
        with pytest.raises(SafetyError, match="no generic stimulator") as e:
            dev.apply({"stim": stim})
        assert "electrode 28" in str(e.value)
        assert dev.status()["last_sent"] == {} and dev.now_ns() == 0  # not a step went by


def test_dropped_and_garbled_messages_are_counted_and_survived() -> None:
    with gui(Faults(drop_every=301, garble_every=211)) as g, driver(g, raw=True) as dev:
        raws = []
        for _ in range(10):
            dev.apply({"stim": STIM})
            raws.append(dev.read()["raw"].data)
        c = dev.status()["counters"]
    assert c["dropped"] >= 10 and c["incomplete_blocks"] >= 10
    assert sum(c["garbled"].values()) >= 10 and set(c["garbled"]) >= {"size", "header"}
    raw = np.concatenate(raws)
    assert raw.shape == (25_000, 64), "every step still holds its samples"
    assert 0 < np.isnan(raw).mean() < 0.05, "lost channels show as NaN, nothing else"


def test_unanswered_heartbeats_are_counted_and_data_keeps_coming() -> None:
    faults = Faults(heartbeat_stops_after_s=0.0)
    with gui(faults) as g, driver(g, heartbeat_s=0.05, heartbeat_timeout_s=0.2) as dev:
        for _ in range(8):
            dev.apply({"stim": STIM})
            dev.read()
        c = dev.status()["counters"]
    assert c["heartbeat_misses"] >= 2 and c["heartbeats"] == 0
    assert dev.now_ns() == 800_000_000


def test_acquisition_that_stops_mid_run_ends_with_the_reason() -> None:
    with gui(Faults(stop_after_s=1.2)) as g, driver(g, stall_s=0.3) as dev:
        steps = 0
        with pytest.raises(DeviceError, match="went IDLE after .* samples"):
            for _ in range(100):
                dev.apply({"stim": STIM[:1]})
                dev.read()
                steps += 1
        assert steps >= 20, "everything before the stop was delivered"


def test_an_experiment_that_falls_far_behind_the_acquisition_is_stopped() -> None:
    """Buffering without bound would fill the memory (6.4 MB/s of 64-channel raw)."""
    import time

    with gui() as g, driver(g, raw=True, max_backlog_s=0.3) as dev:
        time.sleep(0.8)  # the GUI keeps sending; nobody steps
        with pytest.raises(DeviceError, match="fell .* behind the acquisition"):
            dev.apply({"stim": STIM})


def test_no_gui_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dev = OpenEphys("oe", http_port=port, data_port=port - 10, http_timeout_s=0.5)
    with pytest.raises(DeviceError, match="HTTP server enabled"):
        dev.connect()
    assert not dev.connected


RUN = """\
name: oe_stop
devices:
  mea:
    kind: drivers.openephys
    params: {{host: 127.0.0.1, data_port: {data}, http_port: {http}, stall_s: 0.3,
              detect: {{noise_window_s: 0.2}}}}
task:
  kind: xor
  params: {{n_train: 400, n_test: 100, washout: 2}}
drive: {{chunk: 10}}
"""


def test_a_run_whose_acquisition_stops_keeps_its_recording_and_says_why(tmp_path: Path) -> None:
    with gui(Faults(stop_after_s=1.5)) as g:
        cfg = tmp_path / "oe.yaml"
        cfg.write_text(RUN.format(data=g.data_port, http=g.http_port))
        out = tmp_path / "run"
        code = main(
            ["run", str(cfg), "--out", str(out), "--quiet", "--bus", f"oe{uuid.uuid4().hex[:6]}"]
        )
    assert code == 2
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "failed" and "went IDLE" in run["reason"]
    info, msgs = read_recording(out / "recording.mcap")
    topics = [m.topic for _, m in msgs]
    assert not info.truncated
    assert topics.count("mea/sent") >= 3 and "mea/spikes" in topics
    # and the NWB file of what was recorded, written however the run ended
    assert "error" not in run["nwb"], run["nwb"]
    assert (out / "recording.nwb").is_file() and run["nwb"]["spikes"] > 0
