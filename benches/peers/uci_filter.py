"""Rows of `cvxnn bench uci` / uci_peers.py CSVs, filtered, into one CSV (stdlib only).

For the accuracy table on the binary sets: keep the rows of two-class sets and of the methods
named, from any number of runs, then draw with `cvxnn bench profile OUT.csv --out-dir DIR`.

usage: uci_filter.py OUT.csv IN.csv [IN.csv ...] [--classes 2] [--methods gated,relu-al,rf]
"""

import argparse
import csv
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--classes", type=int, help="keep the sets with this many classes")
    ap.add_argument("--methods", help="keep these methods (comma-separated)")
    a = ap.parse_args()
    methods = a.methods.split(",") if a.methods else None
    header, rows, seen = None, [], set()
    for path in a.inputs:
        with open(path, newline="") as f:
            r = csv.DictReader(f)
            if header is None:
                header = r.fieldnames
            elif r.fieldnames != header:
                sys.exit(f"{path}: columns differ from {a.inputs[0]}'s")
            for row in r:
                key = (row["dataset"], row["lambda"], row["method"])
                if key in seen:
                    sys.exit(f"{path}: {key} is in two inputs")
                seen.add(key)
                if a.classes is not None and int(row["classes"]) != a.classes:
                    continue
                if methods is not None and row["method"] not in methods:
                    continue
                rows.append(row)
    if methods is not None:
        # Methods in the order named: the table's columns follow the rows' order.
        rows.sort(key=lambda row: methods.index(row["method"]))
    with open(a.out, "x", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(rows)
    print(f"{a.out}: {len(rows)} rows", file=sys.stderr)


if __name__ == "__main__":
    main()
