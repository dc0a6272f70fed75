//! Sums of Kronecker products: `W ≈ sum_i A_i ⊗ B_i` with `A_i` of `m1 x n1` and `B_i` of
//! `m2 x n2` (`rows = m1 m2`, `cols = n1 n2`). By Van Loan and Pitsianis, the best such sum of
//! rank r is the rank-r SVD of the rearranged matrix `R[(i1, j1), (i2, j2)] = W[i1 m2 + i2,
//! j1 n2 + j2]`. Factors are stored in f16: `16 r (m1 n1 + m2 n2)` bits. Ranks are capped at
//! [`MAX_RANK`]; large rearranged matrices use a randomized SVD (stated in the detail).

use faer::Mat;

use super::{Approx, F16_BITS, Method, Setting, TARGET_BITS, Tensor, linalg};
use crate::{Error, Result};

/// Sums of Kronecker products.
pub struct KroneckerSum;

/// Largest rank evaluated.
pub const MAX_RANK: usize = 256;
/// Rearranged matrices whose smaller side exceeds this use a randomized SVD.
const FULL_SVD_LIMIT: usize = 1536;

/// The divisor of `n` closest to `sqrt(n)` (at most `sqrt(n)`): the first factor of a balanced
/// split `n = n1 n2`.
pub fn balanced_factor(n: usize) -> usize {
    let mut best = 1;
    let mut d = 1;
    while d * d <= n {
        if n % d == 0 {
            best = d;
        }
        d += 1;
    }
    best
}

/// Factor shapes `(m1, n1, m2, n2)` used for a `rows x cols` matrix.
pub fn shapes(rows: usize, cols: usize) -> (usize, usize, usize, usize) {
    let (m1, n1) = (balanced_factor(rows), balanced_factor(cols));
    (m1, n1, rows / m1, cols / n1)
}

/// The rearrangement `R` (`m1 n1 x m2 n2`, row-major) of a row-major `W`.
pub fn rearrange(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let (m1, n1, m2, n2) = shapes(rows, cols);
    let mut r = vec![0f32; w.len()];
    for i1 in 0..m1 {
        for j1 in 0..n1 {
            let base = (i1 * n1 + j1) * (m2 * n2);
            for i2 in 0..m2 {
                let src = (i1 * m2 + i2) * cols + j1 * n2;
                r[base + i2 * n2..base + (i2 + 1) * n2].copy_from_slice(&w[src..src + n2]);
            }
        }
    }
    r
}

/// Inverse of [`rearrange`].
pub fn unrearrange(r: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let (m1, n1, m2, n2) = shapes(rows, cols);
    let mut w = vec![0f32; r.len()];
    for i1 in 0..m1 {
        for j1 in 0..n1 {
            let base = (i1 * n1 + j1) * (m2 * n2);
            for i2 in 0..m2 {
                let dst = (i1 * m2 + i2) * cols + j1 * n2;
                w[dst..dst + n2].copy_from_slice(&r[base + i2 * n2..base + (i2 + 1) * n2]);
            }
        }
    }
    w
}

fn max_rank(rows: usize, cols: usize) -> usize {
    let (m1, n1, m2, n2) = shapes(rows, cols);
    (m1 * n1).min(m2 * n2).min(MAX_RANK)
}

impl Method for KroneckerSum {
    fn name(&self) -> &'static str {
        "kronecker"
    }

    fn description(&self) -> &'static str {
        "sum of r Kronecker products A_i ⊗ B_i (Van Loan rearrangement + SVD), f16 factors"
    }

    fn settings(&self, rows: usize, cols: usize) -> Vec<Setting> {
        let (m1, n1, m2, n2) = shapes(rows, cols);
        if m1 * n1 == 1 || m2 * n2 == 1 {
            return Vec::new();
        }
        let per_rank = F16_BITS * (m1 * n1 + m2 * n2) as f64;
        let mut out: Vec<Setting> = Vec::new();
        for &b in &TARGET_BITS {
            let r = (b * (rows * cols) as f64 / per_rank).floor() as usize;
            if r >= 1 && r <= max_rank(rows, cols) && out.last().is_none_or(|s| s.aux < r) {
                out.push(Setting { aux: r, ..Setting::target_bits(b) });
            }
        }
        out
    }

    fn compress(&self, t: &Tensor, setting: &Setting) -> Result<Approx> {
        let (m1, n1, m2, n2) = shapes(t.rows, t.cols);
        let (p, q) = (m1 * n1, m2 * n2);
        let r = setting.aux;
        if r == 0 || r > p.min(q) {
            return Err(Error::InvalidArgument(format!("kronecker rank {r} with factors {m1}x{n1} and {m2}x{n2}")));
        }
        let randomized = p.min(q) > FULL_SVD_LIMIT;
        let svd = t.cached("kronecker_svd", || {
            let rm = rearrange(&t.data, t.rows, t.cols);
            if randomized {
                linalg::randomized_svd(&t.name, linalg::view(&rm, p, q), max_rank(t.rows, t.cols), 10, 2, 7)
            } else {
                linalg::thin_svd(&t.name, &rm, p, q)
            }
        })?;
        if r > svd.s.len() {
            return Err(Error::InvalidArgument(format!("kronecker rank {r} above the computed {}", svd.s.len())));
        }
        let (a, b): (Mat<f32>, Mat<f32>) = linalg::f16_factors(&svd, r);
        let reconstruction = unrearrange(&linalg::product(&a, &b), t.rows, t.cols);
        Ok(Approx {
            reconstruction,
            bits: F16_BITS * (r * (p + q)) as f64,
            detail: format!("{r} x ({m1}x{n1} ⊗ {m2}x{n2}), f16{}", if randomized { ", randomized SVD" } else { "" }),
            code_entropy_bits: None,
        })
    }
}
