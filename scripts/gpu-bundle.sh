#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh needs on a GPU machine that has no Rust toolchain and no
# network, into .gpu/ (git-ignored; carry it): the stripped release binary, the MNIST files and
# the Vulkan loader packages. Run here, then on the device machine: bash scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mnist="${CVXNN_MNIST_DIR:-${CVXNN_DATA_DIR:-../shared/data}/mnist}"
mkdir -p .gpu/mnist .gpu/debs
cargo build --release
# strip drops the debug info (release has debug = 1): ~60 MB -> a few MB.
strip -o .gpu/cvxnn target/release/cvxnn
if [ -d "$mnist" ]; then
  cp "$mnist"/*-ubyte.gz .gpu/mnist/
else
  echo "no MNIST at $mnist: gpu-check.sh will use the bundled digits only"
fi
# The Vulkan loader (the NVIDIA driver brings its ICD, not always the loader), amd64 packages.
if command -v apt-get >/dev/null; then
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/cvxnn-apt-amd64'
  mkdir -p /tmp/cvxnn-apt-amd64/partial
  # shellcheck disable=SC2086
  apt-get $o update -qq && (cd .gpu/debs && apt-get $o download libvulkan1 >/dev/null) ||
    echo "could not download libvulkan1: the device machine must have a Vulkan loader"
fi
du -sh .gpu
total=$(du -sm .gpu | cut -f1)
[ "$total" -le 60 ] || { echo ".gpu is ${total} MiB; at most 64 MiB travels with the tree"; exit 1; }
