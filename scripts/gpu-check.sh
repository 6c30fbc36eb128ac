#!/usr/bin/env bash
# The one-shot device check (BENCHMARKS.md, "GPU check"): adapter and limits, verify (f32 and
# f64), the kernel bench at the MNIST and CIFAR-10 shapes, and full MNIST with 5,000 gates, all
# written to one results file. On the device machine, from the repository root, after
# scripts/gpu-bundle.sh ran here and .gpu was carried:
#   bash scripts/gpu-check.sh              (about 8 minutes at most; each step has a timeout)
#   bash scripts/gpu-check.sh --quick      (small sizes: a dry run, on lavapipe too)
#   bash scripts/gpu-check.sh --working-sets [--quick]
#                                          (issue 12's MNIST comparison instead, 1,000 gates:
#                                          working sets on, off and auto at a dense and a
#                                          sparse lambda; 8.5 minutes at most)
# Results: $OUT/gpu-check.txt (OUT defaults to gpu-check-out/).
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
ws=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --working-sets) ws=1 ;;
    *) echo "unknown argument $a (--quick, --working-sets)"; exit 2 ;;
  esac
done
out="${OUT:-gpu-check-out}"
mkdir -p "$out"
res="$out/gpu-check.txt"
: >"$res"
bin="${CVXNN_BIN:-}"
[ -z "$bin" ] && for b in .gpu/cvxnn target/release/cvxnn; do [ -x "$b" ] && bin="$b" && break; done
[ -n "$bin" ] || { echo "no cvxnn binary: run scripts/gpu-bundle.sh (or cargo build --release)"; exit 1; }
mnist=""
for m in .gpu/mnist "${CVXNN_DATA_DIR:-../shared/data}/mnist"; do
  [ -f "$m/train-images-idx3-ubyte.gz" ] && mnist="$m" && break
done

# A Vulkan loader where the machine has none (the packages gpu-bundle.sh fetched), and the
# NVIDIA ICD where the loader finds no driver by itself.
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1 && ls .gpu/debs/*.deb >/dev/null 2>&1; then
  for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
nv=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nv" ]; then export VK_DRIVER_FILES="$nv"; fi

step() { # step NAME SECONDS COMMAND...: runs it with a timeout, appends its output and time
  local name="$1" limit="$2"; shift 2
  local t0 t1 rc
  echo "== $name: $*" | tee -a "$res"
  t0=$(date +%s%N)
  # TERM first (cvxnn stops at its next safe point), KILL 10 s later.
  timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$res"
  rc=${PIPESTATUS[0]}
  t1=$(date +%s%N)
  printf '== %s: exit %s, %d ms\n\n' "$name" "$rc" $(((t1 - t0) / 1000000)) | tee -a "$res"
}

{
  echo "cvxnn gpu-check $(date -u +%FT%TZ) quick=$quick binary=$bin"
  "$bin" --version
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  echo
} 2>&1 | tee -a "$res"

step devices 30 "$bin" devices
if [ "$ws" = 1 ]; then
  # Issue 12: time and products to rel_gap 1e-4 with and without working sets, and what auto
  # picks, at lambda 1e-4 (dense: every group active with 200 gates) and 5e-3 (0.04 lambda_max,
  # 6.5 % of the groups active on the CPU). Each run ends by its time limit at the latest
  # (MaxTime, with its gap). Worst case 510 s.
  if [ "$quick" = 1 ] || [ -z "$mnist" ]; then
    data=(--gates 50) dense=(--lambda 1e-5) sparse=(--lambda 1e-3) td=20 ts=20
  else
    data=(--data "$mnist" --gates 1000) dense=(--lambda 1e-4) sparse=(--lambda 5e-3) td=120 ts=45
  fi
  ws_step() { # ws_step NAME TIME_LIMIT TRAIN_ARGS...; the timeout adds 20 s to load and report
    local name="$1" t="$2"; shift 2
    step "$name" $((t + 20)) "$bin" train --device gpu "${data[@]}" --gap-tol 1e-4 --time-limit "$t" \
      --no-save --log-every 100 "$@"
  }
  # auto resolves to off or on by lambda / lambda_max (logged; on from 0.015) and then runs
  # exactly as that mode: one iteration shows the choice (the table's ws column stays "-" for
  # off), and that mode's run gives auto's numbers.
  for w in off on; do
    ws_step "ws-dense-$w" "$td" "${dense[@]}" --working-set "$w"
    ws_step "ws-sparse-$w" "$ts" "${sparse[@]}" --working-set "$w"
  done
  ws_step ws-dense-auto 30 "${dense[@]}" --working-set auto --max-iters 1
  ws_step ws-sparse-auto 30 "${sparse[@]}" --working-set auto --max-iters 1
elif [ "$quick" = 1 ]; then
  step verify-f32 120 "$bin" verify --device gpu --gates 20 --max-iters 100
  step verify-f32-gpu-style 120 "$bin" verify --device gpu --kernels gpu-style --gates 20 --max-iters 100
  for k in cpu-style gpu-style; do
    step "bench-$k" 120 "$bin" bench --device gpu --kernels "$k" --n 1024 --d 784 --p 32 --c 2 --reps 2
  done
  step bench-gpu-style-128 120 "$bin" bench --device gpu --kernels gpu-style --tile 128 --n 512 --d 200 --p 32 --c 2 --reps 2
  # MNIST would take lavapipe minutes per product: the quick run trains on the digits.
  step digits-train 180 "$bin" train --device gpu --gates 50 --max-iters 50 --no-save --log-every 10
else
  # Worst case (every step at its timeout) 530 s, under the 9 minutes a run may take.
  step verify-f32 45 "$bin" verify --device gpu
  step verify-f64 45 "$bin" verify --device gpu --precision f64
  # The masked products at the MNIST and CIFAR-10 shapes, both kernel families (the adapter's
  # name, limits and features head each bench).
  # gpu-style picks 128 x 128 tiles at these sizes; the 64 x 64 ones once, for comparison.
  step bench-mnist-gpu-style 60 "$bin" bench --device gpu --shape mnist --kernels gpu-style --reps 3
  step bench-mnist-gpu-style-64 45 "$bin" bench --device gpu --shape mnist --kernels gpu-style --tile 64 --reps 2
  step bench-mnist-cpu-style 45 "$bin" bench --device gpu --shape mnist --kernels cpu-style --reps 2
  step bench-cifar-gpu-style 60 "$bin" bench --device gpu --shape cifar --kernels gpu-style --reps 3
  step bench-cifar-cpu-style 40 "$bin" bench --device gpu --shape cifar --kernels cpu-style --reps 2
  if [ -n "$mnist" ]; then
    step mnist-5000 160 "$bin" train --device gpu --data "$mnist" --gates 5000 --max-iters 500 \
      --time-limit 140 --no-save --log-every 50
  fi
fi
echo "results in $res"
