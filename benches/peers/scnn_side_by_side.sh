#!/usr/bin/env bash
# scnn 0.0.10 against cvxnn on the same three problems, side by side in one run (see the .py).
# Builds its own venv here (pyscnn pulls torch: about 6 GB) and cvxnn's release binary.
# Run alone on the machine: it times both.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import scnn" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "pyscnn==0.0.10"
fi
(cd "$root" && cargo build --release --quiet)
exec "$venv/bin/python" "$here/scnn_side_by_side.py" "$root/target/release/cvxnn"
