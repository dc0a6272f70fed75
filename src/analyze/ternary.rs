//! Ternary body plus f16 outliers ("predator-prey"): the `p%` weights of largest magnitude are
//! kept in f16 with their positions; every other weight becomes `alpha * t`, `t` in
//! {-1, 0, +1}, with one f16 `alpha` per block of 64. Within a block the MSE-optimal ternary
//! code keeps the `j` largest magnitudes (the `j` maximizing `(sum of them)^2 / j`) at
//! `alpha = their mean`. Trits are counted at 1.6 bits (5 per byte).

use rayon::prelude::*;

use super::{Approx, F16_BITS, Method, Setting, Tensor, f16_round, position_bits, top_k_indices};
use crate::stats;
use crate::{Error, Result};

/// Ternary body with f16 outliers.
pub struct TernaryOutliers;

/// Weights per block scale.
pub const BLOCK: usize = 64;
/// Bits per stored trit (5 trits per byte).
pub const TRIT_BITS: f64 = 1.6;
/// Outlier fractions evaluated.
const FRACTIONS: [f64; 5] = [0.0, 0.005, 0.01, 0.02, 0.05];

/// MSE-optimal ternary code of one block: returns `alpha` (f16-rounded) and writes the trits
/// (-1, 0, +1) into `t`. Weights flagged in `skip` (outliers) are coded as 0 and not fitted.
pub fn ternary_block(w: &[f32], skip: &[bool], t: &mut [i8]) -> f32 {
    let mut order: Vec<usize> = (0..w.len()).filter(|&i| !skip[i]).collect();
    order.sort_by(|&a, &b| w[b].abs().total_cmp(&w[a].abs()));
    let (mut sum, mut best, mut best_j) = (0f64, 0f64, 0usize);
    for (j, &i) in order.iter().enumerate() {
        sum += f64::from(w[i].abs());
        let gain = sum * sum / (j + 1) as f64;
        if gain > best {
            (best, best_j) = (gain, j + 1);
        }
    }
    t.iter_mut().for_each(|v| *v = 0);
    if best_j == 0 {
        return 0.0;
    }
    let alpha = order[..best_j].iter().map(|&i| f64::from(w[i].abs())).sum::<f64>() / best_j as f64;
    for &i in &order[..best_j] {
        t[i] = if w[i] > 0.0 { 1 } else { -1 };
    }
    f16_round(alpha as f32)
}

impl Method for TernaryOutliers {
    fn name(&self) -> &'static str {
        "ternary+outliers"
    }

    fn description(&self) -> &'static str {
        "top p% weights in f16 + positions, the rest {-1,0,+1} x f16 scale per 64"
    }

    fn settings(&self, _rows: usize, _cols: usize) -> Vec<Setting> {
        FRACTIONS.iter().map(|&p| Setting::new(format!("p={}%", p * 100.0), p, 0)).collect()
    }

    fn compress(&self, t: &Tensor, setting: &Setting) -> Result<Approx> {
        let p = setting.value;
        if !(0.0..1.0).contains(&p) {
            return Err(Error::InvalidArgument(format!("ternary outlier fraction {p}")));
        }
        let n_out = (p * t.len() as f64).round() as usize;
        let mut skip = vec![false; t.len()];
        for i in top_k_indices(&t.data, n_out) {
            skip[i] = true;
        }
        let mut recon = vec![0f32; t.len()];
        let mut trits = vec![0i8; t.len()];
        recon.par_chunks_mut(t.cols).zip(trits.par_chunks_mut(t.cols)).enumerate().for_each(|(r, (out, tr))| {
            let row = &t.data[r * t.cols..(r + 1) * t.cols];
            let sk = &skip[r * t.cols..(r + 1) * t.cols];
            for (((w, s), o), q) in
                row.chunks(BLOCK).zip(sk.chunks(BLOCK)).zip(out.chunks_mut(BLOCK)).zip(tr.chunks_mut(BLOCK))
            {
                let alpha = ternary_block(w, s, q);
                for (i, v) in o.iter_mut().enumerate() {
                    *v = if s[i] { f16_round(w[i]) } else { alpha * f32::from(q[i]) };
                }
            }
        });
        let blocks = t.rows * t.cols.div_ceil(BLOCK);
        let entropy = stats::entropy_bits_u8(&trits.iter().map(|&v| (v + 1) as u8).collect::<Vec<_>>());
        Ok(Approx {
            reconstruction: recon,
            bits: t.len() as f64 * TRIT_BITS
                + blocks as f64 * F16_BITS
                + n_out as f64 * F16_BITS
                + if n_out > 0 { position_bits(n_out, t.rows, t.cols) } else { 0.0 },
            detail: format!("{n_out} f16 outliers, trits at 1.6 bits, f16 scale per {BLOCK}"),
            code_entropy_bits: Some(entropy),
        })
    }
}
