// common.wgsl: helpers shared by the kernel families (included, never compiled alone).

// Dispatches larger than 65535 workgroups are split over x and y; this is the flat index.
fn flat_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Exact u32 -> f32 for values below 2^23 without an integer-to-float conversion: the code is
// placed in the mantissa of 2^23 and 2^23 is subtracted (two cheap ops instead of one slow one).
fn codes_to_f32(q: vec4<u32>) -> vec4<f32> {
    return bitcast<vec4<f32>>(q | vec4<u32>(0x4B000000u)) - vec4<f32>(8388608.0);
}

// Scale (low half) and bias (high half) of a group, stored as two f16 in one u32.
fn scale_bias(packed: u32) -> vec2<f32> {
    return unpack2x16float(packed);
}
