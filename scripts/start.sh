#!/usr/bin/env bash
# Installs what is missing, builds the release preset and starts the server and web UI with the
# bundled demo model on http://127.0.0.1:7860. Extra arguments go to `glimpse serve`
# (e.g. --model DIR, --port N; `glimpse serve --help` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "${GLIMPSE_JOBS:-$(nproc)}" --target glimpse
exec ./build/release/glimpse serve "$@"
