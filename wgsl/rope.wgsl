// rope.wgsl: rotary position embedding of Q and K, and the store of K and V into the KV cache.
//
// llama.cpp's convention for `llama` models: within each head, the adjacent pair (2i, 2i+1)
// rotates by pos * theta^(-2i/head_dim), the GGUF's Q/K rows used as stored. Angles come from a
// table computed in f64 on the host ([pos][i] = (cos, sin)), not from WGSL sin/cos, whose
// accuracy on large arguments is left to the implementation.
//
// One invocation per (item, token): items [0, q_dim/2) rotate a Q pair in place, the next
// kv_dim/2 rotate a K pair into the K cache at the token's position, the last kv_dim copy one V
// value into the V cache.
// Tunables (override constants): WG_SIZE.

#include "step.wgsl"

struct Params {
    q_dim: u32,
    kv_dim: u32,
    half_head: u32,   // head_dim / 2
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> q: array<f32>;
@group(0) @binding(4) var<storage, read> k: array<f32>;
@group(0) @binding(5) var<storage, read> v: array<f32>;
@group(0) @binding(6) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(7) var<storage, read_write> v_cache: array<f32>;

override WG_SIZE: u32 = 64u;

fn rotate(a: f32, b: f32, cs: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(a * cs.x - b * cs.y, a * cs.y + b * cs.x);
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.y;
    let pos = step.pos0 + t;
    let qp = params.q_dim / 2u;
    let kp = params.kv_dim / 2u;
    var j = gid.x;
    if (j < qp) {
        let cs = table[pos * params.half_head + j % params.half_head];
        let i = t * params.q_dim + 2u * j;
        let r = rotate(q[i], q[i + 1u], cs);
        q[i] = r.x;
        q[i + 1u] = r.y;
        return;
    }
    j -= qp;
    if (j < kp) {
        let cs = table[pos * params.half_head + j % params.half_head];
        let i = t * params.kv_dim + 2u * j;
        let r = rotate(k[i], k[i + 1u], cs);
        let o = pos * params.kv_dim + 2u * j;
        k_cache[o] = r.x;
        k_cache[o + 1u] = r.y;
        return;
    }
    j -= kp;
    if (j < params.kv_dim) {
        v_cache[pos * params.kv_dim + j] = v[t * params.kv_dim + j];
    }
}
