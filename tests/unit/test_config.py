"""Config errors name the file, the line, the key path, the bad value and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from physres.config import load_config, parse_config
from physres.errors import ConfigError

GOOD = """\
name: narma
seed: 3
devices:
  esn:
    kind: sim.esn
    params:
      n_units: 50
      spectral_radius: 0.9
task:
  kind: narma10
"""


def test_a_good_config_loads_with_defaults_filled_in() -> None:
    cfg = parse_config(GOOD, "good.yaml")
    assert cfg.devices["esn"].params["n_units"] == 50
    assert cfg.bus.transport == "ipc" and cfg.bus.host == "127.0.0.1"
    assert cfg.record.enabled and cfg.drive.chunk == 200


def test_switching_to_the_mock_is_one_line() -> None:
    cfg = parse_config(GOOD.replace("sim.esn", "mock.esn"), "mock.yaml")
    assert cfg.devices["esn"].kind == "mock.esn"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("spectral_radius: 0.9", "spectral_radius: fast"),
            r"bad.yaml:8: devices.esn.params.spectral_radius: Input should be a valid number"
            r".*got 'fast'",
        ),
        (
            ("n_units: 50", "n_units: 50\n      leakrate: 0.3"),
            r"bad.yaml:8: devices.esn.params.leakrate: Extra inputs are not permitted",
        ),
        (
            ("kind: sim.esn", "kind: sim.teapot"),
            r"bad.yaml:5: devices.esn.kind: unknown device kind 'sim.teapot'",
        ),
        (("seed: 3", "seed: [1]"), r"bad.yaml:2: seed: Input should be a valid integer"),
        (
            ("spectral_radius: 0.9", "spectral_radius: .nan"),
            r"bad.yaml:8: devices.esn.params.spectral_radius: nan is not a finite number",
        ),
        (
            ("name: narma", "name: narma\nbus: {transport: udp}"),
            r"bad.yaml:2: bus.transport: Input should be 'ipc' or 'tcp'.*got 'udp'",
        ),
        (
            ("kind: narma10", "kind: narma10\n  device: bucket"),
            r"task.device: 'bucket' is not one of the configured devices \['esn'\]",
        ),
    ],
    ids=["wrong-type", "unknown-key", "unknown-kind", "seed-type", "nan", "enum", "dangling-ref"],
)
def test_bad_values_are_named_precisely(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(GOOD.replace(*edit), "bad.yaml")


def test_nan_limits_are_rejected_at_config_time() -> None:
    from physres.device import Limits

    with pytest.raises(ConfigError, match="limit high must be a finite number"):
        Limits(low=0, high=float("nan"))
    with pytest.raises(ConfigError, match="low=1.0 is above high=0.0"):
        Limits(low=1, high=0)


def test_unreadable_and_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: not valid YAML"):
        load_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top"):
        load_config(bad)
