//! Truncated SVD: `W ≈ A B^T` with `A = U_r sqrt(S_r)` (`rows x r`) and `B = V_r sqrt(S_r)`
//! (`cols x r`), both stored in f16: `16 r (rows + cols)` bits.

use super::{Approx, F16_BITS, Method, Setting, TARGET_BITS, Tensor, linalg};
use crate::{Error, Result};

/// Truncated SVD with f16 factors.
pub struct TruncatedSvd;

/// The largest rank whose f16 factors fit in `target` bits per weight (0 if none does).
pub fn rank_for_bits(target: f64, rows: usize, cols: usize) -> usize {
    let r = (target * (rows * cols) as f64 / (F16_BITS * (rows + cols) as f64)).floor() as usize;
    r.min(rows.min(cols))
}

impl Method for TruncatedSvd {
    fn name(&self) -> &'static str {
        "svd"
    }

    fn description(&self) -> &'static str {
        "rank-r truncated SVD, both factors in f16"
    }

    fn settings(&self, rows: usize, cols: usize) -> Vec<Setting> {
        let mut out: Vec<Setting> = Vec::new();
        for &b in &TARGET_BITS {
            let r = rank_for_bits(b, rows, cols);
            if r >= 1 && out.last().is_none_or(|s| s.aux < r) {
                out.push(Setting { aux: r, ..Setting::target_bits(b) });
            }
        }
        out
    }

    fn compress(&self, t: &Tensor, setting: &Setting) -> Result<Approx> {
        let r = setting.aux;
        let k = t.rows.min(t.cols);
        if r == 0 || r > k {
            return Err(Error::InvalidArgument(format!("svd rank {r} of a {}x{} matrix", t.rows, t.cols)));
        }
        let svd = t.svd()?;
        let (a, b) = linalg::f16_factors(&svd, r);
        Ok(Approx {
            reconstruction: linalg::product(&a, &b),
            bits: F16_BITS * (r * (t.rows + t.cols)) as f64,
            detail: format!("rank {r} of {k}, f16 factors"),
            code_entropy_bits: None,
        })
    }
}
