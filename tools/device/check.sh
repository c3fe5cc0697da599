#!/usr/bin/env bash
# The CUDA ops on the device machine: the test suite (every cuda::X against cpu::X) and the ops
# micro-benchmark (ceilings, then each op against its floor), ending with a short table.
#
#   here:    tools/device/check.sh pack [BUILD_DIR]   (default build/cuda; needs the cuda preset)
#            builds ops_cuda_test and ops_cuda_bench and packs them with the shared libraries the
#            device lacks (fmt, OpenBLAS for the CPU reference, gfortran) into .carry/ops_cuda.tar.xz
#   device:  run(command="tools/device/check.sh", carry=[".carry/ops_cuda.tar.xz"])
#            cuBLASLt and cudart come from the device's own CUDA 13; logs land in $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
PACK=.carry/ops_cuda.tar.xz

if [[ "${1:-}" == pack ]]; then
  BUILD=${2:-build/cuda}
  [[ -f "$BUILD/build.ninja" ]] || cmake --preset cuda -B "$BUILD" >/dev/null
  cmake --build "$BUILD" --target ops_cuda_test ops_cuda_bench -j "${GLIMPSE_JOBS:-2}"
  STAGE=$(mktemp -d)
  mkdir -p "$STAGE/lib"
  cp "$BUILD/tests/ops_cuda/ops_cuda_test" "$BUILD/benchmarks/ops_cuda_bench" "$STAGE/"
  # Every non-CUDA, non-libc library the two programs load, resolved on this machine.
  ldd "$STAGE/ops_cuda_test" "$STAGE/ops_cuda_bench" | awk '/=> \// {print $3}' | sort -u |
    grep -E 'libfmt|libopenblas|libgfortran|libquadmath' | xargs -I{} cp -L {} "$STAGE/lib/"
  mkdir -p .carry
  tar -C "$STAGE" -cJf "$PACK" .
  rm -rf "$STAGE"
  ls -la "$PACK"
  exit 0
fi

OUT=${OUT:-$(mktemp -d)}
RUN=$(mktemp -d)
tar -C "$RUN" -xJf "$PACK"
# The device's CUDA libraries: the toolkit's, else the ones PyTorch ships.
CUBLAS_DIR=$(dirname "$(find /usr/local/cuda*/ /usr/lib /opt -name 'libcublasLt.so.13*' 2>/dev/null | head -1)")
CUDART_DIR=$(dirname "$(find /usr/local/cuda*/ /usr/lib /opt -name 'libcudart.so.13*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$RUN/lib:$CUBLAS_DIR:$CUDART_DIR:${LD_LIBRARY_PATH:-}"

{
  echo "== environment"
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
  echo "cuBLASLt from $CUBLAS_DIR, cudart from $CUDART_DIR"
  ldd "$RUN/ops_cuda_test" | grep -E 'not found|cublas|cudart|openblas' || true
} 2>&1 | tee "$OUT/environment.txt"

echo "== tests"
set +e
"$RUN/ops_cuda_test" --gtest_output="xml:$OUT/ops_cuda_test.xml" 2>&1 | tee "$OUT/ops_cuda_test.log" |
  grep -E '^\[ *(FAILED|PASSED|OK) *\]|Failure|error|seed|Expected|Which is' | head -80
TEST_STATUS=${PIPESTATUS[0]}
echo "== benchmark"
"$RUN/ops_cuda_bench" 2>&1 | tee "$OUT/ops_cuda_bench.md"
BENCH_STATUS=${PIPESTATUS[0]}
echo "== tests exit $TEST_STATUS, benchmark exit $BENCH_STATUS"
[[ $TEST_STATUS == 0 && $BENCH_STATUS == 0 ]]
