// embed.wgsl: embedding lookup, out[t] = row tokens[t] of the table, dequantized on the gather.
//
// The table is a GPU matrix in any ecq weight format (the GEMV's layout: `words_per_row` u32
// per row, one packed f16 scale/bias pair per group), so the tied output projection and the
// lookup share one copy. A table split into parts is gathered with one dispatch per part; each
// writes only the tokens whose row it holds.
//
// Text variants: FORMAT (0 = affine codes of BITS bits, 16 = dense f16, 32 = dense f32), BITS.
// Tunables (override constants): WG_SIZE.

#include "common.wgsl"

struct Params {
    rows: u32,              // rows in this part
    row0: u32,              // first row of this part
    cols: u32,
    words_per_row: u32,
    groups_per_row: u32,
    group_size: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> weights: array<u32>;
@group(0) @binding(3) var<storage, read> scale_bias_buf: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

override WG_SIZE: u32 = 64u;

fn value(r: u32, c: u32) -> f32 {
    let base = r * params.words_per_row;
#if FORMAT == 32
    return bitcast<f32>(weights[base + c]);
#elif FORMAT == 16
    return unpack2x16float(weights[base + c / 2u])[c % 2u];
#else
    let bit = c * BITS;
    let s = bit & 31u;
    var q = weights[base + (bit >> 5u)] >> s;
    if (s + BITS > 32u) {
        q |= weights[base + (bit >> 5u) + 1u] << (32u - s);
    }
    q &= (1u << BITS) - 1u;
    let sb = scale_bias(scale_bias_buf[r * params.groups_per_row + c / params.group_size]);
    return fma(sb.x, f32(q), sb.y);
#endif
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.y;
    let c = gid.x;
    let token = tokens[t];
    if (c < params.cols && token >= params.row0 && token - params.row0 < params.rows) {
        out[t * params.cols + c] = value(token - params.row0, c);
    }
}
