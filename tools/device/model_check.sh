#!/usr/bin/env bash
# The model on the device machine, end to end (issue #8's device-side proof): CUDA op tests, the
# golden fixtures on the GPU, a GLM-4.6V-Flash-shaped random model (20.6 GB) checked against
# transformers and timed against it, ending with one table: workload | transformers | glimpse |
# target | met?
#
#   here:    tools/device/model_check.sh pack [BUILD_DIR]      (default build/cuda; cuda preset)
#            builds glimpse, golden_cuda_test, full_size_parity, ops_cuda_test and ops_cuda_bench and
#            packs them with every shared library the device lacks into .carry/glimpse_cuda.tar.xz
#   device:  run(command="tools/device/model_check.sh --phase peer",    carry=[".carry/glimpse_cuda.tar.xz"])
#            run(command="tools/device/model_check.sh --phase glimpse", carry=[".carry/glimpse_cuda.tar.xz"])
#            (back to back on the warm machine: the model, the reference cases and the peer's
#            numbers stay on its disk between the calls; --phase all does both in one call)
#
# Phase peer (python3/torch/transformers of the device, tools/device/peer/peer.py): makes the random
# model in /root/glm46v-random if absent, writes the 60 reference cases to /root/peer-cases if
# absent, times transformers (+ copy and GEMM ceilings), keeps peer.json in /root/peer-out.
# Phase glimpse: ops_cuda_test + ops_cuda_bench, golden_cuda_test, full_size_parity, then
# `glimpse bench --device cuda --dtype bf16` (in-process, cold caches, synthetic PNGs, the peer's
# 16-token question, fixed output length), GPU memory sampled by nvidia-smi throughout, and the
# final table (tools/device/model_summary.py). Outputs in $OUT (at most 8 files).
# Phase ops: the op tests and the op benchmark alone (OPS_FILTER: a gtest filter, BENCH_FILTER: a
# case-name substring), for a kernel's quick check. Phase glimpse on a fresh machine (no reference
# cases yet) makes the model itself, skips parity and takes the peer column from
# ../shared/notes/baseline-h100.md: the timings without the peer's 4 minutes.
# Environment: MODEL_DIR, CASES_DIR, PEER_OUT override the /root paths; SKIP_OPS=1 skips the op
# tests and op benchmark; GEMM_ALGOS=1 adds the cuBLASLt kernel search for the vision GEMMs
# (gemm_algos_bench, GEMM_FILTER: a shape name part); SKIP_SWEEPS=1 the step-budget sweep, step traces and the eager run; for a dry run of the plumbing (e.g. on a CPU box with the tiny model):
# PYTHON (default python3), PEER_ARGS (extra peer.py arguments, e.g. --tiny), GLIMPSE_DEVICE (cuda),
# BENCH_ARGS (extra glimpse bench arguments), PACK_DIR (an unpacked pack instead of the .tar.xz).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
PACK=.carry/glimpse_cuda.tar.xz

if [[ "${1:-}" == pack ]]; then
  BUILD=${2:-build/cuda}
  [[ -f "$BUILD/build.ninja" ]] || cmake --preset cuda -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j "${GLIMPSE_JOBS:-2}" --target glimpse golden_cuda_test full_size_parity \
    ops_cuda_test ops_cuda_bench gemm_algos_bench
  STAGE=$(mktemp -d)
  mkdir -p "$STAGE/bin" "$STAGE/lib"
  cp "$BUILD/glimpse" "$BUILD/tests/model_cuda/golden_cuda_test" \
    "$BUILD/tests/model_cuda/full_size_parity" "$BUILD/tests/ops_cuda/ops_cuda_test" \
    "$BUILD/benchmarks/ops_cuda_bench" "$BUILD/benchmarks/gemm_algos_bench" "$STAGE/bin/"
  strip --strip-unneeded "$STAGE"/bin/*
  # Every library the programs load except glibc, the compiler runtime (the device's Ubuntu 24.04
  # copies are newer and compatible) and CUDA (the device's own CUDA 13): ICU 72 (the device has
  # 74), PCRE2, turbojpeg, libpng, webp, fmt, cpp-httplib, OpenSSL, OpenBLAS, gfortran, quadmath,
  # brotli, zlib, resolved here.
  ldd "$STAGE"/bin/* | awk '/=> \// {print $3}' | sort -u |
    grep -vE '/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt)\.so' |
    xargs -I{} cp -L {} "$STAGE/lib/"
  strip --strip-unneeded "$STAGE"/lib/* 2>/dev/null || true
  mkdir -p .carry
  tar -C "$STAGE" -cf - . | xz -T2 -9 >"$PACK"
  echo "packed: $(cd "$STAGE/bin" && echo *)"
  echo "libraries: $(cd "$STAGE/lib" && echo *)"
  rm -rf "$STAGE"
  ls -la "$PACK"
  size=$(stat -c %s "$PACK")
  ((size < 40 * 1024 * 1024)) || echo "warning: $PACK is $((size >> 20)) MiB; the carry limit is 64 MiB with the repo"
  exit 0
fi

PHASE=all
while [[ $# -gt 0 ]]; do
  case "$1" in
    --phase) PHASE=$2; shift 2 ;;
    --phase=*) PHASE=${1#*=}; shift ;;
    *) echo "usage: $0 pack [BUILD_DIR] | [--phase peer|glimpse|all|ops]" >&2; exit 2 ;;
  esac
done
[[ $PHASE =~ ^(peer|glimpse|all|ops)$ ]] || { echo "bad --phase $PHASE" >&2; exit 2; }

OUT=${OUT:-$(mktemp -d)}
MODEL_DIR=${MODEL_DIR:-/root/glm46v-random}
CASES_DIR=${CASES_DIR:-/root/peer-cases}
PEER_OUT=${PEER_OUT:-/root/peer-out}
PY=${PYTHON:-python3}
GDEV=${GLIMPSE_DEVICE:-cuda}
QUESTION="Describe this image in detail, please."  # 16 tokens: 347-token 512x512 prompt, as the baseline
RUN=$(mktemp -d)
mkdir -p "$PEER_OUT"
LOG="$OUT/model_check.log"
STAGES="$RUN/stages.txt"
START=$(date +%s)
: >"$STAGES"
stage() { echo "$(date +%s.%N) $1" >>"$STAGES"; echo "== $1 ($(($(date +%s) - START)) s)"; }
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!

# GPU memory every 0.25 s for the whole call; model_summary.py takes each stage's peak from it.
(while :; do
  echo "$(date +%s.%N) $(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)"
  sleep 0.25
done) >"$RUN/gpu_memory.txt" 2>/dev/null &
SAMPLER=$!
trap 'kill $SAMPLER 2>/dev/null || true' EXIT

stage environment
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.mem --format=csv || true
  echo "host: $(nproc) cpus, $(free -g | awk '/Mem:/ {print $2}') GiB, phase $PHASE, repo $REPO"
  "$PY" -c 'import sys, torch, transformers; print("python", sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__)' 2>/dev/null || true
} | tee "$RUN/environment.txt"

declare -A STATUS
if [[ $PHASE == peer || $PHASE == all ]]; then
  stage peer
  set +e
  # shellcheck disable=SC2086
  "$PY" tools/device/peer/peer.py --model "$MODEL_DIR" --cases "$CASES_DIR" \
    --json "$PEER_OUT/peer.json" --markdown "$PEER_OUT/peer.md" ${PEER_ARGS:-} 2>&1 | grep -vE '^(Loading|Writing)|it/s\]$'
  STATUS[peer]=${PIPESTATUS[0]}
  set -e
  cp "$PEER_OUT/peer.json" "$OUT/peer.json" 2>/dev/null || true
fi

if [[ $PHASE == glimpse || $PHASE == all || $PHASE == ops ]]; then
  if [[ -n ${PACK_DIR:-} ]]; then cp -r "$PACK_DIR"/. "$RUN"/; else tar -C "$RUN" -xJf "$PACK"; fi
  # The device's CUDA libraries: the toolkit's, else the ones PyTorch ships.
  CUBLAS_DIR=$(dirname "$(find /usr/local/cuda*/ /usr/lib /opt -name 'libcublasLt.so.13*' 2>/dev/null | head -1)")
  CUDART_DIR=$(dirname "$(find /usr/local/cuda*/ /usr/lib /opt -name 'libcudart.so.13*' 2>/dev/null | head -1)")
  export LD_LIBRARY_PATH="$RUN/lib:$CUBLAS_DIR:$CUDART_DIR:${LD_LIBRARY_PATH:-}"
  export GLIMPSE_SOURCE_DIR="$REPO"  # golden_cuda_test reads tests/golden from this checkout
  BIN="$RUN/bin"
  { ldd "$BIN/glimpse" | grep -E 'not found' || echo "all libraries found"; "$BIN/glimpse" --version; } | tee -a "$RUN/environment.txt"
  set +e
  if [[ ${SKIP_OPS:-0} != 1 ]]; then
    stage ops_cuda_test
    "$BIN/ops_cuda_test" --gtest_brief=1 --gtest_filter="${OPS_FILTER:-*}" >"$RUN/ops_cuda_test.log" 2>&1
    STATUS[ops_cuda_test]=$?
    grep -E '^\[  FAILED|Failure$|Expected|Which is|error' "$RUN/ops_cuda_test.log" | head -30
    tail -3 "$RUN/ops_cuda_test.log"
    stage ops_cuda_bench
    "$BIN/ops_cuda_bench" "${BENCH_FILTER:-}" >"$RUN/ops_cuda_bench.md" 2>&1
    STATUS[ops_cuda_bench]=$?
    grep -iE 'GB/s|TFLOP' "$RUN/ops_cuda_bench.md" | head -4
    if [[ ${GEMM_ALGOS:-0} == 1 ]]; then
      stage gemm_algos
      # cuBLASLt's heuristic pick against every configuration it accepts, for the vision GEMMs.
      timeout 240 "$BIN/gemm_algos_bench" "${GEMM_FILTER:-}"
      STATUS[gemm_algos]=$?
    fi
  fi
fi
if [[ $PHASE == ops ]]; then
  cat "$RUN/ops_cuda_bench.md"
elif [[ $PHASE == glimpse || $PHASE == all ]]; then
  stage golden_cuda_test
  "$BIN/golden_cuda_test" --gtest_brief=1 >"$RUN/golden_cuda_test.log" 2>&1
  STATUS[golden_cuda_test]=$?
  if [[ ${STATUS[golden_cuda_test]} != 0 ]]; then
    # Where the error really comes from: the failing tests again with synchronous launches, under
    # compute-sanitizer when the device has it.
    FAILED=$(grep -oE '^\[  FAILED  \] [A-Za-z0-9_/.]+' "$RUN/golden_cuda_test.log" | awk '{print $4}' | sort -u | paste -sd: -)
    SANITIZER=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1 || true)
    CUDA_LAUNCH_BLOCKING=1 ${SANITIZER:+$SANITIZER --print-limit 5} "$BIN/golden_cuda_test" \
      --gtest_filter="$FAILED" >>"$RUN/golden_cuda_test.log" 2>&1
    grep -E 'Invalid|Error|error|FAILED|at 0x|by thread' "$RUN/golden_cuda_test.log" | tail -25
  fi
  grep -E '^  [a-z_0-9]+: logits|^\[  (FAILED|PASSED)|Failure$|exception|Expected|Which is|actual|step ' \
    "$RUN/golden_cuda_test.log" | head -60

  if [[ ! -f "$MODEL_DIR/config.json" ]]; then
    stage make_model
    # shellcheck disable=SC2086
    "$PY" tools/device/peer/make_full_model.py --out "$MODEL_DIR" ${PEER_ARGS:-} 2>&1 | grep -v Writing
  fi
  stage page_cache
  t0=$(date +%s%N)
  cat "$MODEL_DIR"/*.safetensors >/dev/null
  echo "read $(du -sb "$MODEL_DIR" | cut -f1) bytes into the page cache in $((($(date +%s%N) - t0) / 1000000)) ms"

  if [[ -f "$CASES_DIR/manifest.json" ]]; then
    stage full_size_parity
    "$BIN/full_size_parity" --model "$MODEL_DIR" --cases "$CASES_DIR" --device "$GDEV" --dtype bf16 \
      --markdown "$RUN/parity.md" --json "$RUN/parity.json"
    STATUS[full_size_parity]=$?
  else
    echo "no reference cases in $CASES_DIR: run --phase peer first; full_size_parity skipped"
    STATUS[full_size_parity]=skipped
  fi

  # shellcheck disable=SC2206
  BENCH=("$BIN/glimpse" bench --model "$MODEL_DIR" --device "$GDEV" --dtype bf16 --kv-cache-gib 4
    --cache cold --prompt "$QUESTION" --max-tokens 64 --ignore-eos --warmup 1 --markdown ${BENCH_ARGS:-})
  stage bench_single
  "${BENCH[@]}" --resolution 512x512,1920x1080 --concurrency 1 -r 5 --json "$RUN/bench_single.json"
  STATUS[bench_single]=$?
  stage bench_batch
  "${BENCH[@]}" --resolution 512x512 --concurrency 8,32 -r 3 --json "$RUN/bench_batch.json"
  STATUS[bench_batch]=$?
  if [[ ${SKIP_SWEEPS:-0} != 1 ]]; then
    stage step_budget
    # The GPU step budget (2048 tokens by default) against 4096: one chunk for the 1920x1080
    # prompt, fewer, larger prefill steps at 32 concurrent.
    for point in "1920x1080 1 5" "512x512 32 3"; do
      read -r res conc reps <<<"$point"
      "${BENCH[@]}" --resolution "$res" --concurrency "$conc" -r "$reps" --max-step-tokens 4096 |
        grep -E '^\| (image|[0-9]+x[0-9]+) ' | sed 's/^/max-step-tokens 4096: /'
    done
  fi
  stage bench_sampled
  # Sampled decoding (temperature 0.8, top-p 0.95: ops::sample_rows on the GPU) against the greedy
  # rows above: one 512² request, and 32 at once.
  for point in "1 3" "32 1"; do
    read -r conc reps <<<"$point"
    "${BENCH[@]}" --resolution 512x512 --concurrency "$conc" -r "$reps" --temperature 0.8 --top-p 0.95 |
      grep -E '^\| (image|512x512) ' | sed 's/^/sampled: /'
  done
  if [[ ${SKIP_SWEEPS:-0} != 1 ]]; then
    stage step_trace
    # Where a serving step's time goes (GLIMPSE_TRACE_STEPS: prepare / forward / emit per step),
    # for decode steps alone at 1 and 32 sequences.
    for c in 1 32; do
      GLIMPSE_TRACE_STEPS=1 "${BENCH[@]}" --resolution 512x512 --concurrency $c -n 1 -r 1 \
        >/dev/null 2>"$RUN/trace_$c.txt"
      "$PY" tools/device/step_trace.py --sequences $c "$RUN/trace_$c.txt"
    done
    stage bench_eager
    # The same single request with every decode step run eagerly (no CUDA graphs), for the
    # difference.
    GLIMPSE_CUDA_GRAPHS=0 "${BENCH[@]}" --resolution 512x512 --concurrency 1 -r 3 \
      --json "$RUN/bench_eager.json" | grep -E '^\| (image|512x512) ' | head -3
    STATUS[bench_eager]=${PIPESTATUS[0]}
  fi
  stage op_profile
  # GPU time op by op (GLIMPSE_PROFILE_OPS; eager steps, so every op is seen): three requests after
  # one warm-up, at each resolution; the vision tower's ops apart (stage "vision"), medians per op.
  for res in 512x512 1920x1080; do
    GLIMPSE_PROFILE_OPS=1 GLIMPSE_CUDA_GRAPHS=0 "${BENCH[@]}" --resolution $res --concurrency 1 \
      -n 3 -r 1 >/dev/null 2>"$RUN/op_profile_$res.txt"
    echo "-- op profile $res"
    grep -A40 'GPU time per op' "$RUN/op_profile_$res.txt"
  done
  stage serve_stream
  # `glimpse serve --device cuda` answering a streamed chat request with an image (the bundled model).
  "$BIN/glimpse" serve --device "$GDEV" --port 7861 >"$RUN/serve.log" 2>&1 &
  SERVE_PID=$!
  # The bundled demo model on one of its documented examples (docs/demo-model.md), greedy: the
  # answer must be exact, so the GPU path (decode graphs included) is checked end to end.
  "$PY" tools/device/stream_check.py --url http://127.0.0.1:7861 \
    --image models/glimpse-demo/examples/003.png --prompt "Describe the image." \
    --expect "a red triangle, a red circle and a yellow square."
  STATUS[serve_stream]=$?
  kill -TERM $SERVE_PID 2>/dev/null; wait $SERVE_PID 2>/dev/null
  tail -3 "$RUN/serve.log"
  stage finished
  set -e
fi
kill $SAMPLER 2>/dev/null || true
set +e  # from here on collect whatever exists; the exit status comes from STATUS at the end

STATUS_LINE=""
for k in "${!STATUS[@]}"; do STATUS_LINE+="$k=${STATUS[$k]} "; done
echo "== total $(($(date +%s) - START)) s; $STATUS_LINE"

# At most 8 files come back: model_check.log, summary.md, peer.json, and these.
[[ -f "$RUN/parity.md" ]] && cp "$RUN/parity.md" "$OUT/"
[[ -f "$PEER_OUT/peer.json" && ! -f "$OUT/peer.json" ]] && cp "$PEER_OUT/peer.json" "$OUT/"
if [[ -f "$RUN/bench_single.json" || -f "$RUN/bench_batch.json" ]]; then
  "$PY" -c 'import json, sys; json.dump({n: json.load(open(f"'"$RUN"'/{n}.json")) for n in ("bench_single", "bench_batch") if __import__("os").path.exists(f"'"$RUN"'/{n}.json")}, open(sys.argv[1], "w"))' "$OUT/bench.json"
fi
if [[ -f "$RUN/golden_cuda_test.log" ]]; then
  cat "$RUN/environment.txt" "$RUN/ops_cuda_test.log" "$RUN/golden_cuda_test.log" 2>/dev/null >"$OUT/tests.log"
fi
[[ -f "$RUN/ops_cuda_bench.md" ]] && cp "$RUN/ops_cuda_bench.md" "$OUT/"
cp "$RUN/gpu_memory.txt" "$OUT/gpu_memory.txt" 2>/dev/null || true
echo
[[ $PHASE == ops ]] || "$PY" tools/device/model_summary.py --phase "$PHASE" --run "$RUN" --peer "$PEER_OUT/peer.json" --model "$MODEL_DIR" \
  --status "$STATUS_LINE" --out "$OUT/summary.md"
RC=0
for k in "${!STATUS[@]}"; do [[ ${STATUS[$k]} == 0 || ${STATUS[$k]} == skipped ]] || RC=1; done
exec >&- 2>&-  # let tee see the end of its input and finish writing before the call returns
wait "$TEE_PID" 2>/dev/null
exit $RC
