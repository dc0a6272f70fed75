// rans_core.wgsl: the interleaved rANS block decoder (the format of src/rans, 32 lanes per
// block sharing one stream of 16-bit words), shared by rans_decode.wgsl and gemv_fused.wgsl
// (included, never compiled alone). The includer declares `params` (n_symbols, block_len,
// n_blocks, prob_bits, row_len, row_words), the bindings `table`, `states`, `offsets` and
// `words`, `emit_word` / `emit_code` for the decoded codes, and the override GROUPS (declared
// before the includes).
//
// Text variants (preprocessor):
//   BALLOT        word offsets from a subgroup ballot + popcount (subgroups of >= 32 lanes;
//                 the includer enables subgroups);
//                 otherwise each lane ORs its bit into a workgroup-memory mask (one barrier per
//                 step; masks rotate over three slots so a slot is cleared two steps before reuse)
//   WIDE_SUBGROUPS  subgroups may be wider than 32: a 32-lane group reads its part of the ballot
//   TABLE_SHARED  the decode table is copied into workgroup memory once per workgroup
//   FAST_BITS     2, 4 or 8: every 32-symbol step is 32 codes of one row starting on a word, so
//                 lanes OR their codes into whole words and write them; 0: any layout (3-bit
//                 codes, rows that are not a multiple of 32 long) through atomicOr into a zeroed
//                 output
// Tunables (override constants): GROUPS (32-lane groups per workgroup).
//
// Safety on any input: the step loop is bounded by the block length, word reads are checked
// against the block's range (reads past it return 0), and a block that over-reads or does not
// end in the initial state with all its words consumed is counted in `status`.

const STATE_LOWER: u32 = 65536u;

#if TABLE_SHARED
var<workgroup> tbl: array<u32, 4096>;
#endif
#if !BALLOT
// Per 32-lane group and step slot (three slots): the lanes that need a word, and the step's
// packed output words (at most 8: 32 codes of 8 bits).
var<workgroup> masks: array<atomic<u32>, 3 * GROUPS>;
var<workgroup> packed: array<atomic<u32>, 24 * GROUPS>;
var<workgroup> bad_groups: array<atomic<u32>, GROUPS>;
#endif

fn table_at(slot: u32) -> u32 {
#if TABLE_SHARED
    return tbl[slot];
#else
    return table[slot];
#endif
}

// u32 `i` of the packed words, 0 past the end.
fn load_u32(i: u32) -> u32 {
    if (i < arrayLength(&words)) {
        return words[i];
    }
    return 0u;
}

// 16-bit word `w` of the stream; 0 (and `ok` false) outside [0, end).
fn read_word(w: u32, end: u32, ok: ptr<function, bool>) -> u32 {
    if (w >= end) {
        *ok = false;
        return 0u;
    }
    return (words[w >> 1u] >> ((w & 1u) * 16u)) & 0xFFFFu;
}


// Decodes block `b` with the 32 lanes of group `group` (all lanes call it; `live` false for a
// group without a block still takes part in the workgroup-memory path's barriers). Codes go to
// `emit_word` (FAST_BITS, whole words) or `emit_code` (any layout), which the includer defines.
// Returns whether the block failed its end-of-stream check (the same on all 32 lanes).
fn decode_block(
    b: u32,
    live: bool,
    lane: u32,
    group: u32,
    sg_lane: u32,
    u: ptr<function, u32>,
) -> bool {
    let mask = (1u << params.prob_bits) - 1u;
    let bb = min(b, params.n_blocks - 1u);
    let start = bb * params.block_len;
    let len = select(0u, min(params.block_len, params.n_symbols - start), live);
    var x = states[bb * 32u + lane];
    var cur = offsets[bb];
    let end = offsets[bb + 1u];
    var ok = x >= STATE_LOWER;
#if BALLOT
    // No barriers on this path: a group without a block skips the loop.
    let steps = select(0u, (params.block_len + 31u) / 32u, live);
#else
    let steps = (params.block_len + 31u) / 32u;
#endif
#if BALLOT
    // The block's next words, prefetched into registers: u32 wbase/2 + lane in wa, +32 in
    // wb, +64 in wc. A step reads at most 32 words from [cur, cur + 32) and cur - wbase < 64,
    // so reads come from wa and wb (two shuffles, no dependent memory load), while wc is in
    // flight for later steps.
    var wbase = cur & ~1u;
    var wa = load_u32(wbase / 2u + lane);
    var wb = load_u32(wbase / 2u + 32u + lane);
    var wc = load_u32(wbase / 2u + 64u + lane);
    let half_base = sg_lane & ~31u;
#endif
#if FAST_BITS != 0
    // Blocks are whole rows: track the step's first output word instead of dividing.
    var row_word = (start / params.row_len) * params.row_words;
    var col = 0u;
#endif
    // Steps are branch-free up to the stores (selects instead of ifs): divergent branches
    // would force reconvergence before every subgroup operation.
    for (var t = 0u; t < steps; t++) {
        let i = t * 32u + lane;
        let in_block = i < len;
        let slot = x & mask;
        let e = table_at(slot);
        let sym = select(0u, e & 0xFFu, in_block);
        x = select(x, (((e >> 8u) & 0xFFFu) + 1u) * (x >> params.prob_bits) + slot - (e >> 20u), in_block);
        let need = in_block && x < STATE_LOWER;
#if BALLOT
#if WIDE_SUBGROUPS
        // This lane's 32-lane group within a subgroup of 64 or 128.
        let ballot = subgroupBallot(need)[sg_lane >> 5u];
#else
        let ballot = subgroupBallot(need).x;
#endif
#else
        let k = group * 3u + *u % 3u;
        if (need) {
            atomicOr(&masks[k], 1u << lane);
        }
#if FAST_BITS != 0
        atomicOr(&packed[k * 8u + ((lane * FAST_BITS) >> 5u)], sym << ((lane * FAST_BITS) & 31u));
#endif
        workgroupBarrier();
        let ballot = atomicLoad(&masks[k]);
#endif
        let before = countOneBits(ballot & ((1u << lane) - 1u));
        let total = countOneBits(ballot);
#if BALLOT
        let w = cur + before - wbase;
        let src = half_base + ((w >> 1u) & 31u);
        let va = subgroupShuffle(wa, src);
        let vb = subgroupShuffle(wb, src);
        let past = cur + before >= end;
        let word = select((select(va, vb, w >= 64u) >> ((w & 1u) * 16u)) & 0xFFFFu, 0u, past);
        ok = ok && !(need && past);
        x = select(x, (x << 16u) | word, need);
        cur += total;
        if (cur - wbase >= 64u) {
            wa = wb;
            wb = wc;
            wbase += 64u;
            wc = load_u32(wbase / 2u + 64u + lane);
        }
#else
        if (need) {
            x = (x << 16u) | read_word(cur + before, end, &ok);
        }
        cur += total;
#endif
#if FAST_BITS == 0
        if (in_block) {
            emit_code(start + i, sym);
        }
#else
        // The step's 32 codes are whole words of one row: OR each word's codes together.
#if BALLOT
        var v = sym << ((lane * FAST_BITS) & 31u);
        for (var s = 1u; s < 32u / FAST_BITS; s <<= 1u) {
            v |= subgroupShuffleXor(v, s);
        }
#else
        let v = atomicLoad(&packed[k * 8u + ((lane * FAST_BITS) >> 5u)]);
#endif
        if (live && t * 32u < len && ((lane * FAST_BITS) & 31u) == 0u) {
            emit_word(row_word + ((col * FAST_BITS) >> 5u) + ((lane * FAST_BITS) >> 5u), v);
        }
        col += 32u;
        if (col == params.row_len) {
            col = 0u;
            row_word += params.row_words;
        }
#endif
#if !BALLOT
        // Slot (u + 2) % 3 was read in step u - 1, which every lane finished before this
        // step's barrier, and is written again in step u + 2, which no lane reaches before
        // the next barrier: clear it now.
        if (lane < 8u) {
            atomicStore(&packed[(group * 3u + (*u + 2u) % 3u) * 8u + lane], 0u);
        }
        if (lane == 0u) {
            atomicStore(&masks[group * 3u + (*u + 2u) % 3u], 0u);
        }
        *u += 1u;
#endif
    }
    let bad = live && !(ok && x == STATE_LOWER && cur == end);
#if BALLOT
    let any_bad = subgroupBallot(bad)[sg_lane >> 5u] != 0u; // once per block
#else
    if (bad) {
        atomicOr(&bad_groups[group], 1u);
    }
    workgroupBarrier();
    let any_bad = atomicLoad(&bad_groups[group]) != 0u;
    workgroupBarrier();
    if (lane == 0u) {
        atomicStore(&bad_groups[group], 0u);
    }
#endif
    return any_bad;
}

// Copies the decode table into workgroup memory, and clears the workgroup-memory path's step
// slots (the pipeline skips zero-initialization). Call once, from uniform control flow.
fn decode_init(li: u32) {
#if TABLE_SHARED
    let m = 1u << params.prob_bits;
    for (var i = li; i < m; i += 32u * GROUPS) {
        tbl[i] = table[i];
    }
#endif
#if !BALLOT
    let lane = li & 31u;
    let group = li >> 5u;
    if (lane < 24u) {
        atomicStore(&packed[group * 24u + lane], 0u);
    }
    if (lane < 3u) {
        atomicStore(&masks[group * 3u + lane], 0u);
    }
    if (lane == 0u) {
        atomicStore(&bad_groups[group], 0u);
    }
#endif
    workgroupBarrier();
}
