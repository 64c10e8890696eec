"""``drivers.neuromorphic`` against the bridge firmware's host build on a pty, with the
emulated chip behind it: what the driver promises, each shown where it would break.

The chip is a separate process (``physres.sim.neuromorphic.chip_bus``) that the
firmware starts; the driver sees only the pty, as it would see a USB serial
port. Each test starts its own board, so one test's chip memory never leaks
into another's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from physres import registry
from physres.bus.record import read_recording
from physres.config import RunConfig, load_config, with_overrides
from physres.drivers.neuromorphic import protocol as P
from physres.drivers.neuromorphic.bridge import NeuroBridge, emulator_args
from physres.drivers.neuromorphic.firmware import BridgeFirmware
from physres.drivers.neuromorphic.upload import ConfigMismatch
from physres.errors import ConfigError
from physres.experiments.run import run_experiment
from physres.neuro.params import NeuroParams
from physres.wire import SerialLink

#: a 64-neuron reservoir on core 0 (quiet at rest) and one input channel onto half of it
SMALL: dict[str, Any] = {
    "chip": "dynapse",
    "cores": {"dc": [2, 20]},
    "reservoir": {"n_neurons": 64, "fan_in": 8, "weight_exc": 3, "seed": 0},
    "inputs": {"n_channels": 1, "n_neurons": 64, "fraction": 0.5},
}


def _board(config: dict[str, Any], *extra: str, baud: int = 0) -> BridgeFirmware:
    args = emulator_args(NeuroParams(config=config))
    return BridgeFirmware("host", chip_args=(*args, *extra), baud=baud).start()


@pytest.fixture
def board() -> Iterator[BridgeFirmware]:
    fw = _board(SMALL)
    yield fw
    fw.stop()


def _driver(port: str, config: dict[str, Any], **params: Any) -> NeuroBridge:
    return registry.create(
        "drivers.neuromorphic", "chip", {"config": config, "port": port, **params}
    )  # type: ignore[return-value]


def test_upload_sends_only_the_tables_that_differ_and_reads_them_back(
    board: BridgeFirmware,
) -> None:
    with _driver(board.port, SMALL) as dev:
        first = dev.last_upload
        assert first is not None
        # a fresh chip holds zeros: every core's biases and the reservoir's 64 rows go up
        assert first.cores_written == [0, 1, 2, 3] and len(first.rows_written) == 64
        assert first.rows_compared == 1024
    with _driver(board.port, SMALL) as dev:  # the chip kept its memory: nothing to send
        again = dev.last_upload
        assert again is not None and again.cores_written == [] and again.rows_written == []
        # four bias read-backs, 1,024 row CRCs 56 at a time (and a chip read a loaded host
        # left waiting is asked again)
        assert 4 + 19 <= again.frames < 30
    changed = {
        **SMALL,
        "cores": [
            {"dc": [2, 20]},
            {"dc": [2, 20]},
            {"dc": [2, 20], "thr": [2, 90]},
            {"dc": [2, 20]},
        ],
        "connections": [{"source": 1, "target": 700, "syn": "nmda", "weight": 5}],
    }
    with _driver(board.port, changed) as dev:
        rep = dev.last_upload
        assert rep is not None and rep.cores_written == [2] and rep.rows_written == [700]
        assert dev.upload_config()["rows_written"] == 0  # and now it is there


def test_a_readback_mismatch_raises_before_any_input_is_sent() -> None:
    fw = _board(SMALL, "--fault", "stuck-weight")  # bit 0 of every weight cell reads 0
    try:
        dev = _driver(fw.port, SMALL)
        with pytest.raises(ConfigMismatch, match=r"slot 0 gave .*weight 2\), wrote .*weight 3\)"):
            dev.connect()
        assert not dev.connected
        link = SerialLink(fw.port, timeout_s=2.0).open()
        st = P.parse_status(link.request(P.Msg.STATUS))
        link.close()
        assert st.in_total == 0 and st.in_queued == 0  # no experiment ran
    finally:
        fw.stop()


def test_a_chip_other_than_the_configured_model_is_refused(board: BridgeFirmware) -> None:
    other = {**SMALL, "chip": "brainscales2"}
    dev = _driver(board.port, other)
    with pytest.raises(
        ConfigError, match=r"brainscales2: model dynapse \(configured brainscales2\)"
    ):
        dev.connect()


def test_events_at_full_rate_reach_the_chip_on_time_and_spikes_come_back(
    board: BridgeFirmware,
) -> None:
    # one channel at up to 1 kHz onto 32 neurons: ~16,000 input events a second
    with _driver(board.port, SMALL, rate_hz=100, max_rate_hz=1000, lead_ms=200) as dev:
        u = np.ones((100, 1))  # one second at the top rate
        dev.apply({"u": u})
        spikes = dev.read()["spikes"]
        st = dev.board_status()
        sent = st["in_total"]
        print(f"{sent} input events in 1 s, {len(spikes.data)} output spikes")
        assert sent > 10_000
        assert (st["in_overflow"], st["in_underflow"], st["in_flushed"]) == (0, 0, 0)
        assert (st["out_overflow"], st["frames_lost"], st["bad_spike_frames"]) == (0, 0, 0)
        assert board.wait_for(lambda f: f.chip.get("inputs", 0) >= sent, 2.0)
        assert board.chip["late"] == 0  # every event landed on the chip step it names
        # spikes carry the stream's clock: inside the second just played, sorted
        t = spikes.data["t_ns"]
        assert len(t) > 100 and t.min() >= 0 and t.max() < 1_000_000_000
        assert np.all(np.diff(t) >= 0) and dev.now_ns() == 1_000_000_000
        assert set(np.unique(spikes.data["channel"])) <= set(range(64))


def test_board_side_output_overflow_is_reported_with_counts() -> None:
    """A slow link (38,400 baud) under a chip whose 1,024 neurons all fire: the board
    drops what its FIFO cannot hold and counts it; the host sees the count too."""
    loud = {
        "chip": "dynapse",
        "cores": {"dc": [3, 200]},
        "inputs": {"n_channels": 1, "n_neurons": 8},
    }
    fw = _board(loud, baud=38400)
    try:
        with _driver(fw.port, loud, rate_hz=100) as dev:
            dev.apply({"u": np.zeros((50, 1))})  # half a second
            got = len(dev.read()["spikes"].data)
            st = dev.board_status()
            print(f"out_total {st['out_total']}, dropped {st['out_overflow']}, received {got}")
            assert st["out_overflow"] > 1000
            assert 0 < dev.out_overflow <= st["out_overflow"]  # the frames' running count
            assert st["frames_lost"] == 0 and dev.link is not None and dev.link.garbage == 0
    finally:
        fw.stop()


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _on_the_bridge(port: str, **task: int) -> RunConfig:
    """examples/neuromorphic_xor.yaml with one line changed: the kind (and where its board is)."""
    cfg = load_config(EXAMPLES / "neuromorphic_xor.yaml")
    assert cfg.devices["chip"].kind == "sim.neuromorphic"
    over: dict[str, Any] = {
        "devices.chip.kind": "drivers.neuromorphic",
        "devices.chip.params.port": port,
    }
    over.update({f"task.params.{k}": v for k, v in task.items()})
    return with_overrides(cfg, over, "the bridge variant")


def _emulator_for(cfg: RunConfig) -> BridgeFirmware:
    params = NeuroParams(**{k: v for k, v in cfg.devices["chip"].params.items() if k != "port"})
    return BridgeFirmware("host", chip_args=emulator_args(params)).start()


def _run_on_the_bridge(tmp_path: Path, **task: int) -> dict[str, Any]:
    probe = _on_the_bridge("unused", **task)
    fw = _emulator_for(probe)
    try:
        result = run_experiment(_on_the_bridge(fw.port, **task), tmp_path, progress=False)
    finally:
        fw.stop()
    assert result["status"] == "ok" and result["kind"] == "drivers.neuromorphic"
    _, messages = read_recording(tmp_path / "recording.mcap", ["chip/spikes"])
    assert sum(len(msg.data) for _, msg in messages) > 1000  # spikes crossed the bus
    return result


def test_the_xor_example_runs_end_to_end_through_the_bridge(tmp_path: Path) -> None:
    """The example, short (6 s of chip time): drive, record, fit and score over the board."""
    m = _run_on_the_bridge(tmp_path, n_train=200, n_test=100)["metrics"]
    assert 0 <= m["accuracy"] <= 1 and "control_raw_input_accuracy" in m


@pytest.mark.slow
def test_the_xor_example_beats_its_raw_input_control_through_the_bridge(tmp_path: Path) -> None:
    """The whole example (24 s of chip time, real time): the bridge scores as the emulator."""
    m = _run_on_the_bridge(tmp_path)["metrics"]
    assert m["accuracy"] > m["control_raw_input_accuracy"] + 0.1, m
