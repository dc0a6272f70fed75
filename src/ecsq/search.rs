//! The step search for a rate or a quality target: bracketing, then regula falsi (Illinois) on
//! `log2(step)`, where rate and SQNR are close to linear. Sizes are estimated during the search
//! and exact at the end.

use super::quantize::{Input, Quantized, Trial, trial};
use super::{EcsqParams, MAX_STEP};
use crate::{Error, Result};

/// `log2` of the smallest positive f16 (a subnormal).
const U_MIN: f64 = -24.0;
/// Regula falsi iterations after bracketing.
const MAX_ITERS: usize = 14;

/// What the search aims at; `g >= 0` is feasible and `g` is monotone in `log2(step)`.
#[derive(Clone, Copy, Debug)]
enum Goal {
    /// At most this many bits per weight (`g = target - bpw`, increasing in the step).
    Bits(f64),
    /// At least this SQNR in dB (`g = sqnr - target`, decreasing in the step).
    Sqnr(f64),
}

impl Goal {
    fn g(&self, input: &Input<'_>, t: &Trial) -> Result<f64> {
        Ok(match *self {
            Goal::Bits(b) => b - 8.0 * t.estimated_bytes(input)? / input.data().len() as f64,
            Goal::Sqnr(s) => t.sqnr_db(input) - s,
        })
    }

    /// +1 when a larger step raises `g`.
    fn direction(&self) -> f64 {
        match self {
            Goal::Bits(_) => 1.0,
            Goal::Sqnr(_) => -1.0,
        }
    }

    /// Close enough to the boundary to stop.
    fn done(&self, g: f64) -> bool {
        match self {
            Goal::Bits(_) => g < 0.002,
            Goal::Sqnr(_) => g < 0.005,
        }
    }
}

pub(super) fn to_bits(input: &Input<'_>, target: f64, params: &EcsqParams) -> Result<Quantized> {
    if !(target.is_finite() && target > 0.0) {
        return Err(Error::InvalidArgument(format!("ECSQ target of {target} bits per weight")));
    }
    let best = solve(input, params, Goal::Bits(target))?;
    let mut q = best.1.finish(input)?;
    // The estimate is within a fraction of a percent: nudge the step up until the exact size fits.
    let mut u = best.0;
    for _ in 0..40 {
        if q.bits_per_weight() <= target {
            return Ok(q);
        }
        u += 0.004;
        q = trial(input, step_of(u), params)?.finish(input)?;
    }
    Err(Error::tensor(input.name(), format!("ECSQ: no step reaches {target} bits per weight")))
}

pub(super) fn to_sqnr(input: &Input<'_>, target_db: f64, params: &EcsqParams) -> Result<Quantized> {
    if target_db.is_nan() {
        return Err(Error::InvalidArgument("ECSQ SQNR target is NaN".into()));
    }
    solve(input, params, Goal::Sqnr(target_db))?.1.finish(input)
}

fn step_of(u: f64) -> f32 {
    2f64.powf(u) as f32
}

/// A first guess of `log2(step)` from the high-rate theory of a Gaussian source: rate
/// `h - log2(step)` with `h = log2(rms) + 2.05`, MSE `step^2 / 12`.
fn first_guess(input: &Input<'_>, goal: Goal) -> f64 {
    let rms = input.rms();
    let l = if rms > 0.0 { rms.log2() } else { 0.0 };
    let u = match goal {
        Goal::Bits(b) => l + 2.05 - b,
        Goal::Sqnr(s) => l + 12f64.sqrt().log2() - s / 6.02,
    };
    u.clamp(U_MIN, f64::from(MAX_STEP).log2())
}

/// The feasible trial nearest the boundary, with its `log2(step)`.
fn solve(input: &Input<'_>, params: &EcsqParams, goal: Goal) -> Result<(f64, Trial)> {
    let u_max = f64::from(MAX_STEP).log2();
    let eval = |u: f64| -> Result<(f64, Trial)> {
        let t = trial(input, step_of(u), params)?;
        Ok((goal.g(input, &t)?, t))
    };
    let dir = goal.direction();
    let mut u = first_guess(input, goal);
    let (mut g, mut t) = eval(u)?;
    // Bracket: walk by factors of 2 until g changes sign, within the f16 step range.
    let (mut feas, mut infeas): ((f64, f64, Trial), (f64, f64));
    if g >= 0.0 {
        let mut last = (u, g, t);
        loop {
            let nu = (last.0 - dir).clamp(U_MIN, u_max);
            if nu == last.0 {
                return Ok((last.0, last.2));
            }
            let (ng, nt) = eval(nu)?;
            if ng < 0.0 {
                feas = last;
                infeas = (nu, ng);
                break;
            }
            last = (nu, ng, nt);
        }
    } else {
        loop {
            let nu = (u + dir).clamp(U_MIN, u_max);
            if nu == u {
                return Err(Error::tensor(input.name(), format!("ECSQ: no step reaches the target ({goal:?})")));
            }
            let (ng, nt) = eval(nu)?;
            if ng >= 0.0 {
                feas = (nu, ng, nt);
                infeas = (u, g);
                break;
            }
            (u, g, t) = (nu, ng, nt);
        }
        drop(t);
    }
    // Illinois: regula falsi that halves the weight of an end that stays put.
    let (mut wf, mut wi) = (1.0, 1.0);
    for _ in 0..MAX_ITERS {
        if goal.done(feas.1) || (feas.0 - infeas.0).abs() < 1e-3 {
            break;
        }
        let (gf, gi) = (feas.1 * wf, infeas.1 * wi);
        let nu = feas.0 - gf * (infeas.0 - feas.0) / (gi - gf);
        let nu = if nu.is_finite() { nu } else { 0.5 * (feas.0 + infeas.0) };
        let (ng, nt) = eval(nu)?;
        if ng >= 0.0 {
            feas = (nu, ng, nt);
            wi *= 0.5;
            wf = 1.0;
        } else {
            infeas = (nu, ng);
            wf *= 0.5;
            wi = 1.0;
        }
    }
    Ok((feas.0, feas.2))
}
