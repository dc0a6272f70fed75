//! Polynomial inverse-CDF quantization: each group of 64 weights is scaled by its absolute
//! maximum (f16), and the normalized weights are coded with `2^b` levels placed at equal
//! probability steps of a cubic fitted to the tensor's quantile function,
//! `L_k = P(z_k)`, `z_k = 2 (k + 1/2) / 2^b - 1` (P fitted by least squares on `z = 2p - 1`).
//! Stored: b-bit codes, one f16 scale per group, 4 f32 coefficients per tensor.

use faer::Mat;
use faer::prelude::*;
use rayon::prelude::*;

use super::{Approx, Method, Setting, Tensor, f16_round};
use crate::stats;
use crate::{Error, Result};

/// Quantization levels from a cubic fit of the quantile function.
pub struct PolyIcdf;

/// Weights per scale group.
pub const GROUP: usize = 64;
/// Quantile points used for the fit.
const FIT_POINTS: usize = 1024;
/// Most normalized weights sorted to estimate the quantile function (a strided sample).
const SAMPLE: usize = 1 << 20;

/// The least-squares cubic `c0 + c1 z + c2 z^2 + c3 z^3` through the quantile function of
/// `values` (sorted in place), with `z = 2p - 1`.
pub fn fit_quantile_cubic(values: &mut [f32]) -> Result<[f64; 4]> {
    if values.is_empty() {
        return Err(Error::InvalidArgument("quantile fit of no values".into()));
    }
    values.sort_by(f32::total_cmp);
    let n = values.len();
    let z = |i: usize| 2.0 * (i as f64 + 0.5) / FIT_POINTS as f64 - 1.0;
    let a = Mat::<f64>::from_fn(FIT_POINTS, 4, |i, k| z(i).powi(k as i32));
    let b = Mat::<f64>::from_fn(FIT_POINTS, 1, |i, _| {
        let p = (i as f64 + 0.5) / FIT_POINTS as f64;
        f64::from(values[((p * n as f64) as usize).min(n - 1)])
    });
    let c = a.qr().solve_lstsq(&b);
    Ok([c[(0, 0)], c[(1, 0)], c[(2, 0)], c[(3, 0)]])
}

/// The `2^bits` levels of a fitted cubic, sorted ascending (f32, as stored coefficients give).
pub fn levels(c: &[f64; 4], bits: u32) -> Vec<f32> {
    let k = 1usize << bits;
    let mut l: Vec<f32> = (0..k)
        .map(|i| {
            let z = 2.0 * (i as f64 + 0.5) / k as f64 - 1.0;
            (c[0] + z * (c[1] + z * (c[2] + z * c[3]))) as f32
        })
        .collect();
    l.sort_by(f32::total_cmp);
    l
}

/// Index of the level nearest to `v` (levels sorted).
pub fn nearest(levels: &[f32], v: f32) -> usize {
    let i = levels.partition_point(|&l| l < v);
    if i == 0 {
        0
    } else if i == levels.len() || v - levels[i - 1] <= levels[i] - v {
        i - 1
    } else {
        i
    }
}

fn group_scales(t: &Tensor) -> Vec<f32> {
    t.data
        .par_chunks(t.cols)
        .flat_map_iter(|row| row.chunks(GROUP).map(|g| f16_round(g.iter().fold(0f32, |m, v| m.max(v.abs())))))
        .collect()
}

impl Method for PolyIcdf {
    fn name(&self) -> &'static str {
        "polyicdf"
    }

    fn description(&self) -> &'static str {
        "b-bit codes on levels from a cubic fit of the quantile function, f16 absmax scale per 64"
    }

    fn settings(&self, _rows: usize, _cols: usize) -> Vec<Setting> {
        (2..=5).map(|b| Setting::new(format!("{b}b g{GROUP}"), GROUP as f64, b)).collect()
    }

    fn compress(&self, t: &Tensor, setting: &Setting) -> Result<Approx> {
        let bits = setting.aux as u32;
        if !(1..=8).contains(&bits) {
            return Err(Error::InvalidArgument(format!("polyicdf: {bits} bits (1-8)")));
        }
        let gpr = t.cols.div_ceil(GROUP);
        let scales = t.cached("polyicdf_scales", || Ok(group_scales(t)))?;
        let scale_of = |i: usize| scales[(i / t.cols) * gpr + (i % t.cols) / GROUP];
        let coef = t.cached("polyicdf_cubic", || {
            let stride = t.len().div_ceil(SAMPLE).max(1);
            let mut sample: Vec<f32> =
                (0..t.len()).step_by(stride).filter(|&i| scale_of(i) > 0.0).map(|i| t.data[i] / scale_of(i)).collect();
            if sample.is_empty() {
                sample.push(0.0);
            }
            fit_quantile_cubic(&mut sample)
        })?;
        let coef = coef.map(|c| f64::from(c as f32)); // stored as f32
        let lv = levels(&coef, bits);
        let codes: Vec<u8> = t
            .data
            .par_iter()
            .enumerate()
            .map(|(i, &w)| {
                let s = scale_of(i);
                nearest(&lv, if s > 0.0 { w / s } else { 0.0 }) as u8
            })
            .collect();
        let reconstruction = codes.par_iter().enumerate().map(|(i, &q)| scale_of(i) * lv[usize::from(q)]).collect();
        Ok(Approx {
            reconstruction,
            bits: (t.rows * gpr * GROUP) as f64 * f64::from(bits) + (t.rows * gpr) as f64 * 16.0 + 4.0 * 32.0,
            detail: format!(
                "{bits}-bit codes, levels {:.3}..{:.3} of absmax, f16 scale per {GROUP}",
                lv[0],
                lv[lv.len() - 1]
            ),
            code_entropy_bits: Some(stats::entropy_bits_u8(&codes)),
        })
    }
}
