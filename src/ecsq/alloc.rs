//! Per-model mode: one bit budget for many tensors, spent where it lowers the total error most.
//!
//! At the operating point every tensor's `D(R)` has slope `-2 ln2 D_t`, `D_t = step_t^2 / 12`
//! per weight (module docs of [`crate::ecsq`]). The total error at a total rate is smallest when
//! the slopes are equal, i.e. with one step for all tensors ([`Objective::Absolute`]: the sum of
//! squared weight errors) or one step per unit of RMS ([`Objective::Relative`]: the sum of each
//! tensor's error relative to its own energy, `sum_t D_t / S_t`, which weighs every tensor's SQNR
//! alike). The common step is bisected on `log2` until the total stored size meets the budget.

use super::quantize::{Input, Quantized, sqnr, trial};
use super::{EcsqParams, MAX_STEP};
use crate::{Error, Result};

/// What the allocation minimizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Objective {
    /// The sum of squared weight errors over all tensors (one step everywhere).
    #[default]
    Absolute,
    /// The sum of relative errors `sum_t err_t / signal_t` (steps proportional to each tensor's
    /// RMS).
    Relative,
}

/// The result of [`allocate`].
#[derive(Clone, Debug, PartialEq)]
pub struct Allocation {
    /// One quantized tensor per input, in order.
    pub tensors: Vec<Quantized>,
    /// Stored bits per weight over all tensors (everything counted).
    pub bits_per_weight: f64,
    /// Total signal over total squared error, in dB.
    pub sqnr_db: f64,
}

/// Quantizes `inputs` with at most `target_bpw` bits per weight in total, minimizing `objective`.
pub fn allocate(
    inputs: &[Input<'_>],
    target_bpw: f64,
    objective: Objective,
    params: &EcsqParams,
) -> Result<Allocation> {
    if inputs.is_empty() || !(target_bpw.is_finite() && target_bpw > 0.0) {
        return Err(Error::InvalidArgument(format!(
            "ECSQ allocation of {target_bpw} bits per weight over {} tensors",
            inputs.len()
        )));
    }
    let n: f64 = inputs.iter().map(|i| i.data().len() as f64).sum();
    let scale = |i: &Input<'_>| match objective {
        Objective::Absolute => 1.0,
        Objective::Relative => i.rms().max(1e-30),
    };
    let step = |u: f64, i: &Input<'_>| (2f64.powf(u) * scale(i)).clamp(1e-7, f64::from(MAX_STEP)) as f32;
    let bits = |u: f64| -> Result<f64> {
        let mut b = 0.0;
        for i in inputs {
            b += 8.0 * trial(i, step(u, i), params)?.estimated_bytes(i)?;
        }
        Ok(b / n)
    };
    // Bits fall as the step grows: bisect log2 of the common step.
    let (mut lo, mut hi) = (-24.0f64, 9.0f64);
    if bits(hi)? > target_bpw {
        return Err(Error::InvalidArgument(format!("no common step reaches {target_bpw} bits per weight")));
    }
    for _ in 0..28 {
        let mid = 0.5 * (lo + hi);
        if bits(mid)? > target_bpw {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 2e-3 {
            break;
        }
    }
    // The size estimate is within a fraction of a percent: nudge the step until the exact size fits.
    let mut u = hi;
    for _ in 0..40 {
        let tensors =
            inputs.iter().map(|i| trial(i, step(u, i), params)?.finish(i)).collect::<Result<Vec<Quantized>>>()?;
        let stored: f64 = tensors.iter().map(|q| q.matrix.stored_bytes() as f64 * 8.0).sum();
        if stored / n <= target_bpw {
            let signal: f64 = inputs.iter().map(|i| i.signal()).sum();
            let err: f64 = tensors.iter().map(|q| q.weighted_error).sum();
            return Ok(Allocation { tensors, bits_per_weight: stored / n, sqnr_db: sqnr(signal, err) });
        }
        u += 0.004;
    }
    Err(Error::InvalidArgument(format!("ECSQ allocation: no step reaches {target_bpw} bits per weight")))
}
