//! The baseline: group-wise affine quantization, `w ≈ s q + b` with an f16 scale and bias per
//! group (min-max, exactly as [`crate::quant::affine`] does), extended to 5 and 6 bits so that the
//! baseline covers every size the other methods reach.

use half::f16;

use rayon::prelude::*;

use super::{Approx, Method, Setting, Tensor};
use crate::stats;
use crate::{Error, Result};

/// Group-wise affine quantization (the baseline).
pub struct Affine;

/// (bits, group size) evaluated, in table order.
const SETTINGS: [(u32, usize); 10] =
    [(2, 128), (2, 64), (3, 128), (3, 64), (4, 128), (4, 64), (4, 32), (5, 64), (6, 64), (8, 64)];

impl Method for Affine {
    fn name(&self) -> &'static str {
        "affine"
    }

    fn description(&self) -> &'static str {
        "min-max affine codes per group, f16 scale + f16 bias per group (the baseline)"
    }

    fn settings(&self, _rows: usize, _cols: usize) -> Vec<Setting> {
        SETTINGS.iter().map(|&(b, g)| Setting::new(format!("q{b}g{g}"), g as f64, b as usize)).collect()
    }

    fn compress(&self, t: &Tensor, setting: &Setting) -> Result<Approx> {
        let (bits, gs) = (setting.aux as u32, setting.value as usize);
        if !(1..=8).contains(&bits) || gs == 0 {
            return Err(Error::InvalidArgument(format!("affine setting {}: bits 1-8, group > 0", setting.label)));
        }
        let (recon, codes) = quantize(&t.data, t.cols, bits, gs);
        let groups = t.rows * t.cols.div_ceil(gs);
        Ok(Approx {
            reconstruction: recon,
            // Padded codes as stored (rows padded to whole groups), plus f16 scale and bias.
            bits: (t.rows * t.cols.div_ceil(gs) * gs) as f64 * f64::from(bits) + groups as f64 * 32.0,
            detail: format!("{bits}-bit codes, f16 scale+bias per {gs}"),
            code_entropy_bits: Some(stats::entropy_bits_u8(&codes)),
        })
    }
}

/// Min-max affine quantization of every row in groups of `gs`: returns the reconstruction and the
/// codes. Scale and bias are rounded to f16 before the codes are chosen (as they are stored).
pub fn quantize(data: &[f32], cols: usize, bits: u32, gs: usize) -> (Vec<f32>, Vec<u8>) {
    let max_code = ((1u32 << bits) - 1) as f32;
    let mut recon = vec![0f32; data.len()];
    let mut codes = vec![0u8; data.len()];
    let cols1 = cols.max(1);
    codes.par_chunks_mut(cols1).zip(recon.par_chunks_mut(cols1)).enumerate().for_each(|(r, (cr, wr))| {
        let row = &data[r * cols..(r + 1) * cols];
        for ((g, q), out) in row.chunks(gs).zip(cr.chunks_mut(gs)).zip(wr.chunks_mut(gs)) {
            let (lo, hi) = g.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
            let b = f16::from_f32(lo).to_f32();
            let s = f16::from_f32((hi - b) / max_code).to_f32();
            for ((&v, qi), o) in g.iter().zip(q.iter_mut()).zip(out.iter_mut()) {
                *qi = if s > 0.0 { ((v - b) / s).round().clamp(0.0, max_code) as u8 } else { 0 };
                *o = s * f32::from(*qi) + b;
            }
        }
    });
    (recon, codes)
}

/// Entropy (bits per code) of the `bits`-bit affine codes of a matrix with groups of `gs`.
pub fn codes_entropy(data: &[f32], cols: usize, bits: u32, gs: usize) -> f64 {
    stats::entropy_bits_u8(&quantize(data, cols, bits, gs).1)
}
