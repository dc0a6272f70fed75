// sparse_add.wgsl: a sparse correction y += S x (the outliers of an ECSQ matrix).
//
// S is given as compressed sparse rows over the rows that have entries: listed row i is matrix
// row row_index[i], with entries row_ptr[i] .. row_ptr[i + 1] of (col, value). One invocation per
// (listed row, vector); each listed row is distinct, so no two invocations write one output.
// Tunables (override constants): WG_SIZE.

struct Params {
    n_listed: u32,   // listed rows
    x_stride: u32,   // f32 between vectors in x
    y_stride: u32,   // f32 between vectors in y
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> row_index: array<u32>;
@group(0) @binding(2) var<storage, read> row_ptr: array<u32>;
@group(0) @binding(3) var<storage, read> col: array<u32>;
@group(0) @binding(4) var<storage, read> value: array<f32>;
@group(0) @binding(5) var<storage, read> x: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

override WG_SIZE: u32 = 64u;

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= params.n_listed) {
        return;
    }
    let b = gid.y;
    var acc = 0.0;
    for (var k = row_ptr[i]; k < row_ptr[i + 1u]; k++) {
        acc += value[k] * x[b * params.x_stride + col[k]];
    }
    let o = b * params.y_stride + row_index[i];
    y[o] += acc;
}
