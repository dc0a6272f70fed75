//! Group-wise affine quantization: `w ≈ scale * q + bias`, `q` unsigned, one f16 scale and one f16
//! bias per group of `group_size` consecutive weights along a row (the input dimension).
//!
//! Layout (MLX-compatible): a matrix of `rows` output features by `cols` inputs is stored as
//! `rows` packed rows of codes ([`super::pack`]), plus `rows x groups` scales and biases.
//!
//! **Padding rule.** When `group_size` does not divide `cols`, each row is padded to
//! `padded_cols = groups * group_size`: the last group's scale and bias are computed from its real
//! weights only, and the padding codes are 0. Kernels never read inputs past `cols`, so padding
//! never contributes to a product.
//!
//! **Quantizer.** Min-max per group (the grid spans the group's range), with scale and bias first
//! rounded to f16 so that the codes are chosen against the values that are actually stored.

use half::f16;
use rayon::prelude::*;

use super::pack;
use crate::{Error, Result};

/// Bit widths supported by affine quantization.
pub const SUPPORTED_BITS: [u32; 4] = [2, 3, 4, 8];
/// Group sizes supported by affine quantization.
pub const SUPPORTED_GROUP_SIZES: [u32; 3] = [32, 64, 128];

/// An affine format: bits per code and weights per group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct AffineSpec {
    /// Bits per code: 2, 3, 4 or 8.
    pub bits: u32,
    /// Weights sharing one scale and bias: 32, 64 or 128.
    pub group_size: u32,
}

impl AffineSpec {
    /// Creates a spec, checking that bits and group size are supported.
    pub fn new(bits: u32, group_size: u32) -> Result<Self> {
        let s = AffineSpec { bits, group_size };
        s.validate()?;
        Ok(s)
    }

    /// Checks that bits and group size are supported.
    pub fn validate(&self) -> Result<()> {
        if !SUPPORTED_BITS.contains(&self.bits) {
            return Err(Error::Unsupported(format!("{} bits (affine supports 2, 3, 4, 8)", self.bits)));
        }
        if !SUPPORTED_GROUP_SIZES.contains(&self.group_size) {
            return Err(Error::Unsupported(format!("group size {} (affine supports 32, 64, 128)", self.group_size)));
        }
        Ok(())
    }

    /// Largest code value, `2^bits - 1`.
    pub fn max_code(&self) -> u32 {
        (1 << self.bits) - 1
    }

    /// Stored bits per weight including the f16 scale and bias (e.g. 4.5 for q4 gs64).
    pub fn bits_per_weight(&self) -> f64 {
        f64::from(self.bits) + 32.0 / f64::from(self.group_size)
    }

    /// Short name such as `q4g64`.
    pub fn name(&self) -> String {
        format!("q{}g{}", self.bits, self.group_size)
    }

    /// Parses names such as `q4g64`, `q4` (group 64) or `q3g128`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::InvalidArgument(format!("affine format `{s}`: expected qBITS[gGROUP], e.g. q4g64"));
        let rest = s.strip_prefix('q').ok_or_else(bad)?;
        let (b, g) = match rest.split_once('g') {
            Some((b, g)) => (b, g.parse().map_err(|_| bad())?),
            None => (rest, 64),
        };
        AffineSpec::new(b.parse().map_err(|_| bad())?, g)
    }
}

impl std::fmt::Display for AffineSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// A quantized matrix in the packed affine layout.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedMatrix {
    /// Format of the codes.
    pub spec: AffineSpec,
    /// Output features.
    pub rows: usize,
    /// Inputs (logical; rows are padded to a whole number of groups).
    pub cols: usize,
    /// `rows * words_per_row()` packed codes.
    pub codes: Vec<u32>,
    /// `rows * groups_per_row()` scales.
    pub scales: Vec<f16>,
    /// `rows * groups_per_row()` biases.
    pub biases: Vec<f16>,
}

impl QuantizedMatrix {
    /// Groups per row, `ceil(cols / group_size)`.
    pub fn groups_per_row(&self) -> usize {
        groups_per_row(self.cols, self.spec)
    }

    /// Columns including padding, `groups_per_row * group_size`.
    pub fn padded_cols(&self) -> usize {
        self.groups_per_row() * self.spec.group_size as usize
    }

    /// u32 words of codes per row.
    pub fn words_per_row(&self) -> usize {
        words_per_row(self.cols, self.spec)
    }

    /// Packed codes of row `r`.
    pub fn row_codes(&self, r: usize) -> &[u32] {
        let w = self.words_per_row();
        &self.codes[r * w..(r + 1) * w]
    }

    /// Code at (`r`, `c`).
    pub fn code(&self, r: usize, c: usize) -> u8 {
        pack::get(self.row_codes(r), self.spec.bits, c)
    }

    /// All codes of row `r` (padding excluded), one per byte.
    pub fn unpack_row(&self, r: usize) -> Vec<u8> {
        pack::unpack(self.row_codes(r), self.spec.bits, self.cols)
    }

    /// Bytes stored: codes plus f16 scales and biases.
    pub fn stored_bytes(&self) -> usize {
        self.codes.len() * 4 + (self.scales.len() + self.biases.len()) * 2
    }

    /// Dequantizes to a row-major `rows x cols` f32 matrix (the CPU reference of the dequant kernel).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        out.par_chunks_mut(self.cols.max(1)).enumerate().for_each(|(r, row)| {
            let g = self.groups_per_row();
            let gs = self.spec.group_size as usize;
            let codes = self.row_codes(r);
            for (c, w) in row.iter_mut().enumerate() {
                let s = self.scales[r * g + c / gs].to_f32();
                let b = self.biases[r * g + c / gs].to_f32();
                *w = s * f32::from(pack::get(codes, self.spec.bits, c)) + b;
            }
        });
        out
    }

    /// Dequantizes row `r` into `out` (`cols` values): an embedding lookup.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let g = self.groups_per_row();
        let gs = self.spec.group_size as usize;
        let codes = self.row_codes(r);
        for (c, w) in out[..self.cols].iter_mut().enumerate() {
            let s = self.scales[r * g + c / gs].to_f32();
            let b = self.biases[r * g + c / gs].to_f32();
            *w = s * f32::from(pack::get(codes, self.spec.bits, c)) + b;
        }
    }

    /// Checks that buffer lengths match the shape and format (used when reading untrusted files).
    pub fn validate(&self, name: &str) -> Result<()> {
        self.spec.validate()?;
        let (w, g) = (self.words_per_row(), self.groups_per_row());
        let want = |what: &str, have: usize, need: usize| {
            if have == need {
                Ok(())
            } else {
                Err(Error::tensor(
                    name,
                    format!("{what}: {have} elements, expected {need} for {}x{} {}", self.rows, self.cols, self.spec),
                ))
            }
        };
        want("codes", self.codes.len(), self.rows * w)?;
        want("scales", self.scales.len(), self.rows * g)?;
        want("biases", self.biases.len(), self.rows * g)
    }
}

/// Groups per row for `cols` inputs.
pub fn groups_per_row(cols: usize, spec: AffineSpec) -> usize {
    cols.div_ceil(spec.group_size as usize)
}

/// u32 words per packed row for `cols` inputs (padding included).
pub fn words_per_row(cols: usize, spec: AffineSpec) -> usize {
    pack::words_for(groups_per_row(cols, spec) * spec.group_size as usize, spec.bits)
}

/// Largest magnitude that a group's scale and bias can represent in f16.
const F16_MAX: f32 = 65504.0;

/// Quantizes a row-major `rows x cols` f32 matrix.
///
/// Errors (naming `name` and the offending index) on NaN/Inf weights, on values beyond the f16
/// range of the scales, and on a data length that does not match the shape.
pub fn quantize(name: &str, data: &[f32], rows: usize, cols: usize, spec: AffineSpec) -> Result<QuantizedMatrix> {
    spec.validate()?;
    if rows == 0 || cols == 0 {
        return Err(Error::tensor(name, format!("empty matrix {rows}x{cols}")));
    }
    if data.len() != rows * cols {
        return Err(Error::tensor(name, format!("{} values do not fill a {rows}x{cols} matrix", data.len())));
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite() || v.abs() > F16_MAX) {
        let v = data[i];
        let what = if v.is_finite() { "beyond the f16 range of scales and biases" } else { "not finite" };
        return Err(Error::tensor(name, format!("weight [{}, {}] = {v} is {what}", i / cols, i % cols)));
    }
    let (w, g) = (words_per_row(cols, spec), groups_per_row(cols, spec));
    let gs = spec.group_size as usize;
    let mut codes = vec![0u32; rows * w];
    let mut scales = vec![f16::ZERO; rows * g];
    let mut biases = vec![f16::ZERO; rows * g];
    codes.par_chunks_mut(w).zip(scales.par_chunks_mut(g).zip(biases.par_chunks_mut(g))).enumerate().for_each(
        |(r, (row_codes, (row_s, row_b)))| {
            let row = &data[r * cols..(r + 1) * cols];
            let mut q = vec![0u8; g * gs];
            for (gi, chunk) in row.chunks(gs).enumerate() {
                let (s, b) = quantize_group(chunk, spec.max_code(), &mut q[gi * gs..gi * gs + chunk.len()]);
                row_s[gi] = s;
                row_b[gi] = b;
            }
            pack::pack_into(&q, spec.bits, row_codes);
        },
    );
    Ok(QuantizedMatrix { spec, rows, cols, codes, scales, biases })
}

/// Min-max quantization of one group into `q`; returns the stored (scale, bias).
fn quantize_group(w: &[f32], max_code: u32, q: &mut [u8]) -> (f16, f16) {
    let (lo, hi) = w.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let b = f16::from_f32(lo);
    let s = f16::from_f32((hi - b.to_f32()) / max_code as f32);
    let (sf, bf) = (s.to_f32(), b.to_f32());
    for (qi, &v) in q.iter_mut().zip(w) {
        *qi = if sf > 0.0 { ((v - bf) / sf).round().clamp(0.0, max_code as f32) as u8 } else { 0 };
    }
    (s, b)
}

/// Weight SQNR in dB: `10 log10(sum w^2 / sum (w - w')^2)` (infinite when exact).
pub fn sqnr_db(original: &[f32], approx: &[f32]) -> f64 {
    let (mut sig, mut err) = (0f64, 0f64);
    for (&a, &b) in original.iter().zip(approx) {
        sig += f64::from(a) * f64::from(a);
        err += (f64::from(a) - f64::from(b)).powi(2);
    }
    10.0 * (sig / err).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg_data(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
            })
            .collect()
    }

    #[test]
    fn round_trip_error_is_within_half_a_step() {
        for bits in SUPPORTED_BITS {
            for gs in SUPPORTED_GROUP_SIZES {
                let spec = AffineSpec::new(bits, gs).unwrap();
                let (rows, cols) = (5, 200); // 200 is not a multiple of any group size
                let w = lcg_data(rows * cols, u64::from(bits * gs));
                let m = quantize("t", &w, rows, cols, spec).unwrap();
                m.validate("t").unwrap();
                let d = m.dequantize();
                for r in 0..rows {
                    for c in 0..cols {
                        let gi = r * m.groups_per_row() + c / gs as usize;
                        let s = m.scales[gi].to_f32();
                        // Half a step, plus the f16 rounding of the range end (<= 2^-11 relative).
                        let bound = 0.5 * s + 1e-3 * s * spec.max_code() as f32 + 1e-7;
                        let e = (d[r * cols + c] - w[r * cols + c]).abs();
                        assert!(e <= bound, "{spec} [{r},{c}] err {e} > {bound}");
                    }
                }
            }
        }
    }

    #[test]
    fn padding_codes_are_zero() {
        let spec = AffineSpec::new(3, 32).unwrap();
        let m = quantize("t", &lcg_data(3 * 40, 7), 3, 40, spec).unwrap();
        assert_eq!(m.padded_cols(), 64);
        for r in 0..3 {
            let all = pack::unpack(m.row_codes(r), 3, 64);
            assert!(all[40..].iter().all(|&c| c == 0));
        }
    }

    #[test]
    fn constant_groups_are_exact() {
        let spec = AffineSpec::new(4, 32).unwrap();
        let w = vec![0.25f32; 64];
        let m = quantize("t", &w, 1, 64, spec).unwrap();
        assert_eq!(m.dequantize(), w);
    }

    #[test]
    fn non_finite_and_bad_shapes_are_errors() {
        let spec = AffineSpec::new(4, 64).unwrap();
        let mut w = vec![0.1f32; 128];
        w[70] = f32::NAN;
        let e = quantize("blk.0.w", &w, 2, 64, spec).unwrap_err().to_string();
        assert!(e.contains("blk.0.w") && e.contains("[1, 6]"), "{e}");
        w[70] = 1e6;
        assert!(quantize("t", &w, 2, 64, spec).unwrap_err().to_string().contains("f16 range"));
        assert!(quantize("t", &w[..100], 2, 64, spec).is_err());
        assert!(quantize("t", &[], 0, 64, spec).is_err());
        assert!(AffineSpec::new(5, 64).is_err());
        assert!(AffineSpec::new(4, 48).is_err());
    }

    #[test]
    fn parse_names() {
        assert_eq!(AffineSpec::parse("q4").unwrap(), AffineSpec { bits: 4, group_size: 64 });
        assert_eq!(AffineSpec::parse("q3g128").unwrap(), AffineSpec { bits: 3, group_size: 128 });
        assert!(AffineSpec::parse("x4").is_err());
        assert_eq!(AffineSpec::parse("q8g32").unwrap().bits_per_weight(), 9.0);
    }

    #[test]
    fn sqnr_of_q8_beats_q4_beats_q2() {
        let w = lcg_data(64 * 256, 3);
        let s = |bits| {
            let m = quantize("t", &w, 64, 256, AffineSpec::new(bits, 64).unwrap()).unwrap();
            sqnr_db(&w, &m.dequantize())
        };
        let (s2, s4, s8) = (s(2), s(4), s(8));
        assert!(s8 > s4 + 20.0 && s4 > s2 + 10.0, "{s2} {s4} {s8}");
    }
}
