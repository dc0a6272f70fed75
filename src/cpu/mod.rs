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

/// The natural error scale of each output of `W x`: `sum_c |w_rc| |x_c|`, where for affine codes
/// `|w|` is taken as `|scale * q| + |bias|` (kernels use the affine identity, so rounding scales
/// with both terms even when they cancel). A kernel's error divided by this is what floating
/// point can promise, whatever cancellation the exact result suffers.
pub fn gemv_error_scale(w: &Matrix, x: &[f32], batch: usize) -> Result<Vec<f32>> {
    let (rows, cols) = (w.rows(), w.cols());
    if x.len() != batch * cols {
        return Err(Error::InvalidArgument(format!("x has {} values, expected {batch} x {cols}", x.len())));
    }
    let mag: Vec<f32> = match w {
        Matrix::Affine(q) => {
            let g = q.groups_per_row();
            let gs = q.spec.group_size as usize;
            (0..rows * cols)
                .map(|i| {
                    let (r, c) = (i / cols, i % cols);
                    let k = r * g + c / gs;
                    (q.scales[k].to_f32() * f32::from(q.code(r, c))).abs() + q.biases[k].to_f32().abs()
                })
                .collect()
        }
        _ => w.to_f32().iter().map(|v| v.abs()).collect(),
    };
    let mut s = vec![0f32; batch * rows];
    s.par_chunks_mut(rows).enumerate().for_each(|(b, sb)| {
        let xb = &x[b * cols..(b + 1) * cols];
        for (r, out) in sb.iter_mut().enumerate() {
            *out = mag[r * cols..(r + 1) * cols]
                .iter()
                .zip(xb)
                .map(|(&a, &v)| f64::from(a) * f64::from(v.abs()))
                .sum::<f64>() as f32;
        }
    });
    Ok(s)
}

/// Largest `|a - reference| / scale` over outputs (NaN anywhere gives NaN).
pub fn max_scaled_err(a: &[f32], reference: &[f32], scale: &[f32]) -> f64 {
    a.iter().zip(reference).zip(scale).fold(0.0, |m: f64, ((&x, &r), &s)| {
        let e = (f64::from(x) - f64::from(r)).abs() / f64::from(s).max(f64::MIN_POSITIVE);
        if e.is_nan() || m.is_nan() { f64::NAN } else { m.max(e) }
    })
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

/// Quantizes one chunk of inputs as the dot8 GEMV path does: `x_q = round(x * 127 / max|x|)`
/// (ties to even), step `d = max|x| / 127`. Returns `(x_q, d)`. The GPU's division may differ
/// in the last ulp, which can flip a rounding exactly at a tie: tests bound the result with
/// that in mind.
pub fn quantize_chunk_int8(x: &[f32]) -> (Vec<i8>, f32) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let inv_d = if amax > 0.0 { 127.0 / amax } else { 0.0 };
    let q = x.iter().map(|&v| (v * inv_d).round_ties_even().clamp(-127.0, 127.0) as i8).collect();
    (q, amax / 127.0)
}

/// Reference of the dot8 GEMV path: inputs quantized per `chunk` columns with
/// [`quantize_chunk_int8`] for the `scale * q` term, the exact inputs for the `bias` term.
/// Returns `(y, error scale)`; only affine matrices have this path.
pub fn gemv_int8_inputs(w: &Matrix, x: &[f32], batch: usize, chunk: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    let Matrix::Affine(q) = w else {
        return Err(Error::InvalidArgument(format!("the int8-input GEMV needs affine codes, not {}", w.format())));
    };
    let (rows, cols) = (q.rows, q.cols);
    if x.len() != batch * cols {
        return Err(Error::InvalidArgument(format!("x has {} values, expected {batch} x {cols}", x.len())));
    }
    // x as the kernel sees it: d * x_q, chunk by chunk.
    let mut xq = vec![0f32; x.len()];
    for b in 0..batch {
        for c0 in (0..cols).step_by(chunk) {
            let n = chunk.min(cols - c0);
            let (qs, d) = quantize_chunk_int8(&x[b * cols + c0..b * cols + c0 + n]);
            for (i, v) in qs.into_iter().enumerate() {
                xq[b * cols + c0 + i] = f32::from(v) * d;
            }
        }
    }
    let g = q.groups_per_row();
    let gs = q.spec.group_size as usize;
    let mut y = vec![0f32; batch * rows];
    let mut scale = vec![0f32; batch * rows];
    y.par_chunks_mut(rows).zip(scale.par_chunks_mut(rows)).enumerate().for_each(|(b, (yb, sb))| {
        for r in 0..rows {
            let (mut acc, mut mag) = (0f64, 0f64);
            for c in 0..cols {
                let k = r * g + c / gs;
                let sq = f64::from(q.scales[k].to_f32()) * f64::from(q.code(r, c));
                let bias = f64::from(q.biases[k].to_f32());
                let (xa, xb) = (f64::from(xq[b * cols + c]), f64::from(x[b * cols + c]));
                acc += sq * xa + bias * xb;
                mag += (sq * xa).abs() + (bias * xb).abs();
            }
            yb[r] = acc as f32;
            sb[r] = mag as f32;
        }
    });
    Ok((y, scale))
}
