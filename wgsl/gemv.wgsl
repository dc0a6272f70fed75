// gemv.wgsl: y = W x for 1..8 input vectors, W in any ecq weight format.
//
// Text variants (preprocessor):
//   FORMAT  0 = group-wise affine codes of BITS bits (w = scale * q + bias), 16 = dense f16,
//           32 = dense f32
//   BITS    code width for FORMAT 0 (2, 3, 4, 8; 0 for dense)
//   WPC     weights per chunk: the unit one invocation reads at a time, 16 bytes wherever the
//           format allows (8-bit: 16, f16: 8, f32: 4; 4-bit: 32) so that neighbouring
//           invocations read neighbouring 16 bytes; 2- and 3-bit chunks are 32 codes (8 and 12
//           bytes) so that no chunk straddles a group of 32
//   CHUNK_WORDS  u32 words per chunk; XV = WPC / 4 input vec4s per chunk
//   BATCH   input vectors; RB rows per group, NG groups per workgroup; ACCS = RB * BATCH
//           partial sums per invocation
//   CPT     chunks per invocation per slab; XSTAT keeps the whole row's inputs in registers
//           (one slab; XREGS = CPT * BATCH chunk-inputs), otherwise inputs are re-read per row
//   F16     f16 loads and products for dense f16 weights (FORMAT 16). Affine codes always take
//           the f32 or DOT8 path: naga cannot bitcast a u32 into two f16 (the 0x6400 trick),
//           and the f32 trick (0x4B000000) costs the same instructions.
//   DOT8    affine 4/8-bit codes times inputs quantized to int8 per chunk (step max|x| / 127)
//           with packed dot products (dot4I8Packed)
//   SUBGROUPS  subgroup reductions before the workgroup-memory step
// Tunables (override constants): WG_SIZE, SG_MIN.
//
// Affine rows apply the identity sum = scale * sum(q x) + bias * sum(x) per chunk (group
// sizes are multiples of every chunk size, so a chunk has one scale and bias).

#if F16
enable f16;
#endif
#if SUBGROUPS
enable subgroups;
#endif
// Overrides first: naga needs named overrides declared ahead of array sizes that use them.
override WG_SIZE: u32 = 256u;
// Smallest subgroup size the device may use: sizes the per-subgroup partial sums.
override SG_MIN: u32 = 32u;

#include "common.wgsl"
#include "gemv_rows.wgsl"

struct Params {
    rows: u32,              // rows in this part of the matrix
    cols: u32,              // inputs per row; x is never read past cols
    words_per_row: u32,     // u32 words per stored row (whole chunks)
    groups_per_row: u32,    // affine only
    chunks_per_group_log2: u32,
    x_stride: u32,          // floats between input vectors (a multiple of 4, >= cols)
    y_stride: u32,          // floats between output vectors
    y_offset: u32,          // index in y of this part's first row
}

@group(0) @binding(0) var<uniform> params: Params;
#if F16
@group(0) @binding(1) var<storage, read> weights: array<vec4<f16>>;
#elif CHUNK_WORDS == 4
@group(0) @binding(1) var<storage, read> weights: array<vec4<u32>>;
#else
@group(0) @binding(1) var<storage, read> weights: array<u32>;
#endif
@group(0) @binding(2) var<storage, read> scale_bias_buf: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// The words of chunk `chunk` of row `row`.
fn load_chunk(row: u32, chunk: u32) -> Chunk {
    var w: Chunk;
#if F16
    let base = (row * params.words_per_row) / 2u + chunk * 2u;
    w[0] = weights[base];
    w[1] = weights[base + 1u];
#elif CHUNK_WORDS == 4
    let v = weights[(row * params.words_per_row) / 4u + chunk];
    w[0] = v.x;
    w[1] = v.y;
    w[2] = v.z;
    w[3] = v.w;
#else
    let base = row * params.words_per_row + chunk * CHUNK_WORDS;
#for I in 0..CHUNK_WORDS
    w[I] = weights[base + I];
#endfor
#endif
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
    // One workgroup computes NG groups of RB rows.
    let first = flat_workgroup(wid, nwg) * (NG * RB);
    if (first >= params.rows) {
        return; // uniform: the whole workgroup leaves
    }
    gemv_rows(first, min(first + NG * RB, params.rows) - 1u, li,
#if SUBGROUPS
        sg_id, n_sg, sg_lane,
#endif
    );
}
