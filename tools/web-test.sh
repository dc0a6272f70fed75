#!/usr/bin/env bash
# Browser tests: ecq's kernels and the demo page in headless Chromium with WebGPU (SwiftShader,
# on the CPU, when there is no GPU). Works from scratch on a clean Debian machine; installs what
# is missing (rustup target, wasm-bindgen-cli, chromium + chromedriver, node + playwright-core).
#   1. wasm-bindgen-test (web/tests/browser.rs): the selftest (every GEMV/dequant variant, rANS
#      decode bit-exact) and the demo's checks on the built-in file, against the WASM CPU reference.
#   2. page test (web/page-test.mjs): opens the served demo, waits for its verdict, checks PASS,
#      saves a screenshot to docs/web-demo.png (override: WEB_SCREENSHOT=path).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
chromium_bin=$(command -v chromium)
if [ "$chromium_bin" != /usr/bin/chromium ]; then
    echo "note: chromium is $chromium_bin; web/webdriver.json names /usr/bin/chromium" >&2
fi

# Builds the demo (and installs the target and wasm-bindgen-cli when missing).
tools/web-demo.sh --build-only

echo "== browser tests (wasm-bindgen-test, headless Chromium, WebGPU)"
t0=$SECONDS
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
CHROMEDRIVER=$(command -v chromedriver) \
WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-900} \
    cargo test -p ecq-web --release --target wasm32-unknown-unknown --test browser
echo "== browser tests: $((SECONDS - t0)) s"

echo "== page test (playwright-core)"
if [ ! -d web/node_modules/playwright-core ]; then
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
port=${WEB_TEST_PORT:-8123}
python3 -m http.server "$port" --bind 127.0.0.1 --directory web/www >/tmp/ecq-web-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null; then break; fi
    sleep 0.1
done
t0=$SECONDS
CHROMIUM=$chromium_bin node web/page-test.mjs "http://127.0.0.1:$port/" "${WEB_SCREENSHOT:-docs/web-demo.png}"
echo "== page test: $((SECONDS - t0)) s"
