"""The MEA family's shared vocabulary: every kind names its electrodes and streams the same way."""

from __future__ import annotations

import numpy as np
import pytest

from physres.errors import ConfigError
from physres.mea.layouts import LAYOUT_NAMES, layout
from physres.mea.params import SPIKE_DTYPE, MEAParams, mea_io


def test_the_three_arrays_have_their_published_geometry() -> None:
    grid = layout("grid8x8")
    assert grid.n_channels == 64 and grid.pitch_um == 200.0
    assert grid.extent_um == pytest.approx(7 * 200.0)
    mcs = layout("mcs60")
    assert mcs.n_channels == 60
    # the four corners of the 8 × 8 grid are missing; everything else is where grid8x8 has it
    assert {"11", "81", "18", "88"}.isdisjoint(mcs.labels)
    assert np.allclose(mcs.positions[mcs.channel("45")], grid.positions[grid.channel("45")])
    hd = layout("hdmea1024")
    assert hd.n_channels == 1024 and hd.extent_um == pytest.approx(31 * 17.5)
    for name in LAYOUT_NAMES:
        lay = layout(name)
        assert lay.positions.shape == (lay.n_channels, 2)
        assert np.allclose(lay.positions.mean(0), 0.0)  # centred on the array
        assert len(set(lay.labels)) == lay.n_channels
        # nearest neighbours sit exactly one pitch apart
        d = np.hypot(*(lay.positions[:, None] - lay.positions[None]).transpose(2, 0, 1))
        np.fill_diagonal(d, np.inf)
        assert d.min() == pytest.approx(lay.pitch_um)


def test_labels_follow_the_mcs_column_row_convention() -> None:
    grid = layout("grid8x8")
    top_left, right_of_it, below_it = (grid.positions[grid.channel(x)] for x in ("11", "21", "12"))
    assert right_of_it[0] - top_left[0] == 200.0 and right_of_it[1] == top_left[1]
    assert top_left[1] - below_it[1] == 200.0


def test_a_misspelt_layout_or_label_names_the_nearest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'mcs60'"):
        layout("mcs06")
    with pytest.raises(ConfigError, match="no electrode '99'"):
        layout("grid8x8").channel("99")


def test_positions_cannot_be_changed_by_a_caller() -> None:
    with pytest.raises(ValueError):
        layout("grid8x8").positions[0, 0] = 1.0


def test_stim_electrodes_are_checked_against_the_layout() -> None:
    with pytest.raises(ValueError, match=r"electrode 60 is not on layout .mcs60. \(channels 0..59"):
        MEAParams(layout="mcs60", stim_electrodes=[3, 60])
    with pytest.raises(ValueError, match="electrode 3 is listed twice"):
        MEAParams(stim_electrodes=[3, 3])
    with pytest.raises(ValueError, match="empty"):
        MEAParams(stim_electrodes=[])
    with pytest.raises(ValueError, match="unknown electrode layout"):
        MEAParams(layout="grid9x9")
    with pytest.raises(ValueError, match="whole number of raw samples"):
        MEAParams(step_ms=10.01)
    with pytest.raises(ValueError, match="extra"):
        MEAParams(amplitude=3)  # type: ignore[call-arg]


def test_mea_io_declares_spikes_pulses_optional_raw_and_the_stim_input() -> None:
    p = MEAParams(stim_electrodes=[0, 9, 63], amplitude_ua=6.0, raw=False)
    streams, inputs, meta = mea_io(p)
    assert [s.name for s in streams] == ["spikes", "pulses"]
    assert streams[0].carries == "events" and streams[0].np_dtype == SPIKE_DTYPE
    (stim,) = inputs
    assert stim.name == "stim" and stim.shape == (3,) and stim.units == "uA"
    assert stim.rate_hz == 100.0  # one row per 10 ms step
    assert (stim.limits.low, stim.limits.high) == (0.0, 6.0)
    assert meta["n_channels"] == 64 and meta["stim_electrodes"] == [0, 9, 63]
    assert len(meta["electrode_positions_um"]) == 64
    streams, _, _ = mea_io(MEAParams(raw=True))
    raw = streams[-1]
    assert raw.name == "raw" and raw.shape == (64,) and raw.rate_hz == 25_000
    assert raw.np_dtype == np.float32 and raw.units == "uV"
    assert MEAParams().raw_per_step == 250


def test_a_tasks_input_count_picks_that_many_electrodes_spread_over_the_array() -> None:
    from physres import registry

    params = registry.bind_task("sim.mea", {}, 12)
    p = MEAParams(**params)
    assert len(p.stim_electrodes) == 12 == len(set(p.stim_electrodes))
    pos = p.electrodes.positions[p.stim_electrodes]
    gaps = np.hypot(*(pos[:, None] - pos[None]).transpose(2, 0, 1))
    np.fill_diagonal(gaps, np.inf)
    assert gaps.min() >= 400  # spread out, not a clump of neighbours
    # a config's own list wins, and must match the task's inputs
    assert MEAParams(**registry.bind_task("sim.mea", {"stim_electrodes": [5]}, 1)).n_stim == 1
    with pytest.raises(ValueError, match="lists 2 electrodes but n_stim .* is 3"):
        MEAParams(stim_electrodes=[1, 2], n_stim=3)
