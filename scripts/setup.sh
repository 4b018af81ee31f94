#!/usr/bin/env bash
# Installs the Debian 12 packages flsentry needs, only when some are missing.
# Idempotent: a second run installs nothing. Run as root (or with sudo).
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build g++ pkg-config
  # libraries
  libtorch-dev libopenblas0-pthread libyaml-cpp-dev nlohmann-json3-dev
  libcli11-dev libminizip-dev zlib1g-dev doctest-dev libbenchmark-dev
  # fuzzing (clang's libFuzzer runtime); style and lint (scripts/lint.sh)
  clang libclang-rt-14-dev clang-format clang-tidy
  # data for real training runs, fixtures from real PyTorch, browser test
  dataset-fashion-mnist python3-torch chromium
  # tests and tools: nm (binutils), /usr/bin/time
  binutils time
  # the benchmark test checks its SVG plots with xmllint
  libxml2-utils
  # packaging tests: the .deb (CPack runs dpkg-shlibdeps, file, strip)
  dpkg-dev file
  # the Python package (python/): pytest, an offline pip install into a venv
  # (setuptools and wheel from Debian), and Flower 1.6's dependencies for the
  # real-Flower tests (Flower itself: ../shared/flower)
  python3-numpy python3-pytest python3-venv python3-pip python3-setuptools python3-wheel
  python3-grpcio python3-protobuf python3-cryptography python3-pycryptodome
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} missing Debian packages: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
else
  echo "setup: all ${#PACKAGES[@]} Debian packages present"
fi
