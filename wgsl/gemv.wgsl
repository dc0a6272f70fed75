// gemv.wgsl: y = W x for 1..8 input vectors, W in any ecq weight format.
//
// Text variants (preprocessor):
//   FORMAT  0 = group-wise affine codes of BITS bits (w = scale * q + bias), 16 = dense f16,
//           32 = dense f32
//   BITS    code width for FORMAT 0 (2, 3, 4, 8)
//   CHUNK_WORDS  u32 words holding one chunk of 32 weights (BITS, 16 or 32)
//   BATCH   input vectors; RPT rows per team
//   F16     f16 loads and products for dense f16 weights (FORMAT 16). Affine codes always take
//           the f32 path: naga cannot bitcast a u32 into two f16 (the 0x6400 trick), and the
//           f32 trick (0x4B000000) costs the same instructions.
//   SUBGROUPS  subgroup reductions instead of workgroup memory
// Tunables (override constants): WG_SIZE, TEAMS (teams per workgroup).
//
// A team owns RPT consecutive rows. On the subgroup path a team is one subgroup (a subgroup
// larger than planned takes several teams' rows in turn); otherwise it is WG_SIZE / TEAMS
// invocations that reduce through workgroup memory. Invocations stride over the rows in chunks
// of 32 weights (a chunk never straddles a quantization group: group sizes are multiples of 32).
// Each chunk's codes are loaded once per row and each chunk of x once per vector, and affine
// rows apply the identity acc += scale * sum(q x) + bias * sum(x).

#if F16
enable f16;
#endif
#if SUBGROUPS
enable subgroups;
#endif
#include "common.wgsl"

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
#if BITS == 4
@group(0) @binding(1) var<storage, read> weights: array<vec4<u32>>;
#elif BITS == 2
@group(0) @binding(1) var<storage, read> weights: array<u32>;
#elif BITS == 3
@group(0) @binding(1) var<storage, read> weights: array<u32>;
#elif F16
@group(0) @binding(1) var<storage, read> weights: array<vec4<f16>>;
#else
@group(0) @binding(1) var<storage, read> weights: array<vec4<u32>>;
#endif
@group(0) @binding(2) var<storage, read> scale_bias_buf: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG_SIZE: u32 = 256u;
override TEAMS: u32 = 8u;

const ACCS: u32 = RPT * BATCH;
#if F16
alias Chunk = array<vec4<f16>, 8>;
#else
alias Chunk = array<u32, CHUNK_WORDS>;
#endif

#if !SUBGROUPS
var<workgroup> partial: array<f32, WG_SIZE>;
#endif

// The words of chunk `chunk` of row `row`, with 16-byte loads where the format allows them.
fn load_chunk(row: u32, chunk: u32) -> Chunk {
    var w: Chunk;
#if BITS == 2
    let base = row * params.words_per_row + chunk * CHUNK_WORDS;
    for (var i = 0u; i < CHUNK_WORDS; i++) {
        w[i] = weights[base + i];
    }
#elif BITS == 3
    let base = row * params.words_per_row + chunk * CHUNK_WORDS;
    for (var i = 0u; i < CHUNK_WORDS; i++) {
        w[i] = weights[base + i];
    }
#elif F16
    let base = (row * params.words_per_row + chunk * CHUNK_WORDS) / 2u;
    for (var i = 0u; i < 8u; i++) {
        w[i] = weights[base + i];
    }
#else
    let base = (row * params.words_per_row + chunk * CHUNK_WORDS) / 4u;
    for (var i = 0u; i < CHUNK_WORDS / 4u; i++) {
        let v = weights[base + i];
        w[4u * i] = v.x;
        w[4u * i + 1u] = v.y;
        w[4u * i + 2u] = v.z;
        w[4u * i + 3u] = v.w;
    }
#endif
    return w;
}

// The 8 vec4 inputs of chunk `chunk` of vector `b`, zero past `cols`. Each vector holds
// x_stride >= cols floats, so a vec4 that starts before `cols` lies inside the buffer.
fn load_x(b: u32, chunk: u32) -> array<vec4<f32>, 8> {
    var xs: array<vec4<f32>, 8>;
    let base = b * (params.x_stride / 4u) + chunk * 8u;
    if ((chunk + 1u) * 32u <= params.cols) {
        for (var i = 0u; i < 8u; i++) {
            xs[i] = x[base + i];
        }
    } else {
        for (var i = 0u; i < 8u; i++) {
            let c0 = chunk * 32u + i * 4u;
            var v = vec4<f32>(0.0);
            if (c0 < params.cols) {
                v = x[base + i];
            }
            xs[i] = select(vec4<f32>(0.0), v, vec4<u32>(c0, c0 + 1u, c0 + 2u, c0 + 3u) < vec4<u32>(params.cols));
        }
    }
    return xs;
}

#if F16
// f16 path (dense f16 weights): f16 products summed in f16 within a chunk (8 per lane of a
// vec4), chunks summed in f32.
alias XChunk = array<vec4<f16>, 8>;

fn prep_x(b: u32, chunk: u32) -> XChunk {
    let xs = load_x(b, chunk);
    var h: XChunk;
    for (var i = 0u; i < 8u; i++) {
        h[i] = vec4<f16>(xs[i]);
    }
    return h;
}

fn row_chunk(w: Chunk, xh: XChunk, packed_sb: u32) -> f32 {
    var acc = vec4<f16>(0.0h);
    for (var i = 0u; i < 8u; i++) {
        acc = fma(w[i], xh[i], acc);
    }
    return (f32(acc.x) + f32(acc.y)) + (f32(acc.z) + f32(acc.w));
}
#else
// f32 path: exact codes (no int-to-float conversions), f32 products.
struct XChunk {
    v: array<vec4<f32>, 8>,
    sum: f32,
}

fn prep_x(b: u32, chunk: u32) -> XChunk {
    let xs = load_x(b, chunk);
    var s = vec4<f32>(0.0);
    for (var i = 0u; i < 8u; i++) {
        s += xs[i];
    }
    return XChunk(xs, s.x + s.y + s.z + s.w);
}

#if FORMAT == 0
// Code `k` (0..31) of a chunk (any BITS; a 3-bit code may straddle two words).
fn chunk_code(w: Chunk, k: u32) -> u32 {
    let bit = k * BITS;
    let i = bit >> 5u;
    let s = bit & 31u;
    var v = w[i] >> s;
    if (s + BITS > 32u) {
        v |= w[i + 1u] << (32u - s);
    }
    return v & ((1u << BITS) - 1u);
}
#endif

fn row_chunk(w: Chunk, xc: XChunk, packed_sb: u32) -> f32 {
    var acc = vec4<f32>(0.0);
#if FORMAT == 32
    for (var i = 0u; i < 8u; i++) {
        acc = fma(bitcast<vec4<f32>>(vec4<u32>(w[4u * i], w[4u * i + 1u], w[4u * i + 2u], w[4u * i + 3u])), xc.v[i], acc);
    }
    return acc.x + acc.y + acc.z + acc.w;
#elif FORMAT == 16
    for (var i = 0u; i < 8u; i++) {
        let v = vec4<f32>(unpack2x16float(w[2u * i]), unpack2x16float(w[2u * i + 1u]));
        acc = fma(v, xc.v[i], acc);
    }
    return acc.x + acc.y + acc.z + acc.w;
#else
#if BITS == 4
    for (var i = 0u; i < 4u; i++) {
        let word = vec4<u32>(w[i]);
        acc = fma(codes_to_f32((word >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u)), xc.v[2u * i], acc);
        acc = fma(codes_to_f32((word >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u)), xc.v[2u * i + 1u], acc);
    }
#elif BITS == 8
    for (var i = 0u; i < 8u; i++) {
        acc = fma(codes_to_f32((vec4<u32>(w[i]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u)), xc.v[i], acc);
    }
#else
    for (var i = 0u; i < 8u; i++) {
        let k = 4u * i;
        let q = vec4<u32>(chunk_code(w, k), chunk_code(w, k + 1u), chunk_code(w, k + 2u), chunk_code(w, k + 3u));
        acc = fma(codes_to_f32(q), xc.v[i], acc);
    }
#endif
    let sb = scale_bias(packed_sb);
    return sb.x * (acc.x + acc.y + acc.z + acc.w) + sb.y * xc.sum;
#endif
}
#endif

// One team's rows [row0, row0 + RPT) over the chunks this invocation owns. Rows past the end
// repeat the last row (no out-of-bounds reads); their sums are never stored.
fn team_rows(row0: u32, lane: u32, team_size: u32) -> array<f32, ACCS> {
    var acc: array<f32, ACCS>;
    let chunks = params.words_per_row / CHUNK_WORDS;
    for (var c = lane; c < chunks; c += team_size) {
        var w: array<Chunk, RPT>;
        var sb: array<u32, RPT>;
        for (var r = 0u; r < RPT; r++) {
            let row = min(row0 + r, params.rows - 1u);
            w[r] = load_chunk(row, c);
#if FORMAT == 0
            sb[r] = scale_bias_buf[row * params.groups_per_row + (c >> params.chunks_per_group_log2)];
#endif
        }
        for (var b = 0u; b < BATCH; b++) {
            let xc = prep_x(b, c);
            for (var r = 0u; r < RPT; r++) {
                acc[r * BATCH + b] += row_chunk(w[r], xc, sb[r]);
            }
        }
    }
    return acc;
}

fn store(row0: u32, acc: array<f32, ACCS>) {
    for (var r = 0u; r < RPT; r++) {
        let row = row0 + r;
        if (row < params.rows) {
            for (var b = 0u; b < BATCH; b++) {
                y[b * params.y_stride + params.y_offset + row] = acc[r * BATCH + b];
            }
        }
    }
}

#if SUBGROUPS
@compute @workgroup_size(WG_SIZE)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_id) sg_id: u32,
    @builtin(num_subgroups) n_sg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_size) sg_size: u32,
) {
    let wg = flat_workgroup(wid, nwg);
    for (var t = sg_id; t < TEAMS; t += n_sg) {
        let row0 = (wg * TEAMS + t) * RPT;
        if (row0 >= params.rows) {
            break;
        }
        var acc = team_rows(row0, lane, sg_size);
        for (var i = 0u; i < ACCS; i++) {
            acc[i] = subgroupAdd(acc[i]);
        }
        if (lane == 0u) {
            store(row0, acc);
        }
    }
}
#else
@compute @workgroup_size(WG_SIZE)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let team_size = WG_SIZE / TEAMS;
    let t = li / team_size;
    let lane = li % team_size;
    let row0 = (flat_workgroup(wid, nwg) * TEAMS + t) * RPT;
    var acc: array<f32, ACCS>;
    if (row0 < params.rows) {
        acc = team_rows(row0, lane, team_size);
    }
    // Tree reduction within each team, one accumulator at a time; barriers stay uniform.
    for (var i = 0u; i < ACCS; i++) {
        partial[li] = acc[i];
        workgroupBarrier();
        for (var s = team_size / 2u; s > 0u; s >>= 1u) {
            if (lane < s) {
                partial[li] += partial[li + s];
            }
            workgroupBarrier();
        }
        acc[i] = partial[t * team_size];
        workgroupBarrier();
    }
    if (lane == 0u && row0 < params.rows) {
        store(row0, acc);
    }
}
#endif
