#!/usr/bin/env bash
# Builds the browser demo (web/) and serves it on http://127.0.0.1:PORT/ (default 8000).
#   tools/web-demo.sh [--build-only] [PORT]
# Installs what the build needs when missing: the wasm32-unknown-unknown target and
# wasm-bindgen-cli of exactly the wasm-bindgen version in Cargo.lock.
# Open the page in a browser with WebGPU (see web/README.md): Chrome/Edge 113+, Safari 26+,
# Firefox 141+ on Windows; on Linux Chrome needs --enable-unsafe-webgpu (--enable-features=Vulkan).
set -euo pipefail
cd "$(dirname "$0")/.."

build_only=0
port=8000
for a in "$@"; do
    case "$a" in
        --build-only) build_only=1 ;;
        [0-9]*) port="$a" ;;
        *) echo "usage: tools/web-demo.sh [--build-only] [PORT]" >&2; exit 2 ;;
    esac
done

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
    echo "== installing wasm-bindgen-cli $want (found: ${have:-none})"
    # Not --locked: the CLI's own lock file pins crates that no longer build with current Rust.
    cargo install --quiet wasm-bindgen-cli --version "$want"
fi

echo "== building web/ for wasm32-unknown-unknown (release)"
cargo build --quiet -p ecq-web --release --target wasm32-unknown-unknown --lib
wasm-bindgen --target web --no-typescript --out-dir web/www/pkg target/wasm32-unknown-unknown/release/ecq_web.wasm
echo "== demo built: web/www ($(du -k web/www/pkg/ecq_web_bg.wasm | cut -f1) KiB of WASM)"

if [ "$build_only" = 1 ]; then
    exit 0
fi
echo "== serving http://127.0.0.1:$port/ (Ctrl-C to stop)"
exec python3 -m http.server "$port" --bind 127.0.0.1 --directory web/www
