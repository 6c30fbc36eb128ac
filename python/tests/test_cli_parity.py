"""The Python estimators and the CLI are one implementation: same objective, same
predictions, and each reads the other's model files."""

import json
import subprocess

import numpy as np
import pytest

import cvxnn

SETTINGS = dict(lam=1e-4, n_gates=40, gap_tol=1e-8, working_set="off", device="cpu")
FLAGS = ["--lambda", "1e-4", "--gates", "40", "--gap-tol", "1e-8", "--working-set", "off",
         "--device", "cpu", "--test-fraction", "0"]


def write_csv(path, X, y):
    # %.17g round-trips every float64 exactly, so both sides see the same numbers.
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", fmt="%.17g")


def run_cli(cli, *args):
    out = subprocess.run([cli, *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_fit_equals_the_cli(cli, digits, tmp_path, kind):
    X, _, y, _ = digits
    X, y = X[:400], y[:400]
    if kind == "regressor":
        y = (y % 3 - 1).astype(float) + 0.25 * X[:, 20] / 16.0
        est = cvxnn.ConvexGatedReLURegressor(**SETTINGS)
        task = ["--task", "regression"]
    else:
        est = cvxnn.ConvexGatedReLUClassifier(**SETTINGS)
        task = []
    est.fit(X, y)
    csv = tmp_path / "train.csv"
    write_csv(csv, X, y)
    model = tmp_path / "cli.safetensors"
    summary = json.loads(
        run_cli(cli, "train", "--data", str(csv), *FLAGS, *task, "--json", "--out", str(model))
    )
    assert summary["iterations"] == est.n_iter_
    assert abs(summary["objective"] - est.objective_) <= 1e-10 * abs(summary["objective"])
    # The CLI's model, loaded in Python, predicts what the Python fit predicts.
    from_cli = cvxnn.load(model)
    np.testing.assert_array_equal(from_cli.predict(X), est.predict(X))
    np.testing.assert_allclose(
        from_cli._outputs(X), est._outputs(X), rtol=1e-9, atol=1e-12
    )


def test_python_model_runs_in_cvxnn_predict(cli, digits, tmp_path):
    Xtr, Xte, ytr, yte = digits
    est = cvxnn.ConvexGatedReLUClassifier(lam=1e-4, n_gates=40, device="cpu").fit(Xtr, ytr)
    path = tmp_path / "py.safetensors"
    est.save(path)
    assert path.with_suffix(".json").is_file()
    csv = tmp_path / "test.csv"
    write_csv(csv, Xte, yte)
    preds = tmp_path / "pred.csv"
    report = json.loads(
        run_cli(cli, "predict", "--model", str(path), "--data", str(csv), "--out", str(preds), "--json")
    )
    cli_labels = np.loadtxt(preds)
    np.testing.assert_array_equal(cli_labels, est.predict(Xte).astype(float))
    assert abs(report["accuracy"] - est.score(Xte, yte)) < 1e-12


def test_relu_models_cross_both_ways(cli, digits, tmp_path):
    Xtr, Xte, ytr, _ = digits
    est = cvxnn.ConvexReLUClassifier(lam=1e-4, n_gates=20, decompose="approx", device="cpu")
    est.fit(Xtr, ytr)
    path = tmp_path / "relu.safetensors"
    est.save(path)
    again = cvxnn.load(path)
    assert type(again) is cvxnn.ConvexReLUClassifier and again.decompose == "approx"
    np.testing.assert_array_equal(again.predict(Xte), est.predict(Xte))
    csv = tmp_path / "test.csv"
    write_csv(csv, Xte, est.predict(Xte))
    report = json.loads(run_cli(cli, "predict", "--model", str(path), "--data", str(csv), "--json"))
    assert report["accuracy"] == 1.0
