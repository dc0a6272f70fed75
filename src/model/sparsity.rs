//! Activation sparsity: how many inputs of each linear layer are zero or nearly zero, measured on
//! the CPU reference pass through [`CpuModel::with_input_hook`](super::CpuModel::with_input_hook).
//!
//! "Near zero" is relative: `|x_i| < t * rms(x)` for the input vector `x` of one token, so one
//! threshold means the same across layers whose activations differ in scale by orders of
//! magnitude. A sparse-input GEMV can skip the weight columns of such inputs; with a
//! column-major weight layout the bytes it skips are the share of skipped columns.

use std::sync::{Arc, Mutex};

use super::{InputHook, LinearId, Proj};

/// Relative thresholds `t` the statistics are kept for.
pub const THRESHOLDS: [f32; 4] = [0.01, 0.05, 0.1, 0.25];

/// Counts for one projection kind, summed over layers and tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct InputStats {
    /// Inputs seen.
    pub values: u64,
    /// Inputs exactly zero.
    pub zeros: u64,
    /// Inputs with `|x| < t * rms(x)`, per [`THRESHOLDS`] entry.
    pub near_zero: [u64; THRESHOLDS.len()],
}

impl InputStats {
    /// Share of exact zeros.
    pub fn zero_share(&self) -> f64 {
        self.zeros as f64 / self.values.max(1) as f64
    }

    /// Share of inputs below threshold `THRESHOLDS[i]`.
    pub fn near_zero_share(&self, i: usize) -> f64 {
        self.near_zero[i] as f64 / self.values.max(1) as f64
    }

    fn add(&mut self, x: &[f32]) {
        let rms = (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64).sqrt();
        self.values += x.len() as u64;
        self.zeros += x.iter().filter(|&&v| v == 0.0).count() as u64;
        for (n, &t) in self.near_zero.iter_mut().zip(&THRESHOLDS) {
            let lim = f64::from(t) * rms;
            *n += x.iter().filter(|&&v| f64::from(v.abs()) < lim).count() as u64;
        }
    }
}

/// Statistics per projection kind, in [`Proj::ALL`] order.
pub type SparsityTable = [InputStats; 7];

/// A hook that accumulates [`InputStats`] into `table` (`cols` = the input width of each
/// projection, to split a batch into per-token vectors).
pub fn recording_hook<'h>(table: Arc<Mutex<SparsityTable>>, cols: [usize; 7]) -> InputHook<'h> {
    Box::new(move |id, x| {
        if let LinearId::Block { proj, .. } = id {
            let mut t = table.lock().expect("no panics while held");
            for token in x.chunks(cols[proj as usize]) {
                t[proj as usize].add(token);
            }
        }
    })
}

/// A hook that sets every input of the `projs` layers with `|x| < t * rms(x)` (per token of
/// `cols[proj]` values) to zero: what a lossy sparse-input GEMV computes.
pub fn threshold_hook<'h>(projs: Vec<Proj>, t: f32, cols: [usize; 7]) -> InputHook<'h> {
    Box::new(move |id, x| {
        if let LinearId::Block { proj, .. } = id
            && projs.contains(&proj)
        {
            for token in x.chunks_mut(cols[proj as usize]) {
                let ms = token.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / token.len() as f64;
                let lim = (f64::from(t) * ms.sqrt()) as f32;
                token.iter_mut().filter(|v| v.abs() < lim).for_each(|v| *v = 0.0);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_count_zeros_and_relative_thresholds() {
        let mut s = InputStats::default();
        // rms = sqrt((0 + 1 + 0.0001 + 4) / 4) ~ 1.118: thresholds 0.0112, 0.056, 0.112, 0.28.
        s.add(&[0.0, 1.0, 0.01, -2.0]);
        assert_eq!(s.values, 4);
        assert_eq!(s.zeros, 1);
        assert_eq!(s.near_zero, [2, 2, 2, 2]);
        s.add(&[0.1, 1.0, 1.0, 1.0]);
        assert_eq!(s.near_zero, [2, 2, 2, 3]); // rms 0.867: only 0.1 < 0.217
        assert!((s.zero_share() - 0.125).abs() < 1e-12);
    }

    #[test]
    fn threshold_hook_zeroes_small_inputs_of_chosen_layers_only() {
        let mut cols = [4; 7];
        cols[Proj::Down as usize] = 2;
        let mut h = threshold_hook(vec![Proj::Down], 0.5, cols);
        let mut x = vec![0.1, 1.0, 1.0, 0.1];
        h(LinearId::Block { layer: 0, proj: Proj::Down }, &mut x);
        assert_eq!(x, [0.0, 1.0, 1.0, 0.0]);
        let mut y = vec![0.1, 1.0, 1.0, 0.1];
        h(LinearId::Block { layer: 0, proj: Proj::Up }, &mut y);
        assert_eq!(y, [0.1, 1.0, 1.0, 0.1]);
    }
}
