"""scikit-learn's own estimator checks over the four estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from cvxnn import (
    ConvexGatedReLUClassifier,
    ConvexGatedReLURegressor,
    ConvexReLUClassifier,
    ConvexReLURegressor,
)

# Small networks keep the ~50 checks per estimator quick; every other setting is the default.
ESTIMATORS = [
    ConvexGatedReLUClassifier(n_gates=50),
    ConvexGatedReLURegressor(n_gates=50),
    ConvexReLUClassifier(n_gates=20),
    ConvexReLUClassifier(n_gates=20, decompose="approx"),
    ConvexReLURegressor(n_gates=20),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
