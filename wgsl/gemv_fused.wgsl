// gemv_fused.wgsl: y = W x straight from rANS-coded affine codes. Each workgroup decodes the
// blocks of its rows into workgroup memory (codes never reach device memory) and multiplies them
// with the arithmetic of gemv_rows.wgsl, so results are bit-identical to decoding first and
// running gemv.wgsl with the same key.
//
// Text variants: those of gemv.wgsl (affine codes, FORMAT 0) and of rans_core.wgsl (FAST_BITS =
// BITS, so rows are a multiple of 32 codes; BALLOT only with SUBGROUPS).
// Tunables (override constants): WG_SIZE, SG_MIN, GROUPS (= WG_SIZE / 32), STAGE_BLOCKS (blocks
// each workgroup decodes, one per 32-lane group) and STAGE_WORDS (their packed codes).

#if SUBGROUPS
enable subgroups;
#endif
// Overrides first: naga needs named overrides declared ahead of array sizes that use them.
override WG_SIZE: u32 = 256u;
// Smallest subgroup size the device may use: sizes the per-subgroup partial sums.
override SG_MIN: u32 = 32u;
override GROUPS: u32 = 4u;
override STAGE_BLOCKS: u32 = 1u;
override STAGE_WORDS: u32 = 1024u;

#include "common.wgsl"
#include "gemv_rows.wgsl"
#include "rans_core.wgsl"

struct Params {
    // GEMV (gemv_rows.wgsl)
    rows: u32,
    cols: u32,
    words_per_row: u32,
    groups_per_row: u32,
    chunks_per_group_log2: u32,
    x_stride: u32,
    y_stride: u32,
    y_offset: u32,
    // rANS (rans_core.wgsl): row_len = cols, row_words = words_per_row
    n_symbols: u32,
    block_len: u32,
    n_blocks: u32,
    prob_bits: u32,
    row_len: u32,
    row_words: u32,
    block_rows: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> states: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read> words: array<u32>;
@group(0) @binding(5) var<storage, read> scale_bias_buf: array<u32>;
@group(0) @binding(6) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;
// [0]: blocks that failed their end-of-stream check, [1]: the lowest such block.
@group(0) @binding(8) var<storage, read_write> status: array<atomic<u32>, 2>;

var<workgroup> staged: array<u32, STAGE_WORDS>;
// Index of the first staged word in the whole packed code matrix.
var<private> stage_base: u32;

fn emit_word(w: u32, v: u32) {
    staged[w - stage_base] = v;
}

fn emit_code(index: u32, code: u32) {}

fn load_chunk(row: u32, chunk: u32) -> Chunk {
    var w: Chunk;
    let base = row * params.words_per_row + chunk * CHUNK_WORDS - stage_base;
#for I in 0..CHUNK_WORDS
    w[I] = staged[base + I];
#endfor
    return w;
}

@compute @workgroup_size(WG_SIZE)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
#if SUBGROUPS
    @builtin(subgroup_id) sg_id: u32,
    @builtin(num_subgroups) n_sg: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
#endif
) {
    let b0 = flat_workgroup(wid, nwg) * STAGE_BLOCKS;
    if (b0 >= params.n_blocks) {
        return; // uniform: the whole workgroup leaves
    }
    decode_init(li);
#if !SUBGROUPS
    let sg_lane = li;
#endif
    let lane = li & 31u;
    let group = li >> 5u;
    stage_base = b0 * params.block_rows * params.words_per_row;
    // Groups 0..STAGE_BLOCKS-1 decode one block each; the others take part in the decoder's
    // barriers (workgroup-memory path) without a block.
    var u = 0u;
    let b = b0 + group;
    if (decode_block(b, group < STAGE_BLOCKS && b < params.n_blocks, lane, group, sg_lane, &u) && lane == 0u) {
        atomicAdd(&status[0], 1u);
        atomicMin(&status[1], b);
    }
    workgroupBarrier();
    let first = b0 * params.block_rows;
    gemv_rows(first, min(first + STAGE_BLOCKS * params.block_rows, params.rows) - 1u, li,
#if SUBGROUPS
        sg_id, n_sg, sg_lane,
#endif
    );
}
