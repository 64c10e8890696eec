"""The action spec: one tabletop action's layout, bounds, and what happens outside them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from physres.errors import SafetyError
from physres.sim.arm.spec import ACTION_SPEC, ActionError, ActionSpec


def test_an_action_is_six_numbers_with_units() -> None:
    assert ACTION_SPEC.names == ("dx", "dy", "dz", "dyaw", "gripper", "terminate")
    assert ACTION_SPEC.units[:4] == ("m", "m", "m", "rad")
    assert ACTION_SPEC.frame == "table"
    assert ACTION_SPEC.control_hz == 10 and ACTION_SPEC.physics_hz == 240


def test_in_bounds_actions_pass_unchanged_as_float32() -> None:
    a = ACTION_SPEC.validate([0.01, -0.02, 0.0, 0.1, 1.0, 0.0])
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, [0.01, -0.02, 0.0, 0.1, 1.0, 0.0], rtol=1e-6)


def test_out_of_bounds_actions_are_clipped_by_default() -> None:
    a = ACTION_SPEC.validate([0.5, -0.5, 0.0, 3.0, 7.0, -1.0])
    np.testing.assert_allclose(a, [0.05, -0.05, 0.0, 0.25, 1.0, 0.0], rtol=1e-6)


def test_refuse_mode_names_the_offending_component_and_its_bounds() -> None:
    with pytest.raises(ActionError, match=r"dyaw = 3 rad is outside \[-0.25, 0.25\] rad"):
        ACTION_SPEC.validate([0, 0, 0, 3.0, 0, 0], on_violation="refuse")


def test_nan_and_wrong_length_are_always_refused() -> None:
    with pytest.raises(ActionError, match="dz = nan is not finite"):
        ACTION_SPEC.validate([0, 0, np.nan, 0, 0, 0])
    with pytest.raises(ActionError, match="action has 3 values, expected 6"):
        ACTION_SPEC.validate([0, 0, 0])
    assert issubclass(ActionError, SafetyError)


def test_the_spec_round_trips_through_json_for_datasets() -> None:
    d = json.loads(json.dumps(ACTION_SPEC.to_dict()))
    assert ActionSpec.from_dict(d) == ACTION_SPEC
    assert ActionSpec.from_dict({**d, "high": [0.1] * 6}) != ACTION_SPEC
