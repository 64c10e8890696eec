"""Every readout passes scikit-learn's own estimator checks.

``estimator_checks_generator`` yields each of sklearn's ~50 API checks (cloning,
get/set_params, fit returns self, input validation, NaN/inf refusal, pickling,
multi-output, ...); each becomes one test here. Waived checks are listed below
with the reason; at present none is waived. One check does not apply and is
not generated at all, with its reason in ``NOT_APPLICABLE``.
"""

from __future__ import annotations

import functools

import pytest
from sklearn.utils.estimator_checks import estimator_checks_generator

from physres.readout import RidgeClassifierReadout, RidgeCVReadout, RidgeReadout, RLSReadout

#: check name -> why it is waived, per estimator class (empty: nothing waived)
WAIVED: dict[str, dict[str, str]] = {
    "RidgeReadout": {},
    "RidgeCVReadout": {},
    "RidgeClassifierReadout": {},
    "RLSReadout": {},
}

#: checks that test a feature physres does not offer (instead of letting them skip)
NOT_APPLICABLE = {
    "check_array_api_input": "the readouts are NumPy-only: float64 sufficient statistics on "
    "BLAS; no array-API (CuPy/torch) input path is offered",
}


def _name(check: object) -> str:
    f = check.func if isinstance(check, functools.partial) else check
    return f.__name__  # type: ignore[attr-defined]


CASES = [
    pytest.param(est, chk, id=f"{type(est).__name__}-{_name(chk)}")
    for proto in (RidgeReadout(), RidgeCVReadout(), RidgeClassifierReadout(), RLSReadout())
    for est, chk in estimator_checks_generator(
        proto, expected_failed_checks=WAIVED[type(proto).__name__]
    )
    if _name(chk) not in NOT_APPLICABLE
]


@pytest.mark.parametrize(("estimator", "check"), CASES)
def test_sklearn_estimator_contract(estimator, check) -> None:
    check(estimator)
