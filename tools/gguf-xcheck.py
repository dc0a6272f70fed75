#!/usr/bin/env python3
"""Cross-checks ecq's GGUF dequantizers against gguf-py (llama.cpp's own numpy implementation).

Generates the same pseudo-random blocks as `random_blocks` in src/io/gguf/dequant.rs (splitmix64
bytes, f16 scale fields forced finite) and prints the Rust `PINS` table (FNV-1a hash of every value's f32 bits, sum, bits of the first values) that the unit test
`pins_match_gguf_py` checks. Needs numpy and gguf (e.g. `python3 -m venv v && v/bin/pip install gguf numpy`).
"""
import struct

import gguf
import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T

MASK = (1 << 64) - 1


class SplitMix:
    def __init__(self, seed):
        self.s = seed

    def next_u64(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def bytes(self, n):
        out = b"".join(struct.pack("<Q", self.next_u64()) for _ in range((n + 7) // 8))
        return bytearray(out[:n])


F16_FIELDS = {
    T.Q4_0: [0], T.Q5_0: [0], T.Q8_0: [0],
    T.Q4_1: [0, 2], T.Q5_1: [0, 2], T.Q4_K: [0, 2], T.Q5_K: [0, 2],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q6_K: [208],
}


def random_blocks(ty, n_blocks, seed):
    _, ts = GGML_QUANT_SIZES[ty]
    v = SplitMix(seed).bytes(n_blocks * ts)
    for b in range(n_blocks):
        for o in F16_FIELDS[ty]:
            p = b * ts + o
            bits = 0x2C00 | (struct.unpack_from("<H", v, p)[0] & 0x83FF)
            struct.pack_into("<H", v, p, bits)
    return v


def fnv1a64(y):
    h = 0xCBF29CE484222325
    for b in y.astype("<f4").tobytes():
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


print("    const PINS: &[(GgmlType, u64, f64, [u32; 4])] = &[")
for ty in [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]:
    data = np.frombuffer(bytes(random_blocks(ty, 8, 42 + int(ty))), dtype=np.uint8)
    y = gguf.quants.dequantize(data, ty).astype(np.float32).reshape(-1)
    s = float(np.sum(y.astype(np.float64)))
    first = ", ".join(f"0x{v:08x}" for v in y[:4].view(np.uint32))
    print(f"        ({ty.name}, 0x{fnv1a64(y):016x}, {s!r}, [{first}]),")
print("    ];")
