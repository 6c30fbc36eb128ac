"""Peers on the problems of `cvxnn bench uci`, as rows of the same CSV.

Run through ./uci_peers.sh, which builds the venv. It reads the problem folders that
`cvxnn bench uci --problems-out DIR` wrote (the fit rows preprocessed as cvxnn trains on them,
the targets, the gates, the validation and test rows: see src/bench_uci/problems.rs), so every
peer solves exactly cvxnn's problem, and appends one row per (data set, lambda, method):

  scnn-fista   scnn 0.0.10's R-FISTA on the gated program (model class gated)
  scnn-al      scnn 0.0.10's augmented Lagrangian on the ReLU program (relu)
  adam-gated, sgd-gated   PyTorch on the non-convex gated network of the same gates (gated)
  adam-relu, sgd-relu     PyTorch on the non-convex ReLU network, 2p neurons per output (relu)
  rf, svm-linear, svm-rbf scikit-learn, for the accuracy table only (no objective)

Objectives are cvxnn's: ||Y - f(X)||^2 / (2 n c) + lam * sum_k ||w1_k|| |w2_k| on the fit rows,
computed here from the network each method returns (for scnn's ReLU model, from the ReLU
network its weights define, so a constraint violation costs in the loss). PyTorch minimizes
the loss plus (lam / 2)(||W1||^2 + ||w2||^2), whose minimum over rescalings is that penalty;
each (problem, optimizer) runs a grid of step sizes, full batch (or mini-batches of
--batch-fraction of the rows, the method then named e.g. adam-gated-b10), and keeps the run with
the lowest objective (its time is that run's time), as the paper did. A PyTorch row's trace has
the objective on all fit rows at every step (once an epoch with mini-batches). scnn's solves
stop at --scnn-time-limit (a MaxTime row without a network, unsolved in the profile). --jobs runs
that many (problem, lambda, method) runs at a time, one single-threaded process each.
"""

import argparse
import csv
import functools
import json
import multiprocessing
import signal
import sys
import time
from pathlib import Path

import numpy as np

HEADER = ("dataset,n,d,classes,lambda,method,model,time_s,objective,rel_gap,violation,iterations,"
          "products,train_accuracy,val_accuracy,test_accuracy,active_neurons,status,trace").split(",")

STEPS = {"adam": [1e-3, 1e-2, 1e-1], "sgd": [1e-2, 1e-1, 1.0]}


@functools.lru_cache(maxsize=2)
def load(folder):
    a = {k: np.load(folder / f"{k}.npy") for k in
         ("x", "y", "g", "x_val", "x_test", "labels_fit", "labels_val", "labels_test")}
    a["meta"] = json.loads((folder / "problem.json").read_text())
    return a


def decide(out, classes):
    classes = np.asarray(classes)
    if out.shape[1] == 1:
        return np.where(out[:, 0] > 0, classes[1], classes[0])
    return classes[np.argmax(out, axis=1)]


def accuracy(out, labels, classes):
    return float(np.mean(decide(out, classes) == labels))


class Net:
    """A two-layer network per output: gated (fixed gates g) or ReLU, from W1 (c, h, d) and
    w2 (c, h). Zero neurons are dropped from the count."""

    def __init__(self, w1, w2, g=None):
        self.w1, self.w2, self.g = w1, w2, g

    def __call__(self, x):
        z = np.einsum("nd,chd->nch", x, self.w1)
        act = z * (x @ self.g > 0)[:, None, :] if self.g is not None else np.maximum(z, 0)
        return np.einsum("nch,ch->nc", act, self.w2)

    def objective(self, x, y, lam):
        n, c = y.shape
        loss = ((self(x) - y) ** 2).sum() / (2 * n * c)
        return loss + lam * (np.linalg.norm(self.w1, axis=2) * np.abs(self.w2)).sum()

    def active(self):
        return int(((np.linalg.norm(self.w1, axis=2) * np.abs(self.w2)) > 0).sum())


def row(p, lam, method, model, secs, net, iterations, status, violation=None, trace=()):
    m, x, y = p["meta"], p["x"], p["y"]
    cls = m["class_values"]
    return {
        "dataset": m["dataset"], "n": m["n"], "d": m["d"], "classes": m["classes"],
        "lambda": lam, "method": method, "model": model, "time_s": f"{secs:.4f}",
        "objective": f"{net.objective(x, y, lam):.12e}" if net else "",
        "rel_gap": "", "violation": "" if violation is None else f"{violation:.6e}",
        "iterations": iterations, "products": "",
        "train_accuracy": accuracy(net(x), p["labels_fit"], cls) if net else "",
        "val_accuracy": accuracy(net(p["x_val"]), p["labels_val"], cls) if net else "",
        "test_accuracy": accuracy(net(p["x_test"]), p["labels_test"], cls) if net else "",
        "active_neurons": net.active() if net else "", "status": status,
        "trace": ";".join(f"{t:.4e}:{f:.9e}" for t, f in trace),
    }


class OutOfTime(Exception):
    pass


def _alarm(signum, frame):
    raise OutOfTime()


def with_limit(seconds, fn):
    """fn(), or OutOfTime after `seconds` of wall time (scnn's solvers have no time limit of
    their own; SIGALRM interrupts their Python loop)."""
    if not seconds:
        return fn()
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def scnn_solve(model, solver, p, lam, args):
    """scnn's optimize_model on the problem, within --scnn-time-limit: (model, seconds), or
    (None, the seconds spent) when it ran out of time."""
    from scnn.metrics import Metrics
    from scnn.optimize import optimize_model
    from scnn.regularizers import NeuronGL1
    t = time.perf_counter()
    try:
        model, _ = with_limit(args.scnn_time_limit, lambda: optimize_model(
            model, solver, Metrics(metric_freq=10**9), p["x"], p["y"],
            regularizer=NeuronGL1(lam), return_convex=True, unitize_data=False,
            dtype="float64"))
    except OutOfTime:
        return None, time.perf_counter() - t
    return model, time.perf_counter() - t


def scnn_fista(p, lam, args):
    from scnn.models import ConvexGatedReLU
    from scnn.solvers import RFISTA
    y, g = p["y"], p["g"]
    model = ConvexGatedReLU(g, c=y.shape[1])
    solver = RFISTA(model, max_iters=args.max_iters, tol=1e-6)
    model, secs = scnn_solve(model, solver, p, lam, args)
    if model is None:
        return None, secs, None, None, "MaxTime", []
    u = np.asarray(model.parameters[0], dtype=float)
    # U_{l,i} as a neuron with w1 = U / sqrt||U||, w2 = sqrt||U||; scnn reorders its gates.
    s = np.sqrt(np.linalg.norm(u, axis=2))
    w1 = np.divide(u, s[:, :, None], out=np.zeros_like(u), where=s[:, :, None] > 0)
    return Net(w1, s, np.asarray(model.G, dtype=float)), secs, None, None


def scnn_al(p, lam, args):
    from scnn.models import ConvexReLU
    from scnn.solvers import AL
    x, y, g = p["x"], p["y"], p["g"]
    model = ConvexReLU(g, c=y.shape[1])
    solver = AL(model, max_primal_iters=args.max_iters, max_dual_iters=args.max_iters)
    model, secs = scnn_solve(model, solver, p, lam, args)
    if model is None:
        return None, secs, None, None, "MaxTime", []
    v, w = (np.asarray(a, dtype=float) for a in model.parameters[:2])
    # The ReLU network of (v, w): neurons v with +, w with -; balanced as above.
    u = np.concatenate([v, w], axis=1)
    sign = np.concatenate([np.ones(v.shape[:2]), -np.ones(w.shape[:2])], axis=1)
    s = np.sqrt(np.linalg.norm(u, axis=2))
    w1 = np.divide(u, s[:, :, None], out=np.zeros_like(u), where=s[:, :, None] > 0)
    gates = np.asarray(model.G, dtype=float)
    pos = lambda a: np.maximum(-(2 * (x @ gates > 0).T[None, :, :] - 1) * np.einsum("nd,cpd->cpn", x, a), 0)
    viol = float(max(pos(v).max(initial=0), pos(w).max(initial=0)))
    return Net(w1, sign * s), secs, None, viol


def torch_fit(p, lam, args, opt_name, gated):
    import torch
    torch.set_num_threads(args.threads)
    x = torch.tensor(p["x"])
    y = torch.tensor(p["y"])
    g = torch.tensor(p["g"])
    n, c = y.shape
    d, width = g.shape
    h = width if gated else 2 * width
    mask = (x @ g > 0).double() if gated else None
    best = None
    for lr in STEPS[opt_name]:
        gen = torch.Generator().manual_seed(0)
        k = 0
        w1 = (torch.randn(c, h, d, generator=gen, dtype=torch.float64) / np.sqrt(d)).requires_grad_()
        w2 = (torch.randn(c, h, generator=gen, dtype=torch.float64) / np.sqrt(h)).requires_grad_()
        opt = (torch.optim.Adam if opt_name == "adam" else torch.optim.SGD)([w1, w2], lr=lr)
        t = time.perf_counter()
        its, status, trace = 0, "MaxIterations", []
        batch = max(1, int(round(args.batch_fraction * n)))
        order = torch.randperm(n, generator=gen)
        for its in range(1, args.max_iters + 1):
            opt.zero_grad()
            if batch < n:
                # Mini-batches: one pass over a fresh permutation per epoch.
                k = (its - 1) % (n // batch)
                if k == 0:
                    order = torch.randperm(n, generator=gen)
                rows = order[k * batch:(k + 1) * batch]
                xb, yb, mb = x[rows], y[rows], mask[rows] if gated else None
            else:
                xb, yb, mb = x, y, mask
            z = torch.einsum("nd,chd->nch", xb, w1)
            act = z * mb[:, None, :] if gated else torch.relu(z)
            out = torch.einsum("nch,ch->nc", act, w2)
            data = ((out - yb) ** 2).sum() / (2 * xb.shape[0] * c)
            loss = data + lam / 2 * ((w1 ** 2).sum() + (w2 ** 2).sum())
            if not torch.isfinite(loss):
                status = "Diverged"
                break
            if batch == n or k == 0:
                with torch.no_grad():
                    # The objective of the current network as cvxnn defines it (balanced
                    # penalty), on all fit rows (once an epoch with mini-batches).
                    if batch < n:
                        zf = torch.einsum("nd,chd->nch", x, w1)
                        af = zf * mask[:, None, :] if gated else torch.relu(zf)
                        data = ((torch.einsum("nch,ch->nc", af, w2) - y) ** 2).sum() / (2 * n * c)
                    obj = float(data + lam * (w1.norm(dim=2) * w2.abs()).sum())
                if (not trace or obj < trace[-1][1] * (1 - 5e-3)) and len(trace) < 400:
                    trace.append((time.perf_counter() - t, obj))
            loss.backward()
            opt.step()
            if args.time_limit and time.perf_counter() - t > args.time_limit:
                status = "MaxTime"
                break
        secs = time.perf_counter() - t
        net = Net(w1.detach().numpy(), w2.detach().numpy(), p["g"] if gated else None)
        obj = net.objective(p["x"], p["y"], lam) if status != "Diverged" else np.inf
        if best is None or obj < best[0]:
            best = (obj, net, secs, its, status, trace + [(secs, obj)])
    _, net, secs, its, status, trace = best
    if not np.isfinite(best[0]):
        net, trace = None, []
    return net, secs, its, None, status, trace


def sklearn_rows(p, kind):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.svm import SVC, LinearSVC
    grid = {"rf": [0.1, 0.3, 1.0], "svm-linear": [0.1, 1.0, 10.0], "svm-rbf": [0.1, 1.0, 10.0]}[kind]
    x, labels = p["x"], p["labels_fit"]
    out = []
    for h in grid:
        est = {"rf": lambda: RandomForestClassifier(n_estimators=100, max_features=h, random_state=0),
               "svm-linear": lambda: LinearSVC(C=h, max_iter=20000),
               "svm-rbf": lambda: SVC(C=h, kernel="rbf")}[kind]()
        t = time.perf_counter()
        est.fit(x, labels)
        secs = time.perf_counter() - t
        m = p["meta"]
        out.append({
            "dataset": m["dataset"], "n": m["n"], "d": m["d"], "classes": m["classes"], "lambda": h,
            "method": kind, "model": "", "time_s": f"{secs:.4f}", "objective": "", "rel_gap": "",
            "violation": "", "iterations": "", "products": "",
            "train_accuracy": float(est.score(x, labels)),
            "val_accuracy": float(est.score(p["x_val"], p["labels_val"])),
            "test_accuracy": float(est.score(p["x_test"], p["labels_test"])),
            "active_neurons": "", "status": "Converged", "trace": "",
        })
    return out


SOLVERS = {
    "scnn-fista": ("gated", scnn_fista),
    "scnn-al": ("relu", scnn_al),
    "adam-gated": ("gated", lambda p, lam, a: torch_fit(p, lam, a, "adam", True)),
    "sgd-gated": ("gated", lambda p, lam, a: torch_fit(p, lam, a, "sgd", True)),
    "adam-relu": ("relu", lambda p, lam, a: torch_fit(p, lam, a, "adam", False)),
    "sgd-relu": ("relu", lambda p, lam, a: torch_fit(p, lam, a, "sgd", False)),
}


def tag_of(m, args):
    if m.startswith(("adam", "sgd")) and args.batch_fraction < 1:
        return f"{m}-b{round(100 * args.batch_fraction)}"
    return m


def run_unit(unit):
    """One unit of the grid in a worker: (folder, method, lambda or None) -> CSV rows."""
    folder, m, lam, args = unit
    p = load(folder)
    if m not in SOLVERS:
        return sklearn_rows(p, m)
    model, fn = SOLVERS[m]
    tag = tag_of(m, args)
    try:
        net, secs, its, viol, *rest = fn(p, lam, args)
        status, trace = rest if rest else ("Converged", [])
        return [row(p, lam, tag, model, secs, net, its or "", status, viol, trace)]
    except Exception as e:  # a failed peer run is a row, not the end of the grid
        print(f"{p['meta']['dataset']} lam {lam} {tag}: error {e}", file=sys.stderr)
        return [row(p, lam, tag, model, float("nan"), None, "", "Error")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", required=True, type=Path, help="folder from --problems-out")
    ap.add_argument("--lambdas", default="1e-5,1e-4,1e-3,1e-2,5e-2,1e-1")
    ap.add_argument("--methods", default="scnn-fista,scnn-al,adam-gated,sgd-gated,rf,svm-linear,svm-rbf")
    ap.add_argument("--out", required=True, type=Path, help="CSV to append to (created if missing)")
    ap.add_argument("--max-iters", type=int, default=10000)
    ap.add_argument("--time-limit", type=float, default=None, help="seconds per PyTorch run")
    ap.add_argument("--scnn-time-limit", type=float, default=10.0,
                    help="seconds per scnn solve (0: none); a solve that runs out is a MaxTime row")
    ap.add_argument("--threads", type=int, default=1, help="PyTorch threads per run")
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time, one process each")
    ap.add_argument("--batch-fraction", type=float, default=1.0,
                    help="PyTorch batch size as a fraction of the fit rows (1: full batch; 0.1: the paper's 10 %%)")
    args = ap.parse_args()
    lambdas = [float(v) for v in args.lambdas.split(",")]
    methods = args.methods.split(",")
    for m in methods:
        if m not in SOLVERS and m not in ("rf", "svm-linear", "svm-rbf"):
            sys.exit(f"unknown method {m}")
    if args.jobs < 1:
        sys.exit("--jobs must be >= 1")
    done = set()
    if args.out.exists():
        with open(args.out, newline="") as f:
            done = {(r["dataset"], float(r["lambda"]), r["method"]) for r in csv.DictReader(f)}
    units = []
    for folder in sorted(q for q in args.problems.iterdir() if (q / "problem.json").exists()):
        name = json.loads((folder / "problem.json").read_text())["dataset"]
        for m in methods:
            if m in SOLVERS:
                units += [(folder, m, lam, args) for lam in lambdas
                          if (name, lam, tag_of(m, args)) not in done]
            elif not any(k[0] == name and k[2] == m for k in done):
                units.append((folder, m, None, args))
    fresh = not args.out.exists()
    with open(args.out, "a", newline="") as f, \
            multiprocessing.get_context("fork").Pool(args.jobs, maxtasksperchild=200) as pool:
        w = csv.DictWriter(f, fieldnames=HEADER)
        if fresh:
            w.writeheader()
        # Rows are written as runs finish, so an interrupted run resumes where it stopped.
        for rows in pool.imap_unordered(run_unit, units):
            for r in rows:
                w.writerow(r)
            f.flush()
            r = rows[0]
            print(f"{r['dataset']:<28} lam {r['lambda']:<7g} {r['method']:<14} {r['time_s']:>9} s  "
                  f"objective {r['objective']}  test {r['test_accuracy']}", file=sys.stderr)


if __name__ == "__main__":
    main()
