// argmax.wgsl: index of the largest value of each vector (the lowest index among equals; NaN is
// never chosen; 0 when no value beats -inf), for greedy decoding without reading logits back.
//
// One workgroup per vector: each invocation scans a strided share, then a tree reduction in
// workgroup memory.
// Tunables (override constants): WG_SIZE (a power of two).

struct Params {
    len: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

override WG_SIZE: u32 = 256u;

var<workgroup> best_v: array<f32, WG_SIZE>;
var<workgroup> best_i: array<u32, WG_SIZE>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let base = wid.x * params.len;
    var bv = -3.4028235e38;
    var bi = 0xFFFFFFFFu;
    // Ascending indices: a strictly larger value is needed to move, so ties keep the lowest.
    for (var i = li; i < params.len; i += WG_SIZE) {
        let v = x[base + i];
        if (v > bv || (bi == 0xFFFFFFFFu && v == bv)) {
            bv = v;
            bi = i;
        }
    }
    best_v[li] = bv;
    best_i[li] = bi;
    workgroupBarrier();
    for (var s = WG_SIZE / 2u; s > 0u; s >>= 1u) {
        if (li < s) {
            let ov = best_v[li + s];
            let oi = best_i[li + s];
            if (ov > best_v[li] || (ov == best_v[li] && oi < best_i[li])) {
                best_v[li] = ov;
                best_i[li] = oi;
            }
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        out[wid.x] = select(best_i[0], 0u, best_i[0] == 0xFFFFFFFFu);
    }
}
