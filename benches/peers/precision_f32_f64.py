"""cvxnn's CPU path in f32 against f64: time to rel_gap 1e-4 and 1e-6 on the side-by-side problems.

Uses the problems (data, gates, lambda) of scnn_side_by_side.py and its venv (for numpy):
  benches/peers/.venv/bin/python benches/peers/precision_f32_f64.py [path/to/cvxnn]
Each run logs every iteration; the time to a tolerance is the solver time of the first
iteration whose rel_gap is at or below it, and the objective there is printed relative to the
f64 run's final objective (the f64 solve to rel_gap 1e-7 is the reference).
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

import scnn_side_by_side as sbs


def run(binary, work, classes, lam, precision, gap_tol):
    metrics = os.path.join(work, f"m_{precision}.jsonl")
    cmd = [
        binary, "train", "--data", os.path.join(work, "data.npz"),
        "--task", "classification" if classes else "regression",
        "--gates-file", os.path.join(work, "g.npy"), "--no-unitize", "--test-fraction", "0",
        "--lambda", str(lam), "--device", "cpu", "--precision", precision,
        "--gap-tol", str(gap_tol), "--max-iters", "20000",
        "--log-every", "1", "--metrics-out", metrics, "--no-save", "--json", "--quiet",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"cvxnn failed: {res.stderr}")
    return json.loads(res.stdout), [json.loads(line) for line in open(metrics)]


def first(rows, tol):
    return next((r for r in rows if r["rel_gap"] is not None and r["rel_gap"] <= tol), None)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(sbs.ROOT, "target/release/cvxnn")
    print("| problem | precision | s to rel_gap 1e-4 (its) | s to 1e-6 (its) | objective at 1e-6 / f64 optimum - 1 | status |")
    print("|---|---|---|---|---|---|")
    for make in (sbs.digits, sbs.regression, sbs.three_class):
        name, x, y, p, lam, classes = make()
        g = np.random.default_rng(123).standard_normal((x.shape[1], p))
        with tempfile.TemporaryDirectory() as work:
            np.save(os.path.join(work, "g.npy"), g)
            np.savez(os.path.join(work, "data.npz"), X=x, y=y)
            ref, _ = run(binary, work, classes, lam, "f64", 1e-7)
            for precision in ("f64", "f32"):
                summary, rows = run(binary, work, classes, lam, precision, 1e-6)
                cells = []
                for tol in (1e-4, 1e-6):
                    r = first(rows, tol)
                    cells.append(f"{r['time_s']:.2f} ({r['iteration']})" if r else "not reached")
                r6 = first(rows, 1e-6)
                excess = f"{r6['objective'] / ref['objective'] - 1:.1e}" if r6 else "-"
                print(f"| {name} | {precision} | {cells[0]} | {cells[1]} | {excess} | {summary['status']} |",
                      flush=True)


if __name__ == "__main__":
    main()
