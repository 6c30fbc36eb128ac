"""The scikit-learn estimators: thin wrappers that validate input the scikit-learn way, encode
the labels and hand the arrays to the Rust solvers in :mod:`cvxnn._cvxnn`."""

from __future__ import annotations

import json
import logging

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _cvxnn

logger = logging.getLogger("cvxnn")

_DEFAULTS = json.loads(_cvxnn.defaults())


def _seed(random_state):
    """An int seed from scikit-learn's random_state conventions (None draws one)."""
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"invalid value for random_state: {random_state} (must be >= 0)")
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def _log_target(verbose):
    """Where progress lines go: the ``cvxnn`` logger, or nowhere when ``verbose`` is 0."""
    if not verbose:
        return None, 1
    if not logger.hasHandlers():
        # verbose asks for output; with logging not configured it would vanish.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("cvxnn: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    return logger.info, 100 if verbose == 1 else 10


class _ConvexBase(BaseEstimator):
    """Shared fitting and prediction; subclasses set ``_model`` and ``_task``."""

    _model = "gated"
    _task = "regression"

    # -- fitting -------------------------------------------------------------------------
    def _settings(self):
        p = self.get_params(deep=False)
        verbose = p.pop("verbose")
        p.pop("warm_start")
        p.pop("gates")
        log, every = _log_target(verbose)
        p["random_state"] = _seed(p["random_state"])
        for k in ("decompose", "rho", "decompose_tol", "delta0", "viol_tol"):
            p.setdefault(k, _DEFAULTS.get(k))
        p.update(model=self._model, adapter=None, threads=0, log_every=every)
        if p["decompose"] is not None and self._model == "relu":
            # A gated solve, then its cone decomposition into a ReLU network.
            p["model"] = "gated"
        return p, log

    def _gate_array(self):
        if self.gates is None:
            return None
        g = np.asarray(self.gates, dtype=np.float64)
        if g.ndim != 2:
            raise ValueError(
                f"gates must be a 2-D array (features after preprocessing x gates), got shape {g.shape}"
            )
        return np.ascontiguousarray(g)

    def _fit_arrays(self, X, y2d, labels):
        settings, log = self._settings()
        warm = None
        if self.warm_start and hasattr(self, "convex_weights_"):
            warm = np.ascontiguousarray(self.convex_weights_.ravel())
        model, weights, report = _cvxnn.fit(
            X,
            y2d,
            self._task,
            json.dumps(settings),
            labels=labels,
            gates=self._gate_array(),
            warm=warm,
            log=log,
        )
        self._set_fitted(bytes(model), json.loads(report))
        self.convex_weights_ = _convex_shape(weights, self)
        return self

    def _set_fitted(self, model, report):
        """Fitted attributes from the model bytes and the solver's report."""
        meta, arrays = _cvxnn.inspect(model)
        meta = json.loads(meta)
        self._model_bytes = model
        self.n_iter_ = int(report.get("iterations", meta["iterations"]))
        self.objective_ = float(report.get("objective", meta["objective"]))
        self.loss_ = float(report.get("loss", meta["loss"]))
        self.penalty_ = float(report.get("penalty", meta["penalty"]))
        self.grad_norm_sq_ = float(report.get("grad_norm_sq", meta["grad_norm_sq"]))
        self.gap_ = report.get("gap")
        self.rel_gap_ = report.get("rel_gap")
        self.status_ = str(report.get("status", meta["status"]))
        self.products_ = report.get("products")
        self.constraint_violation_ = report.get("constraint_violation")
        self.n_active_neurons_ = int(arrays["w2"].shape[1])
        self.report_ = report
        self.meta_ = meta
        if meta["model"] != "relu":
            self.gates_ = arrays["gates"]
            self.gate_bias_ = arrays["gate_bias"]
        self.hidden_weights_ = arrays["w1"]
        self.hidden_bias_ = arrays["b1"]
        self.output_weights_ = arrays["w2"]

    def _outputs(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, order="C", reset=False)
        return _cvxnn.forward(self._model_bytes, X)

    # -- models on disk and in torch -----------------------------------------------------
    def save(self, path):
        """Save the fitted network as the safetensors file ``cvxnn train`` writes.

        Parameters
        ----------
        path : str or path-like
            File name ending in ``.safetensors``; the metadata also goes to the same name with
            ``.json``. Both are written atomically.
        """
        check_is_fitted(self)
        _cvxnn.save(self._model_bytes, str(path))

    def to_torch(self):
        """The fitted network as a ``torch.nn.Module`` (float64 weights).

        Returns
        -------
        module : torch.nn.Module
            ``nn.Sequential(Linear, ReLU, Linear)`` for a ReLU network; a small module computing
            ``(1[x g + b_g > 0] * (x W1^T + b1)) W2^T`` for a gated one.

        Raises
        ------
        ImportError
            When torch is not installed.
        """
        check_is_fitted(self)
        from ._torch import to_torch

        return to_torch(self)


def _convex_shape(weights, est):
    c = est.output_weights_.shape[0]
    w = np.asarray(weights)
    per = max(c, 1)
    d = est.n_features_in_ + int(bool(est.fit_bias))
    if d and w.size % (per * d) == 0:
        return w.reshape(per, -1, d)
    return w


# Constructor parameters shared by the four estimators, with the CLI's defaults.
_DOC_PARAMS = """
    lam : float, default=1e-4
        Regularization strength lambda (``--lambda``).
    n_gates : int, default=200
        Number of gate vectors drawn (``--gates``); ignored when ``gates`` is given.
    gates : array of shape (n_features [+1 with fit_bias], n_gates), default=None
        Gate vectors in the preprocessed feature space (as ``--gates-file``).
    gate_type : {"dense", "feature-sparse"}, default="dense"
        How gates are drawn.
    gate_order : int, default=10
        Nonzero features per gate for ``gate_type="feature-sparse"``.
    regularizer : {"neuron-gl1", "feature-gl1", "l1", "l2", "none"}, default="neuron-gl1"
        The penalty R(U).
    preprocessing : {"standardize", "unitize", "none"}, default="standardize"
        Column scaling fitted on the training rows and folded into the saved network
        (``unitize`` is scnn's: each column divided by its L2 norm).
    fit_bias : bool, default=False
        Append a ones column (a bias for every neuron and gate).
    stop : {"gap", "subgradient"}, default="gap"
        Stop on the relative duality gap (``gap_tol``) or on scnn's rule (``tol``).
    gap_tol : float, default=1e-2
        Relative duality gap to stop at.
    tol : float, default=1e-6
        Squared minimum-norm subgradient to stop at (``stop="subgradient"``; the augmented
        Lagrangian's inner solves).
    max_iter : int, default=10000
        Iteration budget.
    time_limit : float, default=None
        Seconds after which the solve ends with status ``MaxTime``.
    step0 : float, default=10.0
        Initial step size of R-FISTA.
    working_set : {"auto", "on", "off"}, default="auto"
        Working sets with Gap Safe screening (see the README); ``auto`` uses them where
        lambda >= 0.015 lambda_max and the rules hold.
    device : {"auto", "cpu", "gpu"}, default="auto"
        Where to solve: ``auto`` takes a hardware GPU when there is one, else the CPU;
        ``gpu`` also accepts software adapters (lavapipe).
    precision : {"f32", "f64"}, default=None
        Arithmetic; None means f32 on a GPU, and on the CPU f32 for a gated fit that
        stops on a relative duality gap >= 1e-4 and for a ReLU fit whose ``tol`` and
        ``viol_tol`` are >= 1e-8 (f64 otherwise).
    random_state : int, RandomState or None, default=0
        Seed of the gates (the CLI's ``--seed``).
    warm_start : bool, default=False
        Start the next ``fit`` from this fit's convex weights when the shapes agree.
    verbose : int, default=0
        0: silent; 1: a progress line every 100 iterations to the ``cvxnn`` logger; 2: every
        10.
"""

_DOC_RELU = """
    decompose : {"approx", "exact"} or None, default=None
        None solves the cone-constrained program by the augmented Lagrangian; ``"approx"`` or
        ``"exact"`` solve the gated program and decompose its solution into a ReLU network.
    rho : float, default=1e-10
        Group-norm weight of the approximate decomposition.
    decompose_tol : float, default=1e-12
        Tolerance of the approximate decomposition.
    delta0 : float, default=1000.0
        Augmented Lagrangian: initial penalty strength (divided by the number of rows).
    viol_tol : float, default=5e-7
        Augmented Lagrangian: squared constraint violation to stop at.
"""

_DOC_ATTRS = """
    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    n_iter_ : int
        Solver iterations.
    objective_ : float
        The convex objective ``||sum_i D_i X U_i - Y||_F^2 / (2 n c) + lam R(U)`` (as the CLI
        reports it).
    gap_, rel_gap_ : float or None
        The duality gap and gap / P(0), where the regularizer has a dual.
    grad_norm_sq_ : float
        Squared minimum-norm subgradient (scnn's certificate).
    status_ : str
        ``Converged``, ``MaxIterations``, ``MaxTime`` or ``LineSearchFailed``.
    n_active_neurons_ : int
        Hidden units with nonzero weights.
    hidden_weights_, hidden_bias_, output_weights_ : ndarray
        The network on raw inputs: first layer (h, d) and (h,), second layer (c, h).
    gates_, gate_bias_ : ndarray
        Gated networks only: the gate vectors (h, d) and offsets (h,).
    convex_weights_ : ndarray
        The convex program's solution (c, p, d') (gated) or (c, 2p, d') (ReLU).
    constraint_violation_ : float or None
        ReLU networks: the largest cone-constraint violation left.
    report_ : dict
        Everything the solver reported (products, time, working set, ...).
"""


class _Classifier(ClassifierMixin, _ConvexBase):
    _task = "classification"

    def fit(self, X, y):
        """Fit the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels (any hashable values scikit-learn accepts).

        Returns
        -------
        self : object
        """
        X, y2d, labels, classes = self._validated(X, y)
        self._fit_arrays(X, y2d, labels)
        self.classes_ = classes
        return self

    def _validated(self, X, y):
        """Checked float64 X, the label column Rust trains on, the labels' JSON, classes_."""
        X, y = validate_data(self, X, y, dtype=np.float64, order="C")
        check_classification_targets(y)
        classes, encoded = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; the data contains only one class: {classes[0]!r}"
            )
        # Numeric labels go to Rust as they are, so `cvxnn predict` prints them; others by index.
        numeric = classes.dtype.kind in "iuf"
        values = classes.astype(np.float64) if numeric else np.arange(len(classes), dtype=np.float64)
        y2d = np.ascontiguousarray(values[encoded].reshape(-1, 1))
        return X, y2d, json.dumps(classes.tolist()), classes

    def decision_function(self, X):
        """Network outputs: shape (n_samples,) for two classes (positive means
        ``classes_[1]``), else (n_samples, n_classes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray
        """
        out = self._outputs(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]


class _Regressor(RegressorMixin, _ConvexBase):
    _task = "regression"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Fit the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : object
        """
        X, y2d, _, y_1d = self._validated(X, y)
        self._fit_arrays(X, y2d, None)
        self.n_outputs_ = y2d.shape[1]
        self._y_1d = y_1d
        return self

    def _validated(self, X, y):
        """Checked float64 X, the (n, targets) matrix Rust trains on, and whether y was 1-D."""
        X, y = validate_data(
            self, X, y, dtype=np.float64, order="C", y_numeric=True, multi_output=True
        )
        y = np.asarray(y, dtype=np.float64)
        return X, np.ascontiguousarray(y.reshape(len(y), -1)), None, y.ndim == 1

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        out = self._outputs(X)
        return out[:, 0] if self._y_1d else out


class _GatedParams:
    """The constructor shared by all four estimators (scikit-learn reads its signature)."""

    def __init__(self, lam=_DEFAULTS["lam"], n_gates=_DEFAULTS["n_gates"], gates=None,
                 gate_type="dense", gate_order=10, regularizer="neuron-gl1",
                 preprocessing="standardize", fit_bias=False, stop="gap",
                 gap_tol=_DEFAULTS["gap_tol"], tol=_DEFAULTS["tol"],
                 max_iter=_DEFAULTS["max_iter"], time_limit=None, step0=_DEFAULTS["step0"],
                 working_set="auto", device="auto", precision=None, random_state=0,
                 warm_start=False, verbose=0):
        self.lam = lam
        self.n_gates = n_gates
        self.gates = gates
        self.gate_type = gate_type
        self.gate_order = gate_order
        self.regularizer = regularizer
        self.preprocessing = preprocessing
        self.fit_bias = fit_bias
        self.stop = stop
        self.gap_tol = gap_tol
        self.tol = tol
        self.max_iter = max_iter
        self.time_limit = time_limit
        self.step0 = step0
        self.working_set = working_set
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose


class _ReluParams(_GatedParams):
    """The ReLU estimators' constructor: the gated one plus the AL and decomposition settings."""

    def __init__(self, lam=_DEFAULTS["lam"], n_gates=_DEFAULTS["n_gates"], gates=None,
                 gate_type="dense", gate_order=10, regularizer="neuron-gl1",
                 preprocessing="standardize", fit_bias=False, stop="gap",
                 gap_tol=_DEFAULTS["gap_tol"], tol=_DEFAULTS["tol"],
                 max_iter=_DEFAULTS["max_iter"], time_limit=None, step0=_DEFAULTS["step0"],
                 working_set="auto", device="auto", precision=None, random_state=0,
                 warm_start=False, verbose=0, decompose=None, rho=_DEFAULTS["rho"],
                 decompose_tol=_DEFAULTS["decompose_tol"], delta0=_DEFAULTS["delta0"],
                 viol_tol=_DEFAULTS["viol_tol"]):
        super().__init__(lam, n_gates, gates, gate_type, gate_order, regularizer,
                         preprocessing, fit_bias, stop, gap_tol, tol, max_iter, time_limit,
                         step0, working_set, device, precision, random_state, warm_start,
                         verbose)
        self.decompose = decompose
        self.rho = rho
        self.decompose_tol = decompose_tol
        self.delta0 = delta0
        self.viol_tol = viol_tol


def _doc(summary, relu=False):
    return summary + "\n\n    Parameters\n    ----------" + _DOC_PARAMS + (_DOC_RELU if relu else "") + _DOC_ATTRS


class ConvexGatedReLUClassifier(_GatedParams, _Classifier):
    __doc__ = _doc(
        """Gated ReLU network classifier trained by convex optimization (R-FISTA).

    Two classes train one output (+1 for ``classes_[1]``), k > 2 classes one-hot outputs, as
    ``cvxnn train`` does."""
    )


class ConvexGatedReLURegressor(_GatedParams, _Regressor):
    __doc__ = _doc("""Gated ReLU network regressor trained by convex optimization (R-FISTA).""")


class ConvexReLUClassifier(_ReluParams, _Classifier):
    __doc__ = _doc(
        """Standard ReLU network classifier trained by convex optimization: the
    cone-constrained program by the augmented Lagrangian, or a gated solve and a cone
    decomposition (``decompose``).""",
        relu=True,
    )
    _model = "relu"


class ConvexReLURegressor(_ReluParams, _Regressor):
    __doc__ = _doc(
        """Standard ReLU network regressor trained by convex optimization: the
    cone-constrained program by the augmented Lagrangian, or a gated solve and a cone
    decomposition (``decompose``).""",
        relu=True,
    )
    _model = "relu"
