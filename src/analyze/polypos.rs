//! Per-channel polynomials of position: each row `W[i, :]` is replaced by a degree-`d`
//! polynomial of the column position `x_j = (2j + 1) / cols - 1`, fitted by least squares.
//! The polynomial is expressed in the discrete orthonormal polynomial basis of the grid (the QR
//! of the Chebyshev basis, faer, f64; a decoder regenerates it from `cols` and `d`), so its
//! coefficients are bounded by the row norm and survive f16 storage at any degree (monomial or
//! Chebyshev coefficients overflow f16 beyond degree ~60). Stored: `d + 1` f16 coefficients per
//! row.

use faer::Mat;

use super::{Approx, F16_BITS, Method, Setting, Tensor, f16_round};
use crate::{Error, Result};

/// Polynomial generation of each row from the column position.
pub struct PolyPosition;

/// Degrees evaluated.
pub const DEGREES: [usize; 7] = [2, 4, 8, 16, 32, 64, 128];

/// The `cols x (degree + 1)` Chebyshev basis at the column positions.
pub fn basis(cols: usize, degree: usize) -> Mat<f64> {
    Mat::from_fn(cols, degree + 1, |j, k| {
        let x = (2 * j + 1) as f64 / cols as f64 - 1.0;
        // T_k(x) = cos(k acos x), exact for |x| <= 1.
        (k as f64 * x.clamp(-1.0, 1.0).acos()).cos()
    })
}

impl Method for PolyPosition {
    fn name(&self) -> &'static str {
        "polypos"
    }

    fn description(&self) -> &'static str {
        "per-row degree-d polynomial of the column position, d+1 f16 coefficients per row"
    }

    fn settings(&self, _rows: usize, cols: usize) -> Vec<Setting> {
        DEGREES.iter().filter(|&&d| 2 * (d + 1) <= cols).map(|&d| Setting::new(format!("deg={d}"), 0.0, d)).collect()
    }

    fn compress(&self, t: &Tensor, setting: &Setting) -> Result<Approx> {
        let d = setting.aux;
        if d + 1 > t.cols {
            return Err(Error::InvalidArgument(format!("polypos degree {d} with {} columns", t.cols)));
        }
        let q = basis(t.cols, d).qr().compute_thin_Q(); // cols x (d + 1), orthonormal columns
        let rhs = Mat::<f64>::from_fn(t.cols, t.rows, |j, i| f64::from(t.data[i * t.cols + j]));
        let coef = q.transpose() * &rhs; // (d + 1) x rows: the least-squares fit
        let coef = Mat::<f64>::from_fn(d + 1, t.rows, |k, i| f64::from(f16_round(coef[(k, i)] as f32)));
        let fit = &q * &coef; // cols x rows
        let reconstruction = (0..t.len()).map(|idx| fit[(idx % t.cols, idx / t.cols)] as f32).collect();
        Ok(Approx {
            reconstruction,
            bits: F16_BITS * (t.rows * (d + 1)) as f64,
            detail: format!("degree {d}, {} f16 coefficients per row", d + 1),
            code_entropy_bits: None,
        })
    }
}
