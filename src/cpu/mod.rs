//! Plain-Rust references for every GPU kernel. Tests compare the GPU against these, and they are
//! the CPU fallback when no adapter exists. They favour clarity and accuracy (f64 sums) over speed,
//! but run rows in parallel so that real layers stay quick.

pub mod transformer;

use rayon::prelude::*;
pub use transformer::{AttentionShape, add, argmax, attention, embed, linear, rmsnorm, rope, rope_table, swiglu};

use crate::weights::Matrix;
use crate::{Error, Result};

/// `y[b] = W x[b]` for `batch` vectors laid out back to back in `x` (each `cols` long).
/// Sums are taken in f64 over the exact stored weights.
pub fn gemv(w: &Matrix, x: &[f32], batch: usize) -> Result<Vec<f32>> {
    let (rows, cols) = (w.rows(), w.cols());
    if x.len() != batch * cols {
        return Err(Error::InvalidArgument(format!("x has {} values, expected {batch} x {cols}", x.len())));
    }
    let dense = w.to_f32();
    let mut y = vec![0f32; batch * rows];
    y.par_chunks_mut(rows).enumerate().for_each(|(b, yb)| {
        let xb = &x[b * cols..(b + 1) * cols];
        for (r, out) in yb.iter_mut().enumerate() {
            let row = &dense[r * cols..(r + 1) * cols];
            *out = row.iter().zip(xb).map(|(&a, &v)| f64::from(a) * f64::from(v)).sum::<f64>() as f32;
        }
    });
    Ok(y)
}

/// Dequantization: the matrix as row-major f32 (the reference of the dequant kernel).
pub fn dequant(w: &Matrix) -> Vec<f32> {
    w.to_f32()
}

/// Relative L2 error `|a - b| / |b|` (0 when both are zero).
pub fn rel_err(a: &[f32], reference: &[f32]) -> f64 {
    let (mut num, mut den) = (0f64, 0f64);
    for (&x, &r) in a.iter().zip(reference) {
        num += (f64::from(x) - f64::from(r)).powi(2);
        den += f64::from(r).powi(2);
    }
    if den == 0.0 { num.sqrt() } else { (num / den).sqrt() }
}

/// Largest absolute difference (NaN anywhere gives NaN, so it never passes a bound).
pub fn max_abs_err(a: &[f32], reference: &[f32]) -> f64 {
    a.iter()
        .zip(reference)
        .map(|(&x, &r)| (f64::from(x) - f64::from(r)).abs())
        .fold(0.0, |m, e| if e.is_nan() || m.is_nan() { f64::NAN } else { m.max(e) })
}
