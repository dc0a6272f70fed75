// rmsnorm.wgsl: y = x / sqrt(mean(x^2) + eps) * w for each token's vector.
//
// One workgroup per vector; invocations stride over the vector and reduce the sum of squares
// through workgroup memory. With `last_only`, the single workgroup normalizes the pass's last
// token into vector 0 of y (the final norm before the output projection, which only the last
// token needs).
// Tunables (override constants): WG_SIZE (a power of two).

#include "step.wgsl"

struct Params {
    dim: u32,
    eps: f32,
    last_only: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

override WG_SIZE: u32 = 256u;

var<workgroup> partial: array<f32, WG_SIZE>;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let src = select(wid.x, step.n_tokens - 1u, params.last_only != 0u) * params.dim;
    let dst = wid.x * params.dim;
    var ss = 0.0;
    for (var i = li; i < params.dim; i += WG_SIZE) {
        let v = x[src + i];
        ss = fma(v, v, ss);
    }
    partial[li] = ss;
    workgroupBarrier();
    for (var s = WG_SIZE / 2u; s > 0u; s >>= 1u) {
        if (li < s) {
            partial[li] += partial[li + s];
        }
        workgroupBarrier();
    }
    let inv = inverseSqrt(partial[0] / f32(params.dim) + params.eps);
    for (var i = li; i < params.dim; i += WG_SIZE) {
        y[dst + i] = x[src + i] * inv * w[i];
    }
}
