"""scnn 0.0.10 and cvxnn side by side on the same problems, data, gates and objective.

Run through ./scnn_side_by_side.sh, which builds the venv. For each problem it writes X, y and the
gate matrix G once, then:
  - scnn: R-FISTA (float64, tol 1e-12, numpy backend) in a child process per OpenBLAS thread
    count (1 and 2), timed around `optimize_model`; its objective recomputed here from its
    weights with the same formula cvxnn reports;
  - cvxnn: `cvxnn train` on the same files (--no-unitize: X is unitized here for both, no bias,
    the same gates) with --gap-tol G and every iteration logged, giving the time and the products
    at which its objective first reaches scnn's, and at which rel_gap reaches G; then the
    same with --working-set off (the full solve), for the work ratio and the optimum's agreement.
Each configuration runs REPEATS times (default 3) and the fastest counts, for both tools.
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


def gated_planted(n, d, p, k, c, seed):
    """A gated ReLU network on k of the p gates the script draws (the same seed-123 G): the
    problems where the solution is sparse, the case the working sets are for."""
    rng = np.random.default_rng(seed)
    x = unitize(rng.standard_normal((n, d)))
    g = gate_matrix(d, p)
    pick = rng.choice(p, k, replace=False)
    v = rng.standard_normal((k, d, c))
    out = np.einsum("nk,nd,kdc->nc", (x @ g[:, pick] > 0).astype(float), x, v)
    return x, out, rng


def sparse_regression():
    x, out, rng = gated_planted(2000, 50, 500, 10, 1, 7)
    y = out[:, 0] + 0.1 * out[:, 0].std() * rng.standard_normal(2000)
    y = (y - y.mean()) / y.std()
    return "gated regression n 2000 d 50 (500 gates, 10 planted), lam 0.05 lambda_max", x, y, 500, ("rel", 0.05), False


def sparse_three_class():
    # Labels by the planted network's largest output, keeping the half of the rows with the
    # widest margin between the two largest (a learnable 3-class problem).
    x, out, _ = gated_planted(3000, 30, 300, 10, 3, 7)
    top = np.sort(out, axis=1)
    keep = np.argsort(top[:, -1] - top[:, -2])[1500:]
    return "gated 3-class n 1500 d 30 (300 gates, 10 planted), lam 0.1 lambda_max", x[keep], \
        np.argmax(out[keep], axis=1), 300, ("rel", 0.1), True


def gate_matrix(d, p):
    return np.random.default_rng(123).standard_normal((d, p))


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


def run_cvxnn(binary, work, classes, lam, gap_tol, working_set="auto"):
    metrics = os.path.join(work, "cvxnn_metrics.jsonl")
    cmd = [
        binary, "train", "--data", os.path.join(work, "data.npz"),
        "--task", "classification" if classes else "regression",
        "--gates-file", os.path.join(work, "g.npy"), "--no-unitize", "--test-fraction", "0",
        "--lambda", str(lam), "--device", "cpu", "--precision", "f64",
        "--gap-tol", str(gap_tol), "--max-iters", "100000",
        "--log-every", "1", "--metrics-out", metrics, "--no-save", "--json", "--quiet",
        "--working-set", working_set,
    ]
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"cvxnn failed: {res.stderr}")
    rows = [json.loads(line) for line in open(metrics)]
    return json.loads(res.stdout), rows, wall


def best_of(run, seconds):
    """The fastest of REPEATS runs (default 3): this 2-vCPU VM has spells in which its second
    core gives little, slowing a run up to 2x, so each tool's configuration is timed repeatedly."""
    runs = [run() for _ in range(int(os.environ.get("REPEATS", "3")))]
    return min(runs, key=seconds)


def first_reach(rows, target):
    return next((r for r in rows if r["objective"] <= target), None)


def reach_time(rows, target):
    r = first_reach(rows, target)
    return r["time_s"] if r else float("inf")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/cvxnn")
    gap_tol = 1e-6
    print("| problem | scnn s (1 / 2 threads) | scnn objective | cvxnn s to scnn's objective | "
          "its, products | cvxnn s to rel_gap 1e-6 | its, products | process wall s | active groups | speed-up | "
          "full solve (--working-set off) s to rel_gap 1e-6, products | its products / auto's | "
          "objective auto vs full, relative |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    # The first three (issue 11's) have dense solutions at lam 1e-4; the last two are planted
    # gated networks whose solutions are sparse (the working sets' case, issue 12).
    for make in (digits, regression, three_class, sparse_regression, sparse_three_class):
        name, x, y, p, lam, classes = make()
        g = gate_matrix(x.shape[1], p)
        yt = targets(y, classes)
        if isinstance(lam, tuple):
            lam = lam[1] * lambda_max(x, yt, g)
            name = f"{name} = {lam:.3g}"
        with tempfile.TemporaryDirectory() as work:
            np.save(os.path.join(work, "g.npy"), g)
            np.savez(os.path.join(work, "data.npz"), X=x, y=y)
            np.savez(os.path.join(work, "problem.npz"), x=x, yt=yt, g=g, lam=lam)
            scnn = {t: best_of(lambda: run_scnn(work, t), lambda r: r[0]) for t in (1, 2)}
            best = min(scnn, key=lambda t: scnn[t][0])
            s_time, s_u, s_g = scnn[best]
            s_obj = objective(x, yt, s_g, s_u, lam)
            summary, rows, wall = best_of(lambda: run_cvxnn(binary, work, classes, lam, gap_tol),
                                          lambda r: reach_time(r[1], s_obj))
            full, full_rows, _ = best_of(lambda: run_cvxnn(binary, work, classes, lam, gap_tol, "off"),
                                         lambda r: r[1][-1]["time_s"])
        reach = first_reach(rows, s_obj)
        last = rows[-1]
        to_obj = (f"{reach['time_s']:.2f}", f"{reach['iteration']}, {reach['products']:.0f}") if reach \
            else ("not reached", "-")
        ratio = f"{s_time / reach['time_s']:.1f}x" if reach else "-"
        print(f"| {name} | {scnn[1][0]:.2f} / {scnn[2][0]:.2f} | {s_obj:.10e} | {to_obj[0]} | {to_obj[1]} | "
              f"{last['time_s']:.2f} ({summary['status']}) | {last['iteration']}, {last['products']:.0f} | "
              f"{wall:.2f} | {summary['active_neurons']} of {yt.shape[1] * p} | {ratio} | "
              f"{full_rows[-1]['time_s']:.2f} ({full['status']}), {full['products']:.0f} | "
              f"{full['products'] / summary['products']:.1f}x | "
              f"{abs(summary['objective'] - full['objective']) / full['objective']:.1e} |", flush=True)


if __name__ == "__main__":
    main()
