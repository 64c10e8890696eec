"""Every registered device kind (sim, driver in mock mode, mock) passes check_device."""

from __future__ import annotations

import pytest

from physres import registry
from physres.device import check_device

#: small, fast parameters for kinds whose defaults are heavy
SMALL = {"sim.esn": {"n_units": 20}, "mock.esn": {"n_units": 20}}


def _kinds() -> list[str]:
    # real drivers need hardware: they are covered by their mock.<family> kind here
    return [k for k in registry.kinds() if not k.startswith("drivers.")]


@pytest.mark.parametrize("kind", _kinds())
def test_kind_passes_the_device_contract(kind: str) -> None:
    dev = registry.create(kind, None, SMALL.get(kind, {}))
    report = check_device(dev)
    assert report.ok and len(report.passed) >= 5


def test_every_family_has_a_mock() -> None:
    kinds = registry.kinds()
    families = {k.split(".", 1)[1] for k in kinds if not k.startswith("mock.")}
    assert {f"mock.{f}" for f in families} <= set(kinds)


def test_unknown_kind_lists_the_known_ones() -> None:
    from physres.errors import ConfigError

    with pytest.raises(
        ConfigError, match="unknown device kind 'sim.teapot'; known kinds: .*sim.esn"
    ):
        registry.create("sim.teapot")
