#!/usr/bin/env bash
# The one device command: generate the golden fixtures twice, require byte-identical output,
# compare with the committed tests/golden, time the transformers tokenizer, and hand back
# $OUT/golden.tar (+ its sha256 list). Usage (repo root): OUT=/some/dir tools/reference/run.sh
# PYTHON selects the interpreter (default python3; /opt/glimpse-venv/bin/python on dev boxes).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
: "${OUT:?set OUT to the folder that receives golden.tar}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

checksums() { (cd "$1" && find . -type f ! -name README.md | LC_ALL=C sort | xargs -d '\n' sha256sum); }

echo "host: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
"$PY" -c 'import sys, torch, transformers, tokenizers; print("python", sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__)'

now_ms() { echo $(($(date +%s%N) / 1000000)); }
start=$(now_ms)
"$PY" tools/reference/generate.py "$WORK/run1"
mid=$(now_ms)
"$PY" tools/reference/generate.py "$WORK/run2" >/dev/null
end=$(now_ms)
echo "generate: run1 $((mid - start)) ms, run2 $((end - mid)) ms"

checksums "$WORK/run1" >"$WORK/run1.sha256"
checksums "$WORK/run2" >"$WORK/run2.sha256"
if ! cmp -s "$WORK/run1.sha256" "$WORK/run2.sha256"; then
  echo "NOT REPRODUCIBLE: files differ between two runs:"
  diff "$WORK/run1.sha256" "$WORK/run2.sha256" || true
  exit 1
fi
echo "reproducible: $(wc -l <"$WORK/run1.sha256") files byte-identical across two runs"

if [[ -f tests/golden/manifest.json ]]; then
  checksums tests/golden >"$WORK/committed.sha256"
  changed=$(diff "$WORK/committed.sha256" "$WORK/run1.sha256" | grep -c '^>' || true)
  echo "vs committed tests/golden: $changed files differ"
  diff "$WORK/committed.sha256" "$WORK/run1.sha256" | grep '^>' | awk '{print "  " $3}' | head -40 || true
fi

"$PY" tools/reference/bench_tokenizer.py "$WORK/run1/models/tiny-a"

du -sh "$WORK/run1"
cp "$WORK/run1.sha256" "$OUT/golden.sha256"
tar -C "$WORK/run1" -cf "$OUT/golden.tar" .
echo "total wall: $(($(now_ms) - start)) ms"
