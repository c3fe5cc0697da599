#!/usr/bin/env bash
# The decode matvec's shape (output features per warp R, warps per block W: GLIMPSE_MATVEC="R,W")
# timed on the device for the five decoder matrices and the lm_head, then the whole decode step with
# the fastest against the default, with the op and golden tests under the fastest. Uses the pack of
# model_check.sh (same binaries) and its random full-size model (made if missing, ~30 s).
#
#   tools/device/model_check.sh pack build/cuda
#   run(command="tools/device/matvec_sweep.sh", carry=[".carry/glimpse_cuda.tar.xz"])
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
OUT=${OUT:-/tmp/matvec-out}
MODEL_DIR=${MODEL_DIR:-/root/glm46v-random}
RUN=$(mktemp -d)
tar -C "$RUN" -xJf .carry/glimpse_cuda.tar.xz
CUBLAS_DIR=$(dirname "$(find /usr/local/cuda*/ /usr/lib /opt -name 'libcublasLt.so.13*' 2>/dev/null | head -1)")
CUDART_DIR=$(dirname "$(find /usr/local/cuda*/ /usr/lib /opt -name 'libcudart.so.13*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$RUN/lib:$CUBLAS_DIR:$CUDART_DIR:${LD_LIBRARY_PATH:-}"
export GLIMPSE_SOURCE_DIR="$REPO"
BIN="$RUN/bin"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/matvec_sweep.log") 2>&1

echo "== sweep (median us of each decode linear; R,W)"
best="" best_total=""
for shape in 4,8 1,8 2,8 8,8 2,4 4,4 8,4 4,2 8,2; do
  times=$(GLIMPSE_MATVEC=$shape "$BIN/ops_cuda_bench" "linear" | grep '(decode)' |
    awk -F'|' '{gsub(/ /, "", $6); printf "%s ", $6}')
  total=$(echo "$times" | awk '{s = 0; for (i = 1; i <= NF; ++i) s += $i; print s}')
  echo "R,W $shape: qkv o gate_up down lm_head = $times total $total"
  if [[ -z $best_total ]] || awk "BEGIN {exit !($total < $best_total)}"; then best=$shape best_total=$total; fi
done
echo "fastest: $best ($best_total us for one layer's four matvecs + lm_head)"

echo "== tests with GLIMPSE_MATVEC=$best"
GLIMPSE_MATVEC=$best "$BIN/ops_cuda_test" --gtest_brief=1 2>&1 | tail -2
GLIMPSE_MATVEC=$best "$BIN/golden_cuda_test" --gtest_brief=1 2>&1 | tail -2

if [[ ! -f "$MODEL_DIR/config.json" ]]; then
  echo "== make_model"
  python3 tools/device/peer/make_full_model.py --out "$MODEL_DIR" 2>&1 | grep -v Writing | tail -1
fi
cat "$MODEL_DIR"/*.safetensors >/dev/null
for shape in 4,8 "$best"; do
  echo "== decode with GLIMPSE_MATVEC=$shape"
  GLIMPSE_MATVEC=$shape "$BIN/glimpse" bench --model "$MODEL_DIR" --device cuda --dtype bf16 \
    --kv-cache-gib 4 --cache cold --prompt "Describe this image in detail, please." --max-tokens 64 \
    --ignore-eos --warmup 1 --markdown --resolution 512x512 --concurrency 1 -r 5 \
    --json "$OUT/bench_${shape/,/x}.json" | grep -E '^\| (image|512x512) ' | head -2
done
