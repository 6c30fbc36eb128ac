"""cvxnn: two-layer ReLU networks trained by convex optimization.

scikit-learn estimators over the Rust solvers of the ``cvxnn`` command-line tool (the same
code, the same defaults, the same model files):

>>> from cvxnn import ConvexGatedReLUClassifier
>>> clf = ConvexGatedReLUClassifier(lam=1e-4).fit(X_train, y_train)   # doctest: +SKIP
>>> clf.score(X_test, y_test)                                         # doctest: +SKIP
"""

import os as _os

# Mesa's device-select Vulkan layer prints "error: XDG_RUNTIME_DIR is invalid" to stderr while
# wgpu lists adapters on machines without a desktop session; it only picks a default GPU, which
# cvxnn does itself (as the CLI, which sets the same variable). Left alone when the user set it.
_os.environ.setdefault("NODEVICE_SELECT", "1")

from . import _cvxnn  # noqa: E402
from ._estimators import (
    ConvexGatedReLUClassifier,
    ConvexGatedReLURegressor,
    ConvexReLUClassifier,
    ConvexReLURegressor,
)
from ._io import load, path

__version__ = _cvxnn.__version__


def devices():
    """The GPU adapters wgpu sees, software ones (lavapipe) included.

    Returns
    -------
    adapters : list of dict
        ``name``, ``backend``, ``type`` and ``f64`` (whether the adapter has f64 shaders).
    """
    return [
        {"name": n, "backend": b, "type": t, "f64": f} for n, b, t, f in _cvxnn.devices()
    ]


__all__ = [
    "ConvexGatedReLUClassifier",
    "ConvexGatedReLURegressor",
    "ConvexReLUClassifier",
    "ConvexReLURegressor",
    "devices",
    "load",
    "path",
]
