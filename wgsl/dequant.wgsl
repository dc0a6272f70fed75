// dequant.wgsl: w = scale * q + bias for group-wise affine codes, written as f32 or packed f16.
//
// Text variants: BITS (2, 3, 4, 8), OUT_F16 (write f16 pairs instead of f32).
// Tunables: WG_SIZE. One invocation expands one chunk of 32 codes of one row.

#include "common.wgsl"

struct Params {
    rows: u32,
    cols: u32,
    words_per_row: u32,
    groups_per_row: u32,
    chunks_per_group_log2: u32,
    out_stride: u32,        // output elements per row (even for f16 output)
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> scale_bias_buf: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

override WG_SIZE: u32 = 256u;

fn code_at(base: u32, k: u32) -> u32 {
    let bit = k * BITS;
    let i = base + (bit >> 5u);
    let s = bit & 31u;
    var v = codes[i] >> s;
    if (s + BITS > 32u) {
        v |= codes[i + 1u] << (32u - s);
    }
    return v & ((1u << BITS) - 1u);
}

@compute @workgroup_size(WG_SIZE)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let chunks_per_row = params.words_per_row / BITS;
    let i = flat_workgroup(wid, nwg) * WG_SIZE + li;
    if (i >= params.rows * chunks_per_row) {
        return;
    }
    let row = i / chunks_per_row;
    let chunk = i % chunks_per_row;
    let sb = scale_bias(scale_bias_buf[row * params.groups_per_row + (chunk >> params.chunks_per_group_log2)]);
    let base = row * params.words_per_row + chunk * BITS;
    let col0 = chunk * 32u;
#if OUT_F16
    for (var k = 0u; k < 32u; k += 2u) {
        let col = col0 + k;
        if (col < params.cols) {
            let a = sb.x * f32(code_at(base, k)) + sb.y;
            let b = select(0.0, sb.x * f32(code_at(base, k + 1u)) + sb.y, col + 1u < params.cols);
            out[(row * params.out_stride + col) / 2u] = pack2x16float(vec2<f32>(a, b));
        }
    }
#else
    for (var k = 0u; k < 32u; k++) {
        let col = col0 + k;
        if (col < params.cols) {
            out[row * params.out_stride + col] = bitcast<u32>(sb.x * f32(code_at(base, k)) + sb.y);
        }
    }
#endif
}
