#!/usr/bin/env bash
# Installs what is missing, builds every preset CI checks, and runs every test:
#   release (all unit, parity and server tests), asan (parsers and server under ASan+UBSan),
#   cuda (compiled only: no GPU on CI), then the Python tests (real server, headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${GLIMPSE_JOBS:-$(nproc)}
# ccache (when present) keys on paths relative to the checkout, so clones share one cache.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1

scripts/install-deps.sh

step() { printf '\n=== %s ===\n' "$*"; }

step "release: build"
cmake --preset release >/dev/null
cmake --build --preset release -j "$JOBS"
step "release: tests"
ctest --preset release -j "$JOBS"

step "asan: build the tests labelled 'sanitize'"
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$JOBS" --target sanitize_tests
step "asan: tests labelled 'sanitize'"
ctest --preset asan -j "$JOBS"

if command -v nvcc >/dev/null 2>&1 || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  step "cuda: compile glimpse with the CUDA backend, the GPU tests and benchmarks (no GPU here)"
  cmake --preset cuda >/dev/null
  cmake --build --preset cuda -j "$JOBS" --target glimpse ops_cuda_test golden_cuda_test \
    full_size_parity ops_cuda_bench gemm_algos_bench
  # A CUDA build on a machine without a GPU must say so, not crash.
  if ! nvidia-smi >/dev/null 2>&1; then
    set +e
    message=$(build/cuda/glimpse run --device cuda --prompt hi 2>&1)
    code=$?
    set -e
    [[ $code == 4 && $message == *"no usable CUDA device"* ]] ||
      { echo "expected exit 4 naming the missing GPU, got $code: $message"; exit 1; }
  fi
else
  step "cuda: skipped, no nvcc on this machine"
fi

if [[ -d tests/python ]] && compgen -G "tests/python/test_*.py" >/dev/null; then
  step "python tests"
  GLIMPSE_BUILD_DIR="$PWD/build/release" /usr/bin/python3 -m pytest -q tests/python
fi
