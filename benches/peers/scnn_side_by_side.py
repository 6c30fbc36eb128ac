"""scnn 0.0.10 and cvxnn side by side on the same problems, data, gates and objective.

Run through ./scnn_side_by_side.sh, which builds the venv. For each problem it writes X, y and the
gate matrix G once, then:
  - scnn: R-FISTA (float64, tol 1e-12, numpy backend) in a child process per OpenBLAS thread
    count (1 and 2), timed around `optimize_model`; its objective recomputed here from its
    weights with the same formula cvxnn reports;
  - cvxnn: `cvxnn train` on the same files (--no-unitize: X is unitized here for both, no bias,
    the same gates) with --gap-tol G and every iteration logged, giving the time and the products
    at which its objective first reaches scnn's, and at which rel_gap reaches G.
Prints one table row per problem. The objective is ||sum_i D_i X U_i - Y||^2 / (2 n c)
+ lam sum ||U_{l,i}|| in both (scnn's scaling is n c too).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def unitize(x):
    norms = np.linalg.norm(x, axis=0)
    norms[norms == 0] = 1.0
    return x / norms


def digits():
    raw = np.loadtxt(os.path.join(ROOT, "src/data/digits.csv.gz"), delimiter=",")
    return "digits (100 gates, lam 1e-4)", unitize(raw[:, :-1]), raw[:, -1].astype(int), 100, 1e-4, True


def planted(n, d, p_true, c, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    w1 = rng.standard_normal((d, p_true))
    w2 = rng.standard_normal((p_true, c))
    return unitize(x), np.maximum(x @ w1, 0) @ w2, rng


def regression():
    x, out, rng = planted(2000, 50, 20, 1, 1)
    y = out[:, 0] + 0.1 * rng.standard_normal(2000)
    y = (y - y.mean()) / y.std()
    return "regression n 2000 d 50 (200 gates, lam 1e-4)", x, y, 200, 1e-4, False


def three_class():
    x, out, _ = planted(1500, 30, 15, 3, 2)
    return "3-class n 1500 d 30 (150 gates, lam 1e-4)", x, np.argmax(out, axis=1), 150, 1e-4, True


def sparse_regression():
    name, x, y, p, _, classes = regression()
    return name.replace("lam 1e-4", "lam 0.05 lambda_max"), x, y, p, ("rel", 0.05), classes


def sparse_three_class():
    name, x, y, p, _, classes = three_class()
    return name.replace("lam 1e-4", "lam 0.05 lambda_max"), x, y, p, ("rel", 0.05), classes


def lambda_max(x, yt, g):
    """The smallest lam with U = 0 optimal: max over gates and outputs of ||X^T D_i y_l|| / (n c)."""
    d_mask = (x @ g > 0).astype(float)
    n, c = yt.shape
    return np.linalg.norm(np.einsum("np,nc,nd->pcd", d_mask, yt, x), axis=2).max() / (n * c)


def targets(y, classes):
    if not classes:
        return y.reshape(-1, 1).astype(float)
    k = int(y.max()) + 1
    if k == 2:
        return (2.0 * y - 1.0).reshape(-1, 1)
    return np.eye(k)[y]


def objective(x, yt, g, u, lam):
    """u: (c, p, d). The gated model's objective, as both tools define it."""
    d_mask = (x @ g > 0).astype(float)
    preds = np.einsum("np,cpd,nd->nc", d_mask, u, x)
    n, c = yt.shape
    return ((preds - yt) ** 2).sum() / (2 * n * c) + lam * np.linalg.norm(u, axis=2).sum()


SCNN_CHILD = r"""
import json, sys, time
import numpy as np
from scnn.models import ConvexGatedReLU
from scnn.solvers import RFISTA
from scnn.regularizers import NeuronGL1
from scnn.metrics import Metrics
from scnn.optimize import optimize_model
f = np.load(sys.argv[1])
x, yt, g, lam = f["x"], f["yt"], f["g"], float(f["lam"])
model = ConvexGatedReLU(g, c=yt.shape[1])
solver = RFISTA(model, max_iters=100000, tol=1e-12)
metrics = Metrics(metric_freq=10**9, objective=False, grad_norm=False, time=False)
t = time.perf_counter()
model, _ = optimize_model(model, solver, metrics, x, yt, regularizer=NeuronGL1(lam),
                          return_convex=True, unitize_data=False, dtype="float64")
secs = time.perf_counter() - t
np.savez(sys.argv[2], u=np.asarray(model.parameters[0], dtype=float), g=np.asarray(model.G, dtype=float))
print(json.dumps({"time": secs}))
"""


def run_scnn(work, threads):
    env = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(k, None)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(threads)
    out = os.path.join(work, f"scnn_{threads}.npz")
    res = subprocess.run(
        [sys.executable, "-c", SCNN_CHILD, os.path.join(work, "problem.npz"), out],
        env=env, capture_output=True, text=True, check=True,
    )
    # scnn hands back its gates in its own order, with the weights in that order.
    f = np.load(out)
    return json.loads(res.stdout.strip().splitlines()[-1])["time"], f["u"], f["g"]


def run_cvxnn(binary, work, classes, lam, gap_tol):
    metrics = os.path.join(work, "cvxnn_metrics.jsonl")
    cmd = [
        binary, "train", "--data", os.path.join(work, "data.npz"),
        "--task", "classification" if classes else "regression",
        "--gates-file", os.path.join(work, "g.npy"), "--no-unitize", "--test-fraction", "0",
        "--lambda", str(lam), "--device", "cpu", "--precision", "f64",
        "--gap-tol", str(gap_tol), "--max-iters", "100000",
        "--log-every", "1", "--metrics-out", metrics, "--no-save", "--json", "--quiet",
    ]
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"cvxnn failed: {res.stderr}")
    rows = [json.loads(line) for line in open(metrics)]
    return json.loads(res.stdout), rows, wall


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/cvxnn")
    gap_tol = 1e-6
    print("| problem | scnn s (1 / 2 threads) | scnn objective | cvxnn s to scnn's objective | "
          "its, products | cvxnn s to rel_gap 1e-6 | its, products | process wall s | active groups | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    # The last two: the generated problems at the digits' relative lambda (0.058 lambda_max
    # there), where their solutions are sparse too; at lam 1e-4 they are dense.
    for make in (digits, regression, three_class, sparse_regression, sparse_three_class):
        name, x, y, p, lam, classes = make()
        g = np.random.default_rng(123).standard_normal((x.shape[1], p))
        yt = targets(y, classes)
        if isinstance(lam, tuple):
            lam = lam[1] * lambda_max(x, yt, g)
            name = f"{name} = {lam:.3g}"
        with tempfile.TemporaryDirectory() as work:
            np.save(os.path.join(work, "g.npy"), g)
            np.savez(os.path.join(work, "data.npz"), X=x, y=y)
            np.savez(os.path.join(work, "problem.npz"), x=x, yt=yt, g=g, lam=lam)
            scnn = {t: run_scnn(work, t) for t in (1, 2)}
            best = min(scnn, key=lambda t: scnn[t][0])
            s_time, s_u, s_g = scnn[best]
            s_obj = objective(x, yt, s_g, s_u, lam)
            summary, rows, wall = run_cvxnn(binary, work, classes, lam, gap_tol)
        reach = next((r for r in rows if r["objective"] <= s_obj), None)
        last = rows[-1]
        to_obj = (f"{reach['time_s']:.2f}", f"{reach['iteration']}, {reach['products']:.0f}") if reach \
            else ("not reached", "-")
        ratio = f"{s_time / reach['time_s']:.1f}x" if reach else "-"
        print(f"| {name} | {scnn[1][0]:.2f} / {scnn[2][0]:.2f} | {s_obj:.10e} | {to_obj[0]} | {to_obj[1]} | "
              f"{last['time_s']:.2f} ({summary['status']}) | {last['iteration']}, {last['products']:.0f} | "
              f"{wall:.2f} | {summary['active_neurons']} of {yt.shape[1] * p} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
