"""What ``Device.apply`` does with an input before the transport ever sees it.

A small DAC-like device with an ``int8`` input and limits 0..100 LSB records
what would have been sent; every refusal must leave that record empty.
"""

from __future__ import annotations

import numpy as np
import pytest

from physres.device import Device
from physres.device.spec import Chunk, InputSpec, Limits, StreamSpec
from physres.errors import SafetyError


class Dac(Device):
    kind = "test.dac"

    def __init__(self, dtype: str = "i1", limits: Limits | None = None) -> None:
        super().__init__("dac")
        self.dtype = dtype
        self.limits = Limits(low=0, high=100) if limits is None else limits
        self.sent: list[np.ndarray] = []

    def describe(self):
        return self._description(
            streams=[StreamSpec(name="y", shape=(1,))],
            inputs=[
                InputSpec(
                    name="code", dtype=self.dtype, shape=(1,), units="LSB", limits=self.limits
                )
            ],
        )

    def _apply(self, inputs):
        self.sent.append(inputs["code"].copy())

    def _read(self):
        return {"y": Chunk(np.zeros((0, 1)), 0)}


@pytest.fixture
def dac():
    with Dac() as d:
        yield d


def test_in_range_codes_are_cast_to_the_declared_dtype(dac: Dac) -> None:
    dac.apply({"code": [[42.0], [7]]})
    assert dac.sent[0].dtype == np.int8 and dac.sent[0].ravel().tolist() == [42, 7]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (101.0, "above the limit 100 LSB"),
        (300.0, r"300.0 LSB does not fit int8"),  # would wrap to 44 if cast first
        (2.0**31 + 50, "does not fit int8"),  # would wrap to a small number
        (-1, "below the limit 0 LSB"),
        (float("nan"), "not finite"),
    ],
)
def test_values_beyond_the_limits_or_the_dtype_are_refused_before_sending(
    dac: Dac, value: float, match: str
) -> None:
    with pytest.raises(SafetyError, match=match):
        dac.apply({"code": [[value]]})
    assert dac.sent == []


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.zeros((1, 1), dtype=[("a", "<f4"), ("b", "<i4")]), "expected numbers"),
        (np.array([["12"]]), "expected numbers"),
        (np.array([[1.5]]), "fractional values"),
        (np.zeros((1, 2)), "expected shape"),
    ],
    ids=["records", "text", "fraction", "shape"],
)
def test_inputs_of_the_wrong_kind_are_refused_with_what_was_expected(
    dac: Dac, value: np.ndarray, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        dac.apply({"code": value})
    assert dac.sent == []


@pytest.mark.parametrize(
    ("dtype", "fits", "too_big"),
    [("<i8", 2.0**62, 2.0**63), ("<u8", 2.0**63, 2.0**64), ("<u2", 65535.0, 65536.0)],
)
def test_the_widest_integer_inputs_are_range_checked_exactly(
    dtype: str, fits: float, too_big: float
) -> None:
    """In float, int64's largest value rounds up to 2**63: the check must not let it wrap."""
    with Dac(dtype, Limits()) as dac:
        dac.apply({"code": [[fits]]})
        assert int(dac.sent[-1][0, 0]) == int(fits)
        with pytest.raises(SafetyError, match=f"does not fit {np.dtype(dtype)}"):
            dac.apply({"code": [[too_big]]})
        assert len(dac.sent) == 1
