// copy.wgsl: the bandwidth roofline kernels (a plain copy, and a read-only sweep).
//
// Tunables: WG_SIZE. Grid-stride loops over 16-byte elements.

struct Params {
    n: u32,          // vec4<u32> elements
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>;

override WG_SIZE: u32 = 256u;

@compute @workgroup_size(WG_SIZE)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let stride = nwg.x * WG_SIZE;
    for (var i = gid.x; i < params.n; i += stride) {
        dst[i] = src[i];
    }
}

// Reads everything and writes one word per invocation, so the reads cannot be optimized away.
@compute @workgroup_size(WG_SIZE)
fn read_sweep(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let stride = nwg.x * WG_SIZE;
    var acc = vec4<u32>(0u);
    for (var i = gid.x; i < params.n; i += stride) {
        acc ^= src[i];
    }
    if (all(acc == vec4<u32>(0x9E3779B9u))) {
        dst[gid.x] = acc;
    }
}
