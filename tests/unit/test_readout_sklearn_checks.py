"""Every readout passes scikit-learn's own estimator checks.

``parametrize_with_checks`` turns each of sklearn's ~45 API checks into one
test (cloning, get/set_params, fit returns self, input validation, NaN/inf
refusal, pickling, multi-output, ...). Waived checks are listed below with
the reason; at present none is waived. Two checks skip themselves on this
environment: ``check_array_api_input`` (needs SCIPY_ARRAY_API=1) and the
pandas ``*_data_not_an_array`` checks (pandas is not a physres dependency).
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from physres.readout import RidgeClassifierReadout, RidgeCVReadout, RidgeReadout, RLSReadout

#: check name -> why it is waived, per estimator class (empty: nothing waived)
WAIVED: dict[str, dict[str, str]] = {
    "RidgeReadout": {},
    "RidgeCVReadout": {},
    "RidgeClassifierReadout": {},
    "RLSReadout": {},
}


def _waived(estimator: object) -> dict[str, str]:
    return WAIVED[type(estimator).__name__]


@parametrize_with_checks(
    [RidgeReadout(), RidgeCVReadout(), RidgeClassifierReadout(), RLSReadout()],
    expected_failed_checks=_waived,
)
def test_sklearn_estimator_contract(estimator, check) -> None:
    check(estimator)
