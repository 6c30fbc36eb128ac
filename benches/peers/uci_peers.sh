#!/usr/bin/env bash
# Peers on the UCI grid, side by side with cvxnn in one profile: runs `cvxnn bench uci` (which also
# writes the problems), then scnn 0.0.10, PyTorch Adam/SGD and scikit-learn on the same problems
# (uci_peers.py), then `cvxnn bench profile` over both CSVs. Builds its own venv here (pyscnn
# pulls torch: about 6 GB). Run alone on the machine: it times everything.
#
# usage: uci_peers.sh OUT_DIR [bench uci flags...]   e.g.
#   uci_peers.sh out --root ../shared/data/uci121 --datasets @benches/peers/uci40.txt --gates 500
# Environment: PEER_METHODS (default scnn-fista,scnn-al,adam-gated,sgd-gated,adam-relu,sgd-relu,
# rf,svm-linear,svm-rbf), PEER_TIME_LIMIT (seconds per PyTorch run, default 30),
# PEER_BATCH_FRACTION (PyTorch batches as a fraction of the rows: 1, the default, or 0.1),
# PEER_SCNN_TIME_LIMIT (seconds per scnn solve, default 10), PEER_JOBS (runs at a time, each
# single-threaded, default 1; give bench uci `--jobs` and `--threads 1` to match),
# OPENBLAS_NUM_THREADS for scnn's numpy (default 1; time 1 and 2 and keep the faster).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$1"; shift
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import scnn, torch, sklearn" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "pyscnn==0.0.10" scikit-learn
fi
(cd "$root" && cargo build --release --quiet)
mkdir -p "$out"
"$root/target/release/cvxnn" bench uci --out-dir "$out" --problems-out "$out/problems" "$@"
lambdas="1e-5,1e-4,1e-3,1e-2,5e-2,1e-1"  # bench uci's default, unless --lambdas is given
args=("$@"); for i in "${!args[@]}"; do [ "${args[$i]}" = "--lambdas" ] && lambdas="${args[$((i+1))]}"; done
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" OMP_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
"$venv/bin/python" "$here/uci_peers.py" --problems "$out/problems" --lambdas "$lambdas" \
  --methods "${PEER_METHODS:-scnn-fista,scnn-al,adam-gated,sgd-gated,adam-relu,sgd-relu,rf,svm-linear,svm-rbf}" \
  --time-limit "${PEER_TIME_LIMIT:-30}" --scnn-time-limit "${PEER_SCNN_TIME_LIMIT:-10}" \
  --jobs "${PEER_JOBS:-1}" --batch-fraction "${PEER_BATCH_FRACTION:-1}" --out "$out/peers.csv"
"$root/target/release/cvxnn" bench profile "$out/results.csv" "$out/peers.csv" --out-dir "$out/all"
