// attention.wgsl: causal grouped-query attention of a pass's queries over the KV cache.
//
// One workgroup per (query head, token). Query t at position pos0 + t sees cache positions
// 0 ..= pos0 + t; head h reads KV head h / (n_heads / n_kv_heads). Positions are taken in tiles
// of WG_SIZE: invocation i scores position tile + i (q . k, q pre-scaled by 1/sqrt(head_dim))
// into workgroup memory, then invocation d < HEAD_DIM folds the tile into its output value with
// an online softmax (running max m, running sum l, rescaled accumulator). Every invocation reads
// the same scores in the same order, so all agree on m and l.
//
// Text variants: HEAD_DIM (values per head, a multiple of 4).
// Tunables (override constants): WG_SIZE (>= HEAD_DIM).

#include "step.wgsl"

struct Params {
    n_heads: u32,
    group: u32,       // query heads per KV head
    q_dim: u32,
    kv_dim: u32,
    scale: f32,       // 1 / sqrt(head_dim)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k_cache: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> v_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

override WG_SIZE: u32 = 64u;

var<workgroup> qs: array<vec4<f32>, HEAD_DIM / 4u>;
var<workgroup> scores: array<f32, WG_SIZE>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let h = wid.x;
    let t = wid.y;
    let len = step.pos0 + t + 1u;
    let kv_off = (h / params.group) * HEAD_DIM;
    let q_off = t * params.q_dim + h * HEAD_DIM;
    if (li < HEAD_DIM / 4u) {
        let b = q_off + 4u * li;
        qs[li] = vec4<f32>(q[b], q[b + 1u], q[b + 2u], q[b + 3u]) * params.scale;
    }
    workgroupBarrier();
    var m = -3.0e38;
    var l = 0.0;
    var acc = 0.0;
    for (var tile = 0u; tile < len; tile += WG_SIZE) {
        let p = tile + li;
        var s = -3.0e38;
        if (p < len) {
            let kb = (p * params.kv_dim + kv_off) / 4u;
            var d4 = vec4<f32>(0.0);
            for (var i = 0u; i < HEAD_DIM / 4u; i++) {
                d4 = fma(qs[i], k_cache[kb + i], d4);
            }
            s = (d4.x + d4.y) + (d4.z + d4.w);
        }
        scores[li] = s;
        workgroupBarrier();
        let n = min(WG_SIZE, len - tile);
        var tm = m;
        for (var j = 0u; j < n; j++) {
            tm = max(tm, scores[j]);
        }
        let rescale = exp(m - tm);
        l *= rescale;
        acc *= rescale;
        m = tm;
        if (li < HEAD_DIM) {
            for (var j = 0u; j < n; j++) {
                let e = exp(scores[j] - m);
                l += e;
                acc = fma(e, v_cache[(tile + j) * params.kv_dim + kv_off + li], acc);
            }
        }
        workgroupBarrier();
    }
    if (li < HEAD_DIM) {
        out[q_off + li] = acc / l;
    }
}
