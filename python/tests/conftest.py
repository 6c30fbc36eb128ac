"""Shared fixtures: the digits, the CLI binary, and whether a GPU adapter must be present."""

import os
import pathlib
import shutil

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def digits():
    """The digits the CLI bundles (scikit-learn's copy), split 75/25 with a fixed seed."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="session")
def cli():
    """The `cvxnn` binary: $CVXNN_BIN (a missing one fails), else the repository's release
    build (skipped with the reason when it was not built)."""
    given = os.environ.get("CVXNN_BIN")
    if given:
        assert pathlib.Path(given).is_file(), f"CVXNN_BIN={given} does not exist"
        return given
    for candidate in (REPO / "target" / "release" / "cvxnn", shutil.which("cvxnn")):
        if candidate and pathlib.Path(candidate).is_file():
            return str(candidate)
    pytest.skip("no cvxnn binary: run `cargo build --release` or set CVXNN_BIN")


def gpu_required():
    return os.environ.get("REQUIRE_GPU") == "1"


def rng(seed=0):
    return np.random.default_rng(seed)
