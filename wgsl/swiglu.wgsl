// swiglu.wgsl: the SwiGLU gate, out = silu(gate) * up with silu(x) = x / (1 + e^-x).
//
// One invocation per (element, token); rows of `width` values, one per token of the pass.
// Tunables (override constants): WG_SIZE.

struct Params {
    width: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override WG_SIZE: u32 = 64u;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x < params.width) {
        let i = gid.y * params.width + gid.x;
        let g = gate[i];
        out[i] = g / (1.0 + exp(-g)) * up[i];
    }
}
