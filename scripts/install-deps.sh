#!/usr/bin/env bash
# Installs every Debian package glimpse needs to build, test and run. Idempotent: packages already
# present are skipped, and apt-get runs only when something is missing. Nothing else is downloaded.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config ccache clang-format git
  # libraries of the product
  libfmt-dev nlohmann-json3-dev libcli11-dev libpcre2-dev libturbojpeg0-dev libjpeg62-turbo-dev
  libpng-dev libwebp-dev libcpp-httplib-dev libopenblas-dev libspdlog-dev pybind11-dev
  libicu-dev
  libssl-dev  # OpenSSL: image content hashes (SHA-256), data: URL base64
  # tests, benchmarks, fuzzing
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev
  python3 python3-pytest python3-numpy python3-requests python3-pil
  python3-dev python3-ipython python3-ipykernel python3-nbclient python3-nbformat python3-matplotlib  # python module, notebook
  chromium chromium-driver python3-selenium
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
