"""cvxnn: two-layer ReLU networks trained by convex optimization (scikit-learn estimators)."""

from os import PathLike
from typing import Any, Literal, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

__version__: str

_Array = npt.ArrayLike
_Path = Union[str, PathLike[str]]
_RandomState = Union[int, np.random.RandomState, None]

class _ConvexBase(BaseEstimator):
    lam: float
    n_gates: int
    gates: Optional[_Array]
    gate_type: Literal["dense", "feature-sparse"]
    gate_order: int
    regularizer: Literal["neuron-gl1", "feature-gl1", "l1", "l2", "none"]
    preprocessing: Literal["unitize", "standardize", "none"]
    fit_bias: bool
    stop: Literal["gap", "subgradient"]
    gap_tol: float
    tol: float
    max_iter: int
    time_limit: Optional[float]
    step0: float
    working_set: Literal["auto", "on", "off"]
    device: Literal["auto", "cpu", "gpu"]
    precision: Optional[Literal["f32", "f64"]]
    random_state: _RandomState
    warm_start: bool
    verbose: int
    n_features_in_: int
    n_iter_: int
    objective_: float
    loss_: float
    penalty_: float
    gap_: Optional[float]
    rel_gap_: Optional[float]
    grad_norm_sq_: float
    status_: str
    products_: Optional[float]
    n_active_neurons_: int
    constraint_violation_: Optional[float]
    hidden_weights_: npt.NDArray[np.float64]
    hidden_bias_: npt.NDArray[np.float64]
    output_weights_: npt.NDArray[np.float64]
    convex_weights_: npt.NDArray[np.float64]
    report_: dict[str, Any]
    meta_: dict[str, Any]
    def save(self, path: _Path) -> None: ...
    def to_torch(self) -> Any: ...

class _GatedParams:
    def __init__(
        self,
        lam: float = 1e-05,
        n_gates: int = 200,
        gates: Optional[_Array] = None,
        gate_type: str = "dense",
        gate_order: int = 10,
        regularizer: str = "neuron-gl1",
        preprocessing: str = "unitize",
        fit_bias: bool = False,
        stop: str = "gap",
        gap_tol: float = 0.01,
        tol: float = 1e-06,
        max_iter: int = 10000,
        time_limit: Optional[float] = None,
        step0: float = 10.0,
        working_set: str = "auto",
        device: str = "auto",
        precision: Optional[str] = None,
        random_state: _RandomState = 0,
        warm_start: bool = False,
        verbose: int = 0,
    ) -> None: ...

class _ReluParams(_GatedParams):
    decompose: Optional[Literal["approx", "exact"]]
    rho: float
    decompose_tol: float
    delta0: float
    viol_tol: float
    def __init__(
        self,
        lam: float = 1e-05,
        n_gates: int = 200,
        gates: Optional[_Array] = None,
        gate_type: str = "dense",
        gate_order: int = 10,
        regularizer: str = "neuron-gl1",
        preprocessing: str = "unitize",
        fit_bias: bool = False,
        stop: str = "gap",
        gap_tol: float = 0.01,
        tol: float = 1e-06,
        max_iter: int = 10000,
        time_limit: Optional[float] = None,
        step0: float = 10.0,
        working_set: str = "auto",
        device: str = "auto",
        precision: Optional[str] = None,
        random_state: _RandomState = 0,
        warm_start: bool = False,
        verbose: int = 0,
        decompose: Optional[str] = None,
        rho: float = 1e-10,
        decompose_tol: float = 1e-12,
        delta0: float = 1000.0,
        viol_tol: float = 1e-06,
    ) -> None: ...

class _Classifier(ClassifierMixin, _ConvexBase):
    classes_: npt.NDArray[Any]
    def fit(self, X: _Array, y: _Array) -> "_Classifier": ...
    def decision_function(self, X: _Array) -> npt.NDArray[np.float64]: ...
    def predict(self, X: _Array) -> npt.NDArray[Any]: ...

class _Regressor(RegressorMixin, _ConvexBase):
    n_outputs_: int
    def fit(self, X: _Array, y: _Array) -> "_Regressor": ...
    def predict(self, X: _Array) -> npt.NDArray[np.float64]: ...

class ConvexGatedReLUClassifier(_GatedParams, _Classifier):
    gates_: npt.NDArray[np.float64]
    gate_bias_: npt.NDArray[np.float64]

class ConvexGatedReLURegressor(_GatedParams, _Regressor):
    gates_: npt.NDArray[np.float64]
    gate_bias_: npt.NDArray[np.float64]

class ConvexReLUClassifier(_ReluParams, _Classifier): ...
class ConvexReLURegressor(_ReluParams, _Regressor): ...

def load(path: _Path) -> Union[
    ConvexGatedReLUClassifier, ConvexGatedReLURegressor, ConvexReLUClassifier, ConvexReLURegressor
]: ...
def path(
    X: _Array,
    y: _Array,
    lambdas: Sequence[float],
    *,
    task: Literal["auto", "classification", "regression"] = "auto",
    warm: bool = True,
    **params: Any,
) -> list[dict[str, Any]]: ...
def devices() -> list[dict[str, Any]]: ...
