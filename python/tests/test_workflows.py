"""What users do with the estimators: grid searches, pipelines, the GPU, paths, torch, files."""

import json
import logging
import os
import pickle
import signal
import struct
import threading

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cvxnn
from cvxnn import _cvxnn
from conftest import gpu_required, rng


def test_defaults_are_the_cli_defaults():
    rust = json.loads(_cvxnn.defaults())
    for cls in (cvxnn.ConvexGatedReLUClassifier, cvxnn.ConvexReLURegressor):
        params = cls().get_params()
        for name, value in rust.items():
            if name in params:
                assert params[name] == value, (cls.__name__, name)
    relu = cvxnn.ConvexReLUClassifier().get_params()
    assert {k: relu[k] for k in ("rho", "decompose_tol", "delta0", "viol_tol")} == {
        k: rust[k] for k in ("rho", "decompose_tol", "delta0", "viol_tol")
    }


def test_grid_search_on_digits(digits):
    Xtr, Xte, ytr, yte = digits
    search = GridSearchCV(
        cvxnn.ConvexGatedReLUClassifier(n_gates=100, device="cpu"),
        {"lam": [1e-2, 1e-4, 1e-5]},
        cv=3,
    ).fit(Xtr, ytr)
    assert search.best_params_["lam"] < 1e-2
    assert search.score(Xte, yte) >= 0.95


def test_pipeline_with_a_scaler(digits):
    Xtr, Xte, ytr, yte = digits
    pipe = make_pipeline(
        StandardScaler(), cvxnn.ConvexGatedReLUClassifier(n_gates=100, preprocessing="none")
    ).fit(Xtr, ytr)
    assert pipe.score(Xte, yte) >= 0.9


def test_gpu_agrees_with_the_cpu(digits):
    if not cvxnn.devices():
        if gpu_required():
            pytest.fail("REQUIRE_GPU=1 but wgpu sees no adapter")
        pytest.skip("no GPU adapter (install mesa-vulkan-drivers for lavapipe)")
    Xtr, Xte, ytr, _ = digits
    X, y = Xtr[:300], ytr[:300]
    kw = dict(lam=1e-3, n_gates=30, gap_tol=1e-4, working_set="off")
    cpu = cvxnn.ConvexGatedReLUClassifier(device="cpu", precision="f64", **kw).fit(X, y)
    gpu = cvxnn.ConvexGatedReLUClassifier(device="gpu", **kw).fit(X, y)
    assert gpu.report_["device"].startswith("gpu-f32")
    # f32 on the device against f64 on the host: both reach rel_gap 1e-4, so their objectives
    # lie within 1e-4 P(0) of the optimum and of each other.
    assert abs(gpu.objective_ - cpu.objective_) <= 2e-4 * max(cpu.objective_, 1e-12) + 1e-5
    agree = np.mean(gpu.predict(Xte) == cpu.predict(Xte))
    assert agree >= 0.98


def read_safetensors(path):
    """A reader independent of cvxnn: header length, JSON header, little-endian f64 tensors."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        assert t["dtype"] == "F64"
        out[name] = np.frombuffer(body[a:b], dtype="<f8").reshape(t["shape"])
    return out, json.loads(header["__metadata__"]["cvxnn"])


def test_saved_weights_give_the_numpy_forward(digits, tmp_path):
    Xtr, Xte, ytr, _ = digits
    for est, name in [
        (cvxnn.ConvexGatedReLUClassifier(n_gates=40, fit_bias=True, preprocessing="standardize"), "gated"),
        (cvxnn.ConvexReLUClassifier(n_gates=20, decompose="approx"), "relu"),
    ]:
        est.fit(Xtr, ytr)
        path = tmp_path / f"{name}.safetensors"
        est.save(path)
        t, meta = read_safetensors(path)
        if name == "gated":
            on = (Xte @ t["gates"].T + t["gate_bias"]) > 0
            out = (on * (Xte @ t["w1"].T + t["b1"])) @ t["w2"].T
        else:
            out = np.maximum(Xte @ t["0.weight"].T + t["0.bias"], 0) @ t["2.weight"].T + t["2.bias"]
        np.testing.assert_allclose(out, est.decision_function(Xte), rtol=1e-10, atol=1e-10)
        assert meta["labels"] == est.classes_.tolist()


def test_to_torch(digits):
    torch = pytest.importorskip("torch", reason="torch is not installed (too large for CI)")
    Xtr, Xte, ytr, _ = digits
    for est in (
        cvxnn.ConvexGatedReLUClassifier(n_gates=40, fit_bias=True),
        cvxnn.ConvexReLUClassifier(n_gates=20, decompose="approx"),
    ):
        est.fit(Xtr, ytr)
        out = est.to_torch()(torch.as_tensor(Xte, dtype=torch.float64)).detach().numpy()
        np.testing.assert_allclose(out, est._outputs(Xte), rtol=1e-10, atol=1e-10)


def test_to_torch_without_torch_says_so(digits, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_torch(name, *a, **k):
        if name == "torch":
            raise ImportError("No module named 'torch'")
        return real(name, *a, **k)

    Xtr, _, ytr, _ = digits
    est = cvxnn.ConvexGatedReLUClassifier(n_gates=10).fit(Xtr[:200], ytr[:200])
    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(ImportError, match="pip install torch"):
        est.to_torch()


def test_path_matches_cold_fits(digits):
    Xtr, Xte, ytr, yte = digits
    lams = [1e-2, 1e-3, 1e-4]
    rows = cvxnn.path(Xtr, ytr, lams, n_gates=40, gap_tol=1e-6, device="cpu")
    assert [r["lam"] for r in rows] == sorted(lams, reverse=True)
    for r in rows:
        cold = cvxnn.ConvexGatedReLUClassifier(lam=r["lam"], n_gates=40, gap_tol=1e-6, device="cpu")
        cold.fit(Xtr, ytr)
        # Both certified to rel_gap 1e-6: the same optimum within 2e-6 P(0) (P(0) <= 0.5 here).
        assert abs(r["objective"] - cold.objective_) <= 2e-6
        assert r["model"].lam == r["lam"]
        assert r["model"].score(Xte, yte) == pytest.approx(cold.score(Xte, yte), abs=0.02)
    assert rows[-1]["model"].score(Xte, yte) >= 0.9


def test_warm_start_reuses_the_solution(digits):
    Xtr, _, ytr, _ = digits
    est = cvxnn.ConvexGatedReLUClassifier(lam=1e-4, n_gates=40, gap_tol=1e-6, warm_start=True)
    first = est.fit(Xtr, ytr).n_iter_
    again = est.fit(Xtr, ytr).n_iter_
    assert again < first / 2


def test_pickle_round_trip(digits):
    Xtr, Xte, ytr, _ = digits
    est = cvxnn.ConvexGatedReLURegressor(n_gates=20).fit(Xtr, ytr.astype(float))
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict(Xte), est.predict(Xte))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"lam": -1.0}, "invalid value for lam"),
        ({"regularizer": "group"}, "'neuron-gl1'"),
        ({"max_iter": 0}, "invalid value for max_iter"),
        ({"n_gates": 0}, "invalid value for n_gates"),
        ({"device": "tpu"}, "invalid value for device"),
        ({"gates": np.ones((3, 2))}, "gates"),
        ({"random_state": -3}, "random_state"),
    ],
)
def test_bad_settings_raise_value_errors(params, message):
    X = rng().normal(size=(30, 4))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match=message):
        cvxnn.ConvexGatedReLUClassifier(**params).fit(X, y)


def test_silent_by_default_and_logging_when_verbose(digits, capfd, caplog):
    Xtr, _, ytr, _ = digits
    cvxnn.ConvexGatedReLUClassifier(n_gates=20).fit(Xtr, ytr)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    with caplog.at_level(logging.INFO, logger="cvxnn"):
        cvxnn.ConvexGatedReLUClassifier(n_gates=20, verbose=2).fit(Xtr, ytr)
    assert any("objective" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT to itself")
def test_ctrl_c_interrupts_and_leaves_the_estimator_unfitted():
    X = rng(1).normal(size=(2000, 50))
    y = np.sin(X @ rng(2).normal(size=50))
    est = cvxnn.ConvexGatedReLURegressor(
        lam=1e-8, n_gates=300, gap_tol=1e-14, working_set="off", time_limit=60, device="cpu"
    )
    # Ctrl-C every 0.5 s until fit returns; a solve that ignores them all, or finishes, fails.
    # Python maps SIGINT to KeyboardInterrupt only when the process did not start with SIGINT
    # ignored, as it does under `cmd &` from a non-interactive shell; install the handler an
    # interactive session has.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    done = threading.Event()

    def ctrl_c():
        while not done.wait(0.5):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            est.fit(X, y)
    finally:
        done.set()
        signal.signal(signal.SIGINT, previous)
    assert not hasattr(est, "n_iter_")


def test_readme_example(capsys):
    """The README's five-line example, run as written, reaches the accuracy it promises."""
    import pathlib
    import re

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = re.search(r"<!-- python-example -->\n```python\n(.*?)```", readme, re.S).group(1)
    assert len(code.strip().splitlines()) == 5
    exec(compile(code, "README.md", "exec"), {})
    accuracy = float(capsys.readouterr().out.split()[-1])
    assert accuracy >= 0.95
