// gemv_rows.wgsl: the arithmetic of y = W x shared by the GEMV kernels (included, never
// compiled alone). The includer declares `params` (with rows, cols, words_per_row,
// groups_per_row, chunks_per_group_log2, x_stride, y_stride, y_offset), the bindings
// `scale_bias_buf`, `x` and `y`, and `fn load_chunk(row: u32, chunk: u32) -> Chunk`, and the override constants WG_SIZE and SG_MIN
// (declared before the includes: naga needs named overrides ahead of the array sizes that use
// them).
// The defines are those of gemv.wgsl.

#if SUBGROUPS
var<workgroup> red: array<f32, (WG_SIZE / SG_MIN) * ACCS>;
#else
var<workgroup> red: array<f32, WG_SIZE * ACCS>;
#endif

#if F16
alias Chunk = array<vec4<f16>, 2>;
#else
alias Chunk = array<u32, CHUNK_WORDS>;
#endif

// The XV vec4 inputs of chunk `chunk` of vector `b`, zero past `cols`. Each vector holds
// x_stride >= cols floats, so a vec4 that starts before `cols` lies inside the buffer.
fn load_x(b: u32, chunk: u32) -> array<vec4<f32>, XV> {
    var xs: array<vec4<f32>, XV>;
    let base = b * (params.x_stride / 4u) + chunk * XV;
    if ((chunk + 1u) * WPC <= params.cols) {
#for I in 0..XV
        xs[I] = x[base + I];
#endfor
    } else {
#for I in 0..XV
        if (chunk * WPC + I * 4u < params.cols) {
            let c0 = chunk * WPC + I * 4u;
            xs[I] = select(vec4<f32>(0.0), x[base + I], vec4<u32>(c0, c0 + 1u, c0 + 2u, c0 + 3u) < vec4<u32>(params.cols));
        }
#endfor
    }
    return xs;
}

#if DOT8
// Integer path: per chunk, x_q = round(x * 127 / max|x|) in [-127, 127], packed four per u32
// in the byte order the codes come out of a word, and sum(q x) ~= d * dot(q, x_q) with
// d = max|x| / 127. The bias term uses the exact f32 sum of x.
struct XChunk {
    q: array<u32, XV>,
    d: f32,
    sum: f32,
    qsum128: i32,   // 128 * sum(x_q), for the 8-bit codes' offset
}

fn quantize4(v: vec4<f32>, inv_d: f32) -> u32 {
    return pack4xI8Clamp(vec4<i32>(round(v * inv_d)));
}

fn prep_x(b: u32, chunk: u32) -> XChunk {
    let xs = load_x(b, chunk);
    var m = vec4<f32>(0.0);
    var s = vec4<f32>(0.0);
#for I in 0..XV
    m = max(m, abs(xs[I]));
    s += xs[I];
#endfor
    let amax = max(max(m.x, m.y), max(m.z, m.w));
    let inv_d = select(0.0, 127.0 / amax, amax > 0.0);
    var xc: XChunk;
    xc.d = amax / 127.0;
    xc.sum = s.x + s.y + s.z + s.w;
#if BITS == 4
    // Word i holds codes 8i..8i+7; its bytes' low nibbles are the even codes, high nibbles odd.
#for I in 0..4
    xc.q[2u * I] = quantize4(vec4<f32>(xs[2u * I].x, xs[2u * I].z, xs[2u * I + 1u].x, xs[2u * I + 1u].z), inv_d);
    xc.q[2u * I + 1u] = quantize4(vec4<f32>(xs[2u * I].y, xs[2u * I].w, xs[2u * I + 1u].y, xs[2u * I + 1u].w), inv_d);
#endfor
#else
    // Word i holds codes 4i..4i+3, one per byte.
#for I in 0..4
    xc.q[I] = quantize4(xs[I], inv_d);
    xc.qsum128 += 128 * dot4I8Packed(0x01010101u, xc.q[I]);
#endfor
#endif
    return xc;
}

fn row_chunk(w: Chunk, xc: XChunk, packed_sb: u32) -> f32 {
    var acc = 0i;
    let sb = scale_bias(packed_sb);
#if BITS == 4
#for I in 0..4
    acc += dot4I8Packed(w[I] & 0x0F0F0F0Fu, xc.q[2u * I]);
    acc += dot4I8Packed((w[I] >> 4u) & 0x0F0F0F0Fu, xc.q[2u * I + 1u]);
#endfor
    return sb.x * xc.d * f32(acc) + sb.y * xc.sum;
#else
    // Flipping each byte's top bit turns code q into the int8 q - 128; sum(q x_q) is then
    // sum((q - 128) x_q) + 128 sum(x_q), exact in i32 (|.| < 2^20).
#for I in 0..4
    acc += dot4I8Packed(w[I] ^ 0x80808080u, xc.q[I]);
#endfor
    return sb.x * xc.d * f32(acc + xc.qsum128) + sb.y * xc.sum;
#endif
}
#elif F16
// f16 path (dense f16 weights): f16 products summed in f16 within a chunk (2 per lane of a
// vec4), chunks summed in f32.
alias XChunk = array<vec4<f16>, 2>;

fn prep_x(b: u32, chunk: u32) -> XChunk {
    let xs = load_x(b, chunk);
    return XChunk(vec4<f16>(xs[0]), vec4<f16>(xs[1]));
}

fn row_chunk(w: Chunk, xh: XChunk, packed_sb: u32) -> f32 {
    let acc = fma(w[0], xh[0], w[1] * xh[1]);
    return (f32(acc.x) + f32(acc.y)) + (f32(acc.z) + f32(acc.w));
}
#else
// f32 path: exact codes (no int-to-float conversions), f32 products.
struct XChunk {
    v: array<vec4<f32>, XV>,
    sum: f32,
}

fn prep_x(b: u32, chunk: u32) -> XChunk {
    let xs = load_x(b, chunk);
    var s = vec4<f32>(0.0);
#for I in 0..XV
    s += xs[I];
#endfor
    return XChunk(xs, s.x + s.y + s.z + s.w);
}

#if BITS == 3
// The 12 bits starting at bit 12i of a 3-word chunk (i a constant after unrolling).
fn bits12(w: Chunk, i: u32) -> u32 {
    let a = (12u * i) >> 5u;
    let s = (12u * i) & 31u;
    if (s > 20u) {
        return (w[a] >> s) | (w[a + 1u] << (32u - s));
    }
    return w[a] >> s;
}
#endif

fn row_chunk(w: Chunk, xc: XChunk, packed_sb: u32) -> f32 {
    var acc = vec4<f32>(0.0);
#if FORMAT == 32
    acc = bitcast<vec4<f32>>(vec4<u32>(w[0], w[1], w[2], w[3])) * xc.v[0];
    return acc.x + acc.y + acc.z + acc.w;
#elif FORMAT == 16
    acc = fma(vec4<f32>(unpack2x16float(w[0]), unpack2x16float(w[1])), xc.v[0],
              vec4<f32>(unpack2x16float(w[2]), unpack2x16float(w[3])) * xc.v[1]);
    return acc.x + acc.y + acc.z + acc.w;
#else
#if BITS == 4
#for I in 0..4
    acc = fma(codes_to_f32((vec4<u32>(w[I]) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u)), xc.v[2u * I], acc);
    acc = fma(codes_to_f32((vec4<u32>(w[I]) >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u)), xc.v[2u * I + 1u], acc);
#endfor
#elif BITS == 8
#for I in 0..4
    acc = fma(codes_to_f32((vec4<u32>(w[I]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u)), xc.v[I], acc);
#endfor
#elif BITS == 2
    // Word i holds codes 16i..16i+15; inputs 4j..4j+3 of that word sit at bits 8j..8j+7.
#for I in 0..2
#for J in 0..4
    acc = fma(codes_to_f32((vec4<u32>(w[I]) >> (vec4<u32>(0u, 2u, 4u, 6u) + 8u * J)) & vec4<u32>(3u)), xc.v[4u * I + J], acc);
#endfor
#endfor
#else
    // 3 bits: inputs 4i..4i+3 need the 12 code bits at 12i, which may straddle two words.
#for I in 0..8
    acc = fma(codes_to_f32((vec4<u32>(bits12(w, I)) >> vec4<u32>(0u, 3u, 6u, 9u)) & vec4<u32>(7u)), xc.v[I], acc);
#endfor
#endif
    let sb = scale_bias(packed_sb);
    return sb.x * (acc.x + acc.y + acc.z + acc.w) + sb.y * xc.sum;
#endif
}
#endif

// Rows [first, last] of the matrix, in groups of RB: invocation `li` owns chunks
// base + k * WG_SIZE + li (k < CPT) of each slab of WG_SIZE * CPT chunks, so a subgroup reads
// consecutive 16-byte pieces of a row. With XSTAT the row is one slab whose inputs stay in
// registers while all the rows stream past them: x is read once per workgroup instead of once
// per row (for 4-bit codes x is 8x the bytes, and every workgroup reads all of it). All RB * CPT
// chunk loads of a group are independent, which keeps many bytes in flight per invocation.
//
// A row's sum depends only on WG_SIZE, CPT, BATCH and the path, never on which rows share the
// workgroup: the plain and the fused kernel give bit-identical results with the same key.
fn gemv_rows(
    first: u32,
    last: u32,
    li: u32,
#if SUBGROUPS
    sg_id: u32,
    n_sg: u32,
    sg_lane: u32,
#endif
) {
    let chunks = params.words_per_row / CHUNK_WORDS;
#if XSTAT
    // The whole row is one slab (CPT * WG_SIZE >= chunks): load its inputs once.
    var xc: array<XChunk, XREGS>;
#for K in 0..CPT
#for B in 0..BATCH
    xc[K * BATCH + B] = prep_x(B, min(K * WG_SIZE + li, chunks - 1u));
#endfor
#endfor
#endif
    for (var row0 = first; row0 <= last; row0 += RB) {
        // Explicitly zeroed: Dawn/Tint (Chromium, SwiftShader) does not re-zero a declaration
        // without initializer on each iteration, so every group of rows after the first carried
        // the previous group's sums (fused kernel wrong from row RB on; plain GEMV runs one group).
        var acc = array<f32, ACCS>();
#if XSTAT
        let base = 0u;
#else
        for (var base = 0u; base < chunks; base += WG_SIZE * CPT) {
#endif
#for R in 0..RB
#for K in 0..CPT
            if (base + K * WG_SIZE + li < chunks) {
                let c = base + K * WG_SIZE + li;
                // Rows past the range repeat its last row (no out-of-bounds reads); never stored.
                let row = min(row0 + R, last);
                let w = load_chunk(row, c);
#if FORMAT == 0
                let sb = scale_bias_buf[row * params.groups_per_row + (c >> params.chunks_per_group_log2)];
#else
                let sb = 0u;
#endif
#for B in 0..BATCH
#if XSTAT
                acc[R * BATCH + B] += row_chunk(w, xc[K * BATCH + B], sb);
#else
                acc[R * BATCH + B] += row_chunk(w, prep_x(B, c), sb);
#endif
#endfor
            }
#endfor
#endfor
#if !XSTAT
        }
#endif
        reduce_store(row0, last, li, acc,
#if SUBGROUPS
            sg_id, n_sg, sg_lane,
#endif
        );
    }
}

// Sums the ACCS partials over the workgroup and stores them. Ends with a barrier so the next
// group may reuse the workgroup memory.
fn reduce_store(
    row0: u32,
    last: u32,
    li: u32,
    partials: array<f32, ACCS>,
#if SUBGROUPS
    sg_id: u32,
    n_sg: u32,
    sg_lane: u32,
#endif
) {
    var acc = partials;
#if SUBGROUPS
#for I in 0..ACCS
    acc[I] = subgroupAdd(acc[I]);
#endfor
    if (sg_lane == 0u) {
#for I in 0..ACCS
        red[sg_id * ACCS + I] = acc[I];
#endfor
    }
    workgroupBarrier();
    if (li < ACCS) {
        var sum = 0.0;
        for (var g = 0u; g < n_sg; g++) {
            sum += red[g * ACCS + li];
        }
        store(row0, last, li, sum);
    }
#else
#for I in 0..ACCS
    red[li * ACCS + I] = acc[I];
#endfor
    workgroupBarrier();
    // Tree over invocations, vectorized over the accumulators (layout [invocation][acc]).
    for (var s = WG_SIZE / 2u; s > 0u; s >>= 1u) {
        for (var i = li; i < s * ACCS; i += WG_SIZE) {
            red[i] += red[i + s * ACCS];
        }
        workgroupBarrier();
    }
    if (li < ACCS) {
        store(row0, last, li, red[li]);
    }
#endif
    workgroupBarrier();
}

// Accumulator i holds row row0 + i / BATCH of vector i % BATCH.
fn store(row0: u32, last: u32, i: u32, v: f32) {
    let row = row0 + i / BATCH;
    if (row <= last) {
        y[(i % BATCH) * params.y_stride + params.y_offset + row] = v;
    }
}
