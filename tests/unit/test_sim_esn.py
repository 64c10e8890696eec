"""sim.esn refuses a reservoir the machine cannot hold before it allocates one."""

from __future__ import annotations

import pytest

import physres.readout.stats as stats
from physres.errors import ResourceError
from physres.sim.esn import ESNParams, make_weights


@pytest.mark.parametrize("topology", ["random", "orthogonal"])
def test_a_reservoir_too_big_for_memory_is_refused_before_its_weights_are_drawn(
    monkeypatch: pytest.MonkeyPatch, topology: str
) -> None:
    monkeypatch.setattr(stats, "available_memory_bytes", lambda: 2**20)
    params = ESNParams(n_units=3000, topology=topology, density=0.5)
    with pytest.raises(ResourceError, match=r"sim.esn: 3,000 units .* GiB .* available"):
        make_weights(params)


def test_a_reservoir_that_fits_is_built_as_before() -> None:
    W, win, bias = make_weights(ESNParams(n_units=50, seed=1))
    assert W.shape == (50, 50) and win.shape == (50, 1) and bias.shape == (50,)
