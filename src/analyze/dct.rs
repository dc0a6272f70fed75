//! 2-D DCT of the whole matrix (orthonormal DCT-II along rows, then along columns, through
//! rustdct), keeping the `k` coefficients of largest magnitude in f16 with their positions
//! (bitmap, flat index or per-row index, whichever is smallest). The inverse is the orthonormal
//! DCT-III. Orthonormality makes the kept energy equal the reconstructed energy, so top-k by
//! magnitude is the best choice of k coefficients.

use std::sync::Arc;

use rayon::prelude::*;
use rustdct::{DctPlanner, TransformType2And3};

use super::{Approx, F16_BITS, Method, Setting, TARGET_BITS, Tensor, f16_round, position_bits, top_k_indices};
use crate::{Error, Result};

/// Top-k 2-D DCT coefficients.
pub struct Dct2d;

/// The largest `k` whose f16 values and positions in a `rows x cols` array fit in `target` bits
/// per weight.
pub fn coefficients_for_bits(target: f64, rows: usize, cols: usize) -> usize {
    let budget = target * (rows * cols) as f64;
    let cost = |k: usize| F16_BITS * k as f64 + position_bits(k, rows, cols);
    let (mut lo, mut hi) = (0usize, rows * cols);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if cost(mid) <= budget { lo = mid } else { hi = mid - 1 }
    }
    lo
}

/// Orthonormal DCT-II (`inverse = false`) or its inverse, the orthonormal DCT-III, of every
/// `len`-long row of `data`, in place.
pub fn dct_rows(data: &mut [f32], len: usize, inverse: bool) {
    let plan: Arc<dyn TransformType2And3<f32>> = DctPlanner::new().plan_dct2(len);
    let (s0, sk) = ((1.0 / len as f32).sqrt(), (2.0 / len as f32).sqrt());
    data.par_chunks_mut(len).for_each_init(
        || vec![0f32; plan.get_scratch_len()],
        |scratch, row| {
            if inverse {
                // Orthonormal coefficients back to rustdct's unnormalized DCT-III input, which
                // computes x_n = X_0 / 2 + sum X_k cos(...).
                row[0] *= 2.0 * s0;
                row[1..].iter_mut().for_each(|v| *v *= sk);
                plan.process_dct3_with_scratch(row, scratch);
            } else {
                plan.process_dct2_with_scratch(row, scratch);
                row[0] *= s0;
                row[1..].iter_mut().for_each(|v| *v *= sk);
            }
        },
    );
}

fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; data.len()];
    out.par_chunks_mut(rows).enumerate().for_each(|(c, col)| {
        for (r, v) in col.iter_mut().enumerate() {
            *v = data[r * cols + c];
        }
    });
    out
}

/// The orthonormal 2-D DCT of a row-major `rows x cols` matrix, returned transposed
/// (`cols x rows`: coefficient `(u, v)` for row frequency `v` and column frequency `u`).
pub fn forward_2d(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut w = data.to_vec();
    dct_rows(&mut w, cols, false);
    let mut t = transpose(&w, rows, cols);
    dct_rows(&mut t, rows, false);
    t
}

/// Inverse of [`forward_2d`]: transposed coefficients back to the row-major matrix.
pub fn inverse_2d(coeffs: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = coeffs.to_vec();
    dct_rows(&mut t, rows, true);
    let mut w = transpose(&t, cols, rows);
    dct_rows(&mut w, cols, true);
    w
}

impl Method for Dct2d {
    fn name(&self) -> &'static str {
        "dct2d"
    }

    fn description(&self) -> &'static str {
        "orthonormal 2-D DCT of the matrix, top-k coefficients in f16 + positions"
    }

    fn settings(&self, rows: usize, cols: usize) -> Vec<Setting> {
        TARGET_BITS
            .iter()
            .filter_map(|&b| {
                let k = coefficients_for_bits(b, cols, rows); // positions in the transposed coefficient array
                (k >= 1).then(|| Setting { aux: k, ..Setting::target_bits(b) })
            })
            .collect()
    }

    fn compress(&self, t: &Tensor, setting: &Setting) -> Result<Approx> {
        let k = setting.aux;
        if k == 0 || k > t.len() {
            return Err(Error::InvalidArgument(format!("dct2d: {k} coefficients of {}", t.len())));
        }
        let coeffs = t.cached("dct2d", || Ok(forward_2d(&t.data, t.rows, t.cols)))?;
        let mut kept = vec![0f32; coeffs.len()];
        for i in top_k_indices(&coeffs, k) {
            kept[i] = f16_round(coeffs[i]);
        }
        Ok(Approx {
            reconstruction: inverse_2d(&kept, t.rows, t.cols),
            bits: F16_BITS * k as f64 + position_bits(k, t.cols, t.rows),
            detail: format!("{k} coefficients ({:.1}%), f16", 100.0 * k as f64 / t.len() as f64),
            code_entropy_bits: None,
        })
    }
}
