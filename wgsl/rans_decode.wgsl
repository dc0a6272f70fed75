// rans_decode.wgsl: interleaved rANS decode into the packed code layout the GEMV reads (or one
// symbol per byte). The decoder itself, its variants and its safety are in rans_core.wgsl.
//
// Text variants: those of rans_core.wgsl. Tunables: GROUPS.

#if BALLOT
enable subgroups;
#endif
// Overrides first: naga needs named overrides declared ahead of array sizes that use them.
override GROUPS: u32 = 4u;

#include "common.wgsl"
#include "rans_core.wgsl"

struct Params {
    n_symbols: u32,
    block_len: u32,
    n_blocks: u32,
    prob_bits: u32,
    row_len: u32,       // symbols per output row
    row_words: u32,     // u32 words per packed output row
    bits: u32,          // code width in the output
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> states: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read> words: array<u32>;
#if FAST_BITS == 0
@group(0) @binding(5) var<storage, read_write> out: array<atomic<u32>>;
#else
@group(0) @binding(5) var<storage, read_write> out: array<u32>;
#endif
// [0]: blocks that failed their end-of-stream check, [1]: the lowest such block.
@group(0) @binding(6) var<storage, read_write> status: array<atomic<u32>, 2>;

@compute @workgroup_size(32 * GROUPS)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
#if BALLOT
    @builtin(subgroup_invocation_id) sg_lane: u32,
#endif
) {
    decode_init(li);
#if !BALLOT
    let sg_lane = li;
#endif
    let lane = li & 31u;
    let group = li >> 5u;
    let n_wg = nwg.x * nwg.y;
    var u = 0u;
    // Workgroups loop over many blocks so the table is loaded once per workgroup. The loop
    // bounds depend only on the workgroup and on uniforms: barriers inside stay uniform.
    for (var blk = flat_workgroup(wid, nwg) * GROUPS; blk < params.n_blocks; blk += n_wg * GROUPS) {
        let b = blk + group;
        if (decode_block(b, b < params.n_blocks, lane, group, sg_lane, &u) && lane == 0u) {
            atomicAdd(&status[0], 1u);
            atomicMin(&status[1], b);
        }
    }
}

#if FAST_BITS == 0
fn emit_word(w: u32, v: u32) {}

// Codes at arbitrary bit positions: OR into the zeroed output (a 3-bit code may span two words).
fn emit_code(index: u32, code: u32) {
    let row = index / params.row_len;
    let bit = (index % params.row_len) * params.bits;
    let w = row * params.row_words + (bit >> 5u);
    let s = bit & 31u;
    atomicOr(&out[w], code << s);
    if (s + params.bits > 32u) {
        atomicOr(&out[w + 1u], code >> (32u - s));
    }
}
#else
fn emit_word(w: u32, v: u32) {
    out[w] = v;
}

fn emit_code(index: u32, code: u32) {}
#endif
