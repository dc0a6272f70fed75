#!/usr/bin/env python3
"""Independent reader of .ecq files, written from the format docs alone (src/container/mod.rs and
src/rans/mod.rs): parses the safetensors header, decodes every tensor (rANS in plain Python) and
checks each against its stored XXH64 checksum. It cross-checks the spec, not the speed: a
tensor of a million codes takes seconds.

    pip install xxhash
    python3 tools/ecq-xcheck.py FILE.ecq [--max-symbols N]

Exit 0 when every tensor (up to N codes each, default 2M; larger ones are skipped and listed)
matches its checksum.
"""

import json
import struct
import sys

import xxhash

LANES = 32
L = 1 << 16


def arrays(buf):
    (n,) = struct.unpack_from("<Q", buf, 0)
    header = json.loads(buf[8 : 8 + n])
    data = buf[8 + n :]
    meta = header.pop("__metadata__")
    out = {}
    for key, info in header.items():
        a, b = info["data_offsets"]
        out[key] = (info["dtype"], info["shape"], data[a:b])
    return meta, out


def u32s(b):
    return list(struct.unpack(f"<{len(b) // 4}I", b))


def rans_decode(freqs, prob_bits, n_symbols, block_len, states, offsets, words):
    """The decoder of src/rans/mod.rs, step by step, with the end-of-block checks."""
    m = 1 << prob_bits
    cdf = [0]
    for f in freqs:
        cdf.append(cdf[-1] + f)
    assert cdf[-1] == m, "frequencies must sum to 2^P"
    slot_sym = []
    for s, f in enumerate(freqs):
        slot_sym += [s] * f

    def word(w):
        return (words[w >> 1] >> (16 * (w & 1))) & 0xFFFF

    out = bytearray(n_symbols)
    n_blocks = -(-n_symbols // block_len)
    for b in range(n_blocks):
        length = min(block_len, n_symbols - b * block_len)
        x = states[b * LANES : (b + 1) * LANES]
        cur = offsets[b]
        for t in range(-(-length // LANES)):
            need = []
            for lane in range(LANES):
                i = t * LANES + lane
                if i >= length:
                    break
                slot = x[lane] & (m - 1)
                s = slot_sym[slot]
                out[b * block_len + i] = s
                x[lane] = freqs[s] * (x[lane] >> prob_bits) + slot - cdf[s]
                need.append(x[lane] < L)
            for lane, nd in enumerate(need):
                if nd:
                    x[lane] = (x[lane] << 16) | word(cur)
                    cur += 1
        assert cur == offsets[b + 1] and all(v == L for v in x), f"block {b} does not end cleanly"
    return bytes(out)


def unpack(words, bits, cols, rows, words_per_row):
    out = bytearray()
    for r in range(rows):
        row = words[r * words_per_row : (r + 1) * words_per_row]
        stream = 0
        for i, w in enumerate(row):
            stream |= w << (32 * i)
        out += bytes((stream >> (bits * j)) & ((1 << bits) - 1) for j in range(cols))
    return bytes(out)


def check(path, max_symbols):
    buf = open(path, "rb").read()
    meta, arr = arrays(buf)
    assert meta["ecq.version"] == "1"
    bad, skipped = 0, []
    for name in json.loads(meta["ecq.tensors"]):
        e = json.loads(meta["ecq.tensor." + name])
        kind, shape = e["kind"], e["shape"]
        if kind in ("affine", "affine-rans"):
            rows, cols = shape
            if rows * cols > max_symbols:
                skipped.append(name)
                continue
            fmt = f"q{e['bits']}g{e['group_size']}"
            if kind == "affine-rans":
                codes = rans_decode(
                    e["freqs"],
                    e["prob_bits"],
                    rows * cols,
                    e["block_rows"] * cols,
                    u32s(arr[name + ".states"][2]),
                    u32s(arr[name + ".offsets"][2]),
                    u32s(arr[name + ".words"][2]),
                )
            else:
                dtype, (r, wpr), b = arr[name + ".codes"]
                codes = unpack(u32s(b), e["bits"], cols, rows, wpr)
            scales = arr[name + ".scales"][2]
            if e.get("symmetric", False):
                k = -(1 << (e["bits"] - 1))
                n = len(scales) // 2
                biases = struct.pack(f"<{n}e", *(k * s for s in struct.unpack(f"<{n}e", scales)))
            else:
                biases = arr[name + ".biases"][2]
            body = codes + scales + biases
        else:
            fmt, body = kind, arr[name + ".data"][2]
        digest = xxhash.xxh64(f"{fmt} {'x'.join(map(str, shape))}\n".encode() + body).hexdigest()
        ok = digest == e["checksum"]
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {name} {kind} {shape} {digest}")
    for name in skipped:
        print(f"skipped {name} (more than {max_symbols} codes)")
    return bad == 0


if __name__ == "__main__":
    args = sys.argv[1:]
    limit = 2_000_000
    if "--max-symbols" in args:
        i = args.index("--max-symbols")
        limit = int(args[i + 1])
        del args[i : i + 2]
    sys.exit(0 if check(args[0], limit) else 1)
