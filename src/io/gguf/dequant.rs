//! GGML tensor types: block geometry of every type GGUF files use, and dequantization to f32 of
//! F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants Q2_K..Q6_K.
//!
//! Each decoder follows ggml's `dequantize_row_*` reference (ggml-quants.c) including its order of
//! f32 operations, so results match llama.cpp's CPU dequantization bit for bit (the unit tests pin
//! values computed by gguf-py's independent numpy implementation).

use half::{bf16, f16};
use rayon::prelude::*;

use crate::{Error, Result};

/// A GGML tensor type, as stored in a GGUF tensor info.
///
/// Names follow ggml (`Q4_0`, `Q6_K`, ...). Types this crate does not know keep their id in
/// [`GgmlType::Unknown`]; their tensors can still be listed but not read.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// 32 weights: f16 `d`, 16 bytes of nibbles; `w = d * (q - 8)`.
    Q4_0,
    /// 32 weights: f16 `d`, f16 `m`, 16 bytes of nibbles; `w = d * q + m`.
    Q4_1,
    /// 32 weights: f16 `d`, 32 high bits, 16 bytes of nibbles; `w = d * (q - 16)`.
    Q5_0,
    /// 32 weights: f16 `d`, f16 `m`, 32 high bits, 16 bytes of nibbles; `w = d * q + m`.
    Q5_1,
    /// 32 weights: f16 `d`, 32 int8; `w = d * q`.
    Q8_0,
    /// Activation type of llama.cpp (never stored in model files; size not known here).
    Q8_1,
    /// 256-weight super-block, 2-bit codes, 4-bit sub-block scales and mins.
    Q2_K,
    /// 256-weight super-block, 3-bit codes, 6-bit sub-block scales.
    Q3_K,
    /// 256-weight super-block, 4-bit codes, 6-bit sub-block scales and mins.
    Q4_K,
    /// 256-weight super-block, 5-bit codes, 6-bit sub-block scales and mins.
    Q5_K,
    /// 256-weight super-block, 6-bit codes, int8 sub-block scales.
    Q6_K,
    /// 256-weight super-block, int8 codes, f32 scale (activation type).
    Q8_K,
    /// i-quant (codebook), not decoded.
    IQ2_XXS,
    /// i-quant, not decoded.
    IQ2_XS,
    /// i-quant, not decoded.
    IQ3_XXS,
    /// i-quant, not decoded.
    IQ1_S,
    /// i-quant, not decoded.
    IQ4_NL,
    /// i-quant, not decoded.
    IQ3_S,
    /// i-quant, not decoded.
    IQ2_S,
    /// i-quant, not decoded.
    IQ4_XS,
    /// 8-bit integer.
    I8,
    /// 16-bit integer.
    I16,
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 64-bit float.
    F64,
    /// i-quant, not decoded.
    IQ1_M,
    /// bfloat16.
    BF16,
    /// Ternary, not decoded.
    TQ1_0,
    /// Ternary, not decoded.
    TQ2_0,
    /// Microscaling FP4, not decoded.
    MXFP4,
    /// A type id this crate does not know.
    Unknown(u32),
}

use GgmlType::*;

impl GgmlType {
    /// The type for a GGUF type id.
    pub fn from_id(id: u32) -> Self {
        match id {
            0 => F32,
            1 => F16,
            2 => Q4_0,
            3 => Q4_1,
            6 => Q5_0,
            7 => Q5_1,
            8 => Q8_0,
            9 => Q8_1,
            10 => Q2_K,
            11 => Q3_K,
            12 => Q4_K,
            13 => Q5_K,
            14 => Q6_K,
            15 => Q8_K,
            16 => IQ2_XXS,
            17 => IQ2_XS,
            18 => IQ3_XXS,
            19 => IQ1_S,
            20 => IQ4_NL,
            21 => IQ3_S,
            22 => IQ2_S,
            23 => IQ4_XS,
            24 => I8,
            25 => I16,
            26 => I32,
            27 => I64,
            28 => F64,
            29 => IQ1_M,
            30 => BF16,
            34 => TQ1_0,
            35 => TQ2_0,
            39 => MXFP4,
            other => Unknown(other),
        }
    }

    /// The GGUF type id.
    pub fn id(self) -> u32 {
        match self {
            F32 => 0,
            F16 => 1,
            Q4_0 => 2,
            Q4_1 => 3,
            Q5_0 => 6,
            Q5_1 => 7,
            Q8_0 => 8,
            Q8_1 => 9,
            Q2_K => 10,
            Q3_K => 11,
            Q4_K => 12,
            Q5_K => 13,
            Q6_K => 14,
            Q8_K => 15,
            IQ2_XXS => 16,
            IQ2_XS => 17,
            IQ3_XXS => 18,
            IQ1_S => 19,
            IQ4_NL => 20,
            IQ3_S => 21,
            IQ2_S => 22,
            IQ4_XS => 23,
            I8 => 24,
            I16 => 25,
            I32 => 26,
            I64 => 27,
            F64 => 28,
            IQ1_M => 29,
            BF16 => 30,
            TQ1_0 => 34,
            TQ2_0 => 35,
            MXFP4 => 39,
            Unknown(id) => id,
        }
    }

    /// (weights per block, bytes per block), as in ggml's type traits; `None` when unknown
    /// (then the tensor's extent in the file cannot be checked and it cannot be read).
    pub fn block_geometry(self) -> Option<(usize, usize)> {
        const QK_K: usize = 256;
        Some(match self {
            F32 | I32 => (1, 4),
            F16 | BF16 | I16 => (1, 2),
            I8 => (1, 1),
            I64 | F64 => (1, 8),
            Q4_0 | IQ4_NL => (32, 18),
            Q4_1 => (32, 20),
            Q5_0 => (32, 22),
            Q5_1 => (32, 24),
            Q8_0 => (32, 34),
            Q2_K => (QK_K, 84),
            Q3_K => (QK_K, 110),
            Q4_K => (QK_K, 144),
            Q5_K => (QK_K, 176),
            Q6_K => (QK_K, 210),
            Q8_K => (QK_K, 292),
            IQ2_XXS => (QK_K, 66),
            IQ2_XS => (QK_K, 74),
            IQ3_XXS => (QK_K, 98),
            IQ1_S => (QK_K, 50),
            IQ3_S => (QK_K, 110),
            IQ2_S => (QK_K, 82),
            IQ4_XS => (QK_K, 136),
            IQ1_M => (QK_K, 56),
            TQ1_0 => (QK_K, 54),
            TQ2_0 => (QK_K, 66),
            MXFP4 => (32, 17),
            // ggml and gguf-py disagree on Q8_1's size; it never appears in model files.
            Q8_1 | Unknown(_) => return None,
        })
    }

    /// True when [`dequantize`] can decode this type.
    pub fn can_dequantize(self) -> bool {
        matches!(self, F32 | F16 | BF16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q2_K | Q3_K | Q4_K | Q5_K | Q6_K)
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unknown(id) => write!(f, "unknown type {id}"),
            t => write!(f, "{t:?}"),
        }
    }
}

/// Bytes taken by `n` weights of type `ty`, or `None` when the type's geometry is unknown, `n`
/// is not a whole number of blocks, or the size overflows.
pub fn byte_size(ty: GgmlType, n: u64) -> Option<u64> {
    let (bs, ts) = ty.block_geometry()?;
    if n % bs as u64 != 0 {
        return None;
    }
    (n / bs as u64).checked_mul(ts as u64)
}

/// Dequantizes `n` weights of type `ty` from `data` (exactly [`byte_size`] bytes) to f32, in the
/// file's element order. `name` only labels errors.
pub fn dequantize(name: &str, ty: GgmlType, data: &[u8], n: usize) -> Result<Vec<f32>> {
    if !ty.can_dequantize() {
        return Err(Error::tensor(
            name,
            format!("cannot dequantize {ty} (supported: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K..Q6_K)"),
        ));
    }
    let want = byte_size(ty, n as u64)
        .ok_or_else(|| Error::tensor(name, format!("{n} elements are not a whole number of {ty} blocks")))?;
    if data.len() as u64 != want {
        return Err(Error::tensor(
            name,
            format!("{} bytes of {ty} data, expected {want} for {n} elements", data.len()),
        ));
    }
    let (bs, ts) = ty.block_geometry().expect("decodable types have a geometry");
    let block: fn(&[u8], &mut [f32]) = match ty {
        F32 => |b, y| y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        F16 => |b, y| y[0] = f16::from_le_bytes([b[0], b[1]]).to_f32(),
        BF16 => |b, y| y[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32(),
        Q4_0 => block_q4_0,
        Q4_1 => block_q4_1,
        Q5_0 => block_q5_0,
        Q5_1 => block_q5_1,
        Q8_0 => block_q8_0,
        Q2_K => block_q2_k,
        Q3_K => block_q3_k,
        Q4_K => block_q4_k,
        Q5_K => block_q5_k,
        Q6_K => block_q6_k,
        _ => unreachable!("checked by can_dequantize"),
    };
    let mut out = vec![0f32; n];
    // Chunks of many blocks keep rayon's per-task overhead negligible.
    let per_task = (16384 / bs).max(1);
    out.par_chunks_mut(bs * per_task).zip(data.par_chunks(ts * per_task)).for_each(|(y, x)| {
        for (yb, xb) in y.chunks_exact_mut(bs).zip(x.chunks_exact(ts)) {
            block(xb, yb);
        }
    });
    Ok(out)
}

#[inline]
fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

fn block_q4_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for (j, &q) in b[2..18].iter().enumerate() {
        y[j] = (i32::from(q & 0xF) - 8) as f32 * d;
        y[j + 16] = (i32::from(q >> 4) - 8) as f32 * d;
    }
}

fn block_q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    for (j, &q) in b[4..20].iter().enumerate() {
        y[j] = d * f32::from(q & 0xF) + m;
        y[j + 16] = d * f32::from(q >> 4) + m;
    }
}

fn block_q5_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for (j, &q) in b[6..22].iter().enumerate() {
        let h0 = ((qh >> j) << 4) & 0x10;
        let h1 = (qh >> (j + 12)) & 0x10;
        y[j] = ((u32::from(q & 0xF) | h0) as i32 - 16) as f32 * d;
        y[j + 16] = ((u32::from(q >> 4) | h1) as i32 - 16) as f32 * d;
    }
}

fn block_q5_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for (j, &q) in b[8..24].iter().enumerate() {
        let h0 = ((qh >> j) << 4) & 0x10;
        let h1 = (qh >> (j + 12)) & 0x10;
        y[j] = (u32::from(q & 0xF) | h0) as f32 * d + m;
        y[j + 16] = (u32::from(q >> 4) | h1) as f32 * d + m;
    }
}

fn block_q8_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for (yj, &q) in y.iter_mut().zip(&b[2..34]) {
        *yj = f32::from(q as i8) * d;
    }
}

// Q2_K: scales[16] (low nibble scale, high nibble min), qs[64], f16 d, f16 dmin.
fn block_q2_k(b: &[u8], y: &mut [f32]) {
    let (scales, qs) = (&b[0..16], &b[16..80]);
    let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
    let mut is = 0;
    for (n, q) in qs.chunks_exact(32).enumerate() {
        for (j, shift) in [0u32, 2, 4, 6].into_iter().enumerate() {
            for half in 0..2 {
                let sc = scales[is];
                is += 1;
                let (dl, ml) = (d * f32::from(sc & 0xF), dmin * f32::from(sc >> 4));
                let base = n * 128 + j * 32 + half * 16;
                for l in 0..16 {
                    y[base + l] = dl * f32::from((q[l + half * 16] >> shift) & 3) - ml;
                }
            }
        }
    }
}

// Q3_K: hmask[32], qs[64], scales[12] (16 six-bit scales, offset 32), f16 d.
fn block_q3_k(b: &[u8], y: &mut [f32]) {
    let (hm, qs, sc) = (&b[0..32], &b[32..96], &b[96..108]);
    let d_all = f16_at(b, 108);
    let mut scales = [0i32; 16];
    for (i, s) in scales.iter_mut().enumerate() {
        let low = (sc[i % 8] >> (4 * (i / 8))) & 0xF;
        let high = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
        *s = i32::from(low | (high << 4)) - 32;
    }
    let mut is = 0;
    let mut m = 1u8;
    for (n, q) in qs.chunks_exact(32).enumerate() {
        for (j, shift) in [0u32, 2, 4, 6].into_iter().enumerate() {
            for half in 0..2 {
                let dl = d_all * scales[is] as f32;
                is += 1;
                let base = n * 128 + j * 32 + half * 16;
                for l in 0..16 {
                    let k = l + half * 16;
                    let hi = if hm[k] & m != 0 { 0 } else { 4 };
                    y[base + l] = dl * (i32::from((q[k] >> shift) & 3) - hi) as f32;
                }
            }
            m <<= 1;
        }
    }
}

/// The j-th (0..8) 6-bit scale and min of a Q4_K/Q5_K super-block.
#[inline]
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

// Q4_K: f16 d, f16 dmin, scales[12], qs[128].
fn block_q4_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let (sc, qs) = (&b[4..16], &b[16..144]);
    for (n, q) in qs.chunks_exact(32).enumerate() {
        let (s1, m1) = scale_min_k4(2 * n, sc);
        let (s2, m2) = scale_min_k4(2 * n + 1, sc);
        let (d1, m1) = (d * f32::from(s1), dmin * f32::from(m1));
        let (d2, m2) = (d * f32::from(s2), dmin * f32::from(m2));
        for l in 0..32 {
            y[n * 64 + l] = d1 * f32::from(q[l] & 0xF) - m1;
            y[n * 64 + 32 + l] = d2 * f32::from(q[l] >> 4) - m2;
        }
    }
}

// Q5_K: f16 d, f16 dmin, scales[12], qh[32], qs[128].
fn block_q5_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let (sc, qh, qs) = (&b[4..16], &b[16..48], &b[48..176]);
    for (n, ql) in qs.chunks_exact(32).enumerate() {
        let (s1, m1) = scale_min_k4(2 * n, sc);
        let (s2, m2) = scale_min_k4(2 * n + 1, sc);
        let (d1, m1) = (d * f32::from(s1), dmin * f32::from(m1));
        let (d2, m2) = (d * f32::from(s2), dmin * f32::from(m2));
        let (u1, u2) = (1u8 << (2 * n), 2u8 << (2 * n));
        for l in 0..32 {
            let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            y[n * 64 + l] = d1 * f32::from((ql[l] & 0xF) + h1) - m1;
            y[n * 64 + 32 + l] = d2 * f32::from((ql[l] >> 4) + h2) - m2;
        }
    }
}

// Q6_K: ql[128], qh[64], int8 scales[16], f16 d.
fn block_q6_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 208);
    for n in 0..2 {
        let ql = &b[n * 64..n * 64 + 64];
        let qh = &b[128 + n * 32..128 + n * 32 + 32];
        let sc = &b[192 + n * 8..192 + n * 8 + 8];
        let y = &mut y[n * 128..n * 128 + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = i32::from((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
            let q2 = i32::from((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            let q3 = i32::from((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            let q4 = i32::from((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            let s = |k: usize| d * f32::from(sc[is + k] as i8);
            y[l] = s(0) * q1 as f32;
            y[l + 32] = s(2) * q2 as f32;
            y[l + 64] = s(4) * q3 as f32;
            y[l + 96] = s(6) * q4 as f32;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// splitmix64: the byte source shared with the gguf-py cross-check script (see
    /// `pins_match_gguf_py`), so both sides decode the very same blocks.
    pub(crate) struct SplitMix(pub u64);

    impl SplitMix {
        pub(crate) fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
            let mut v: Vec<u8> = (0..n.div_ceil(8)).flat_map(|_| self.next_u64().to_le_bytes()).collect();
            v.truncate(n);
            v
        }
    }

    /// Offsets of the f16 scale fields in one block of each type.
    pub(crate) fn f16_fields(ty: GgmlType) -> &'static [usize] {
        match ty {
            Q4_0 | Q5_0 | Q8_0 => &[0],
            Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
            Q2_K => &[80, 82],
            Q3_K => &[108],
            Q6_K => &[208],
            _ => &[],
        }
    }

    /// `n_blocks` random blocks of `ty` whose f16 fields are finite: sign random, magnitude in
    /// [2^-4, 2^-3).
    pub(crate) fn random_blocks(ty: GgmlType, n_blocks: usize, seed: u64) -> Vec<u8> {
        let (_, ts) = ty.block_geometry().unwrap();
        let mut rng = SplitMix(seed);
        let mut v = rng.bytes(n_blocks * ts);
        for blk in v.chunks_exact_mut(ts) {
            for &o in f16_fields(ty) {
                let bits = 0x2C00 | (u16::from_le_bytes([blk[o], blk[o + 1]]) & 0x83FF);
                blk[o..o + 2].copy_from_slice(&bits.to_le_bytes());
            }
        }
        v
    }

    /// Pinned by gguf-py 0.19 `gguf.quants.dequantize` (numpy) on `random_blocks(ty, 8, 42 + id)`:
    /// (type, FNV-1a hash of all values' f32 bits, sum in f64, bits of the first four values).
    /// Script: `tools/gguf-xcheck.py`.
    const PINS: &[(GgmlType, u64, f64, [u32; 4])] = &[
        (Q4_0, 0xe205c953fb20559c, -0.5975341796875, [0x3e0a6000, 0x3d8a6000, 0xbecf9000, 0x3d8a6000]),
        (Q4_1, 0x2c078d88f66d4890, 83.9332275390625, [0x3f47c000, 0x3e7c2000, 0x3f631800, 0x3f2c6800]),
        (Q5_0, 0x9e2689f7f1340abb, 15.68017578125, [0xbf8ebc00, 0xbee46000, 0xbde46000, 0x3fc7d400]),
        (Q5_1, 0x8d6102396f02ea8b, 32.6812744140625, [0xbf811400, 0xbfc13400, 0xc020ba00, 0xbe839000]),
        (Q8_0, 0x5c790fe5a97f7453, -31.533935546875, [0xc057af00, 0x3fac8c00, 0xc08fca00, 0x3e196000]),
        (Q2_K, 0xbadfca6fc5d15d14, 403.53875732421875, [0xbfd7f800, 0xbf34b000, 0xbf34b000, 0x3e8d2000]),
        (Q3_K, 0x994e6864f54a7f93, 121.35009765625, [0x401eb800, 0x80000000, 0x406e1400, 0x401eb800]),
        (Q4_K, 0x68b70ae77ddf844d, -24128.632934570312, [0xc0ed0b00, 0x4071ca00, 0xc0b16300, 0xc194bec0]),
        (Q5_K, 0x4b8aef9799920558, 51821.89471435547, [0x42239510, 0x42239510, 0x42d71788, 0x41956e20]),
        (Q6_K, 0x2f327c7ab7ab008f, 7038.9930419921875, [0xc35f8e78, 0x410f1380, 0xc232d860, 0x43062248]),
    ];

    #[test]
    fn pins_match_gguf_py() {
        assert_eq!(PINS.len(), 10);
        for &(ty, hash, sum, first) in PINS {
            let (bs, _) = ty.block_geometry().unwrap();
            let data = random_blocks(ty, 8, 42 + u64::from(ty.id()));
            let y = dequantize("t", ty, &data, 8 * bs).unwrap();
            let s: f64 = y.iter().map(|&v| f64::from(v)).sum();
            assert_eq!(y[..4].iter().map(|v| v.to_bits()).collect::<Vec<_>>(), first, "{ty}");
            assert!((s - sum).abs() <= 1e-9 * sum.abs().max(1.0), "{ty}: sum {s} vs {sum}");
            let h = y
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .fold(0xCBF2_9CE4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3));
            assert_eq!(h, hash, "{ty}: values differ bitwise from gguf-py");
        }
    }

    #[test]
    fn simple_blocks_by_hand() {
        // Q4_1: d = 0.5, m = -1, codes 0..15 then 15..0.
        let mut b = Vec::new();
        b.extend(f16::from_f32(0.5).to_le_bytes());
        b.extend(f16::from_f32(-1.0).to_le_bytes());
        b.extend((0..16u8).map(|i| i | ((15 - i) << 4)));
        let y = dequantize("t", Q4_1, &b, 32).unwrap();
        for i in 0..16 {
            assert_eq!(y[i], 0.5 * i as f32 - 1.0);
            assert_eq!(y[16 + i], 0.5 * (15 - i) as f32 - 1.0);
        }
        // Q8_0: d = 2, q = -16..16.
        let mut b = f16::from_f32(2.0).to_le_bytes().to_vec();
        b.extend((0..32).map(|i| (i - 16i8) as u8));
        let y = dequantize("t", Q8_0, &b, 32).unwrap();
        assert_eq!(y, (0..32).map(|i| 2.0 * (i - 16) as f32).collect::<Vec<_>>());
    }

    #[test]
    fn sizes_and_errors() {
        assert_eq!(byte_size(Q4_K, 512), Some(288));
        assert_eq!(byte_size(Q4_K, 100), None);
        assert_eq!(byte_size(Unknown(99), 32), None);
        assert_eq!(GgmlType::from_id(14), Q6_K);
        assert_eq!(GgmlType::from_id(77), Unknown(77));
        for id in 0..64 {
            assert_eq!(GgmlType::from_id(id).id(), id);
        }
        assert!(dequantize("x", Q4_0, &[0; 17], 32).unwrap_err().to_string().contains("`x`"));
        assert!(dequantize("x", IQ2_XXS, &[0; 66], 256).is_err());
        assert!(dequantize("x", Q4_0, &[0; 18], 31).is_err());
    }
}
