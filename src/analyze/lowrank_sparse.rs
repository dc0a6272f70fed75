//! Low rank plus sparse: `W ≈ A B^T + S`, the rank-r SVD truncation (f16 factors) plus the 1% of
//! residual entries of largest magnitude, each stored as an f16 value and its position (bitmap,
//! flat index or per-row column index, whichever is smallest). One pass: the low-rank part is
//! the SVD of `W` itself (alternating refinements would cost one SVD each).

use super::{Approx, F16_BITS, Method, Setting, TARGET_BITS, Tensor, f16_round, linalg, position_bits, top_k_indices};
use crate::{Error, Result};

/// Low rank plus sparse residual.
pub struct LowRankSparse;

/// Share of entries kept in the sparse part.
pub const SPARSE_FRACTION: f64 = 0.01;

/// Entries kept in the sparse part of a `rows x cols` matrix.
pub fn sparse_count(rows: usize, cols: usize) -> usize {
    ((rows * cols) as f64 * SPARSE_FRACTION).ceil() as usize
}

/// Bits of the sparse part: f16 values plus positions.
pub fn sparse_bits(rows: usize, cols: usize) -> f64 {
    let k = sparse_count(rows, cols);
    F16_BITS * k as f64 + position_bits(k, rows, cols)
}

impl Method for LowRankSparse {
    fn name(&self) -> &'static str {
        "lowrank+sparse"
    }

    fn description(&self) -> &'static str {
        "rank-r SVD (f16 factors) + largest 1% of residuals (f16 value + position)"
    }

    fn settings(&self, rows: usize, cols: usize) -> Vec<Setting> {
        let (n, sb) = ((rows * cols) as f64, sparse_bits(rows, cols));
        let mut out: Vec<Setting> = Vec::new();
        for &b in &TARGET_BITS {
            let left = b * n - sb;
            let r = ((left / (F16_BITS * (rows + cols) as f64)).floor().max(0.0) as usize).min(rows.min(cols));
            if left > 0.0 && r >= 1 && out.last().is_none_or(|s| s.aux < r) {
                out.push(Setting { aux: r, ..Setting::target_bits(b) });
            }
        }
        out
    }

    fn compress(&self, t: &Tensor, setting: &Setting) -> Result<Approx> {
        let r = setting.aux;
        if r == 0 || r > t.rows.min(t.cols) {
            return Err(Error::InvalidArgument(format!("lowrank+sparse rank {r} of a {}x{} matrix", t.rows, t.cols)));
        }
        let svd = t.svd()?;
        let (a, b) = linalg::f16_factors(&svd, r);
        let mut recon = linalg::product(&a, &b);
        let residual: Vec<f32> = t.data.iter().zip(&recon).map(|(w, l)| w - l).collect();
        let k = sparse_count(t.rows, t.cols);
        for i in top_k_indices(&residual, k) {
            recon[i] += f16_round(residual[i]);
        }
        Ok(Approx {
            reconstruction: recon,
            bits: F16_BITS * (r * (t.rows + t.cols)) as f64 + sparse_bits(t.rows, t.cols),
            detail: format!("rank {r}, f16 factors + {k} sparse f16 entries"),
            code_entropy_bits: None,
        })
    }
}
