"""Model files and regularization paths."""

from __future__ import annotations

import json
import re

import numpy as np
from sklearn.utils.multiclass import type_of_target

from . import _cvxnn
from ._estimators import (
    ConvexGatedReLUClassifier,
    ConvexGatedReLURegressor,
    ConvexReLUClassifier,
    ConvexReLURegressor,
)


def _kebab(debug_name):
    """``NeuronGl1`` -> ``neuron-gl1`` (the metadata stores Rust's names)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", debug_name).lower()


def _from_model(model, report=None):
    """A fitted estimator from model bytes (the class follows the metadata)."""
    meta = json.loads(_cvxnn.inspect(model)[0])
    task = meta["task"]
    relu = meta["model"] == "relu"
    if task["kind"] == "classification":
        cls = ConvexReLUClassifier if relu else ConvexGatedReLUClassifier
    else:
        cls = ConvexReLURegressor if relu else ConvexGatedReLURegressor
    pre = meta["preprocess"]
    est = cls(
        lam=meta["lambda"],
        regularizer=_kebab(meta["regularizer"]),
        n_gates=meta["gates_drawn"],
        random_state=meta["seed"],
        fit_bias=bool(pre.get("bias", False)),
        preprocessing=_kebab(pre.get("scaling", "Unitize")),
    )
    if relu and "decomposition" in meta["solver"]:
        est.set_params(decompose="exact" if "exact" in meta["solver"] else "approx")
    est.n_features_in_ = int(meta["features"])
    est._set_fitted(bytes(model), report or {})
    if task["kind"] == "classification":
        labels = meta.get("labels")
        est.classes_ = np.asarray(labels if labels is not None else task["classes"])
    else:
        est.n_outputs_ = int(task["outputs"])
        est._y_1d = est.n_outputs_ == 1
    return est


def load(path):
    """Load a model written by ``cvxnn train``, ``est.save`` or ``cvxnn path``.

    Parameters
    ----------
    path : str or path-like
        A ``.safetensors`` model file.

    Returns
    -------
    estimator : ConvexGatedReLUClassifier, ConvexGatedReLURegressor, ConvexReLUClassifier or ConvexReLURegressor
        A fitted estimator that predicts as the file's network does. Its solver attributes
        (``n_iter_``, ``objective_``, ...) come from the file's metadata.
    """
    return _from_model(bytes(_cvxnn.load(str(path))))


def path(X, y, lambdas, *, task="auto", warm=True, **params):
    """Gated ReLU networks along a regularization path, as ``cvxnn path`` computes it.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
    lambdas : sequence of float
        Regularization strengths; solved from the largest to the smallest.
    task : {"auto", "classification", "regression"}, default="auto"
        ``auto``: classification when ``y`` holds binary or multiclass labels.
    warm : bool, default=True
        Start each solve from the previous solution (False: every solve from zero).
    **params
        Constructor parameters of :class:`ConvexGatedReLUClassifier` (``n_gates``,
        ``gap_tol``, ``device``, ...; ``lam`` is taken from ``lambdas``).

    Returns
    -------
    rows : list of dict
        One per lambda solved: ``lam``, ``objective``, ``train_accuracy`` (or the mean squared
        error for regression), ``active_neurons``, ``active_features``, ``iterations``,
        ``time_s``, ``status``, ``products``, ``gap``, ``rel_gap``, and ``model``, the fitted
        estimator.
    """
    if task == "auto":
        kind = type_of_target(y)
        task = "classification" if kind in ("binary", "multiclass") else "regression"
    if task not in ("classification", "regression"):
        raise ValueError(f"invalid value for task: {task!r} (expected 'auto', 'classification' or 'regression')")
    params.pop("lam", None)
    cls = ConvexGatedReLUClassifier if task == "classification" else ConvexGatedReLURegressor
    est = cls(**params)
    X, y2d, labels, classes = est._validated(X, y)
    if task != "classification":
        classes = None
    settings, _ = est._settings()
    rows = _cvxnn.path(
        X, y2d, task, json.dumps(settings), [float(v) for v in lambdas],
        warm=bool(warm), labels=labels, gates=est._gate_array(),
    )
    out = []
    for row, model in rows:
        row = json.loads(row)
        if task == "classification":
            row["train_accuracy"] = row.pop("train")
        else:
            row["train_mse"] = row.pop("train")
        row.pop("test", None)
        row["lam"] = row.pop("lambda")
        fitted = _from_model(bytes(model), {
            "iterations": row["iterations"], "objective": row["objective"],
            "status": row["status"], "gap": row["gap"], "rel_gap": row["rel_gap"],
            "products": row["products"],
        })
        fitted.set_params(**params, lam=row["lam"])
        if classes is not None:
            fitted.classes_ = classes
        row["model"] = fitted
        out.append(row)
    return out
