//! The baseline: group-wise affine quantization, `w ≈ s q + b` with an f16 scale and bias per
//! group (min-max, exactly as [`crate::quant::affine`] does), extended to 5 and 6 bits so that the
//! baseline covers every size the other methods reach.
//!
//! [`AffineClip`] stores the same thing but chooses each group's range by a small search
//! (shrinking either end by up to 30% of the range, keeping the lowest squared error): a stronger
//! scalar baseline at 2-4 bits, for judging the methods that beat min-max there.

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

/// Affine quantization with the range search of [`AffineClip`]: the same storage as [`Affine`].
pub struct AffineClip;

/// Shrink steps tried at each end of a group's range, as fractions of the range.
const CLIP_STEPS: [f32; 7] = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3];

impl Method for AffineClip {
    fn name(&self) -> &'static str {
        "affine-clip"
    }

    fn description(&self) -> &'static str {
        "affine codes as `affine`, each group's range chosen by a clipping search (least squared error)"
    }

    fn settings(&self, _rows: usize, _cols: usize) -> Vec<Setting> {
        [(2, 128), (2, 64), (3, 128), (3, 64), (4, 128), (4, 64)]
            .iter()
            .map(|&(b, g)| Setting::new(format!("q{b}g{g} clip"), g as f64, b))
            .collect()
    }

    fn compress(&self, t: &Tensor, setting: &Setting) -> Result<Approx> {
        let (bits, gs) = (setting.aux as u32, setting.value as usize);
        if !(1..=8).contains(&bits) || gs == 0 {
            return Err(Error::InvalidArgument(format!("affine-clip setting {}: bits 1-8, group > 0", setting.label)));
        }
        let (recon, codes) = quantize_with(&t.data, t.cols, bits, gs, true);
        let groups = t.rows * t.cols.div_ceil(gs);
        Ok(Approx {
            reconstruction: recon,
            bits: (t.rows * t.cols.div_ceil(gs) * gs) as f64 * f64::from(bits) + groups as f64 * 32.0,
            detail: format!("{bits}-bit codes, f16 scale+bias per {gs}, clipped range"),
            code_entropy_bits: Some(stats::entropy_bits_u8(&codes)),
        })
    }
}

/// Min-max affine quantization of every row in groups of `gs`: returns the reconstruction and the
/// codes. Scale and bias are rounded to f16 before the codes are chosen (as they are stored).
pub fn quantize(data: &[f32], cols: usize, bits: u32, gs: usize) -> (Vec<f32>, Vec<u8>) {
    quantize_with(data, cols, bits, gs, false)
}

/// Codes one group on the grid `[lo, hi]` (f16-rounded); returns the squared error.
fn code_group(g: &[f32], lo: f32, hi: f32, max_code: f32, q: &mut [u8], out: &mut [f32]) -> f64 {
    let b = f16::from_f32(lo).to_f32();
    let s = f16::from_f32((hi - b) / max_code).to_f32();
    let mut err = 0f64;
    for ((&v, qi), o) in g.iter().zip(q.iter_mut()).zip(out.iter_mut()) {
        *qi = if s > 0.0 { ((v - b) / s).round().clamp(0.0, max_code) as u8 } else { 0 };
        *o = s * f32::from(*qi) + b;
        err += f64::from(v - *o).powi(2);
    }
    err
}

/// Affine quantization of every row in groups of `gs`, min-max or with the clipping search.
fn quantize_with(data: &[f32], cols: usize, bits: u32, gs: usize, search: bool) -> (Vec<f32>, Vec<u8>) {
    let max_code = ((1u32 << bits) - 1) as f32;
    let mut recon = vec![0f32; data.len()];
    let mut codes = vec![0u8; data.len()];
    let cols1 = cols.max(1);
    codes.par_chunks_mut(cols1).zip(recon.par_chunks_mut(cols1)).enumerate().for_each(|(r, (cr, wr))| {
        let row = &data[r * cols..(r + 1) * cols];
        let (mut tq, mut to) = (vec![0u8; gs], vec![0f32; gs]);
        for ((g, q), out) in row.chunks(gs).zip(cr.chunks_mut(gs)).zip(wr.chunks_mut(gs)) {
            let (lo, hi) = g.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
            let mut best = code_group(g, lo, hi, max_code, q, out);
            if search {
                let range = hi - lo;
                for &a in &CLIP_STEPS {
                    for &c in &CLIP_STEPS {
                        if a == 0.0 && c == 0.0 {
                            continue;
                        }
                        let n = g.len();
                        let e = code_group(g, lo + a * range, hi - c * range, max_code, &mut tq[..n], &mut to[..n]);
                        if e < best {
                            best = e;
                            q.copy_from_slice(&tq[..n]);
                            out.copy_from_slice(&to[..n]);
                        }
                    }
                }
            }
        }
    });
    (recon, codes)
}

/// Entropy (bits per code) of the `bits`-bit affine codes of a matrix with groups of `gs`.
pub fn codes_entropy(data: &[f32], cols: usize, bits: u32, gs: usize) -> f64 {
    stats::entropy_bits_u8(&quantize(data, cols, bits, gs).1)
}
