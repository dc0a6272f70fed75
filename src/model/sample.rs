//! Choosing the next token from logits: greedy, or temperature with nucleus (top-p) sampling.

use crate::rng::Rng;
use crate::{Error, Result};

/// How the next token is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    /// The most likely token (the lowest id among equals): deterministic.
    Greedy,
    /// Softmax of `logits / temperature`, restricted to the smallest set of most likely tokens
    /// whose probability reaches `top_p`, sampled with a generator seeded by `seed`.
    Temperature {
        /// Above 0; 1 is the model's own distribution.
        temperature: f32,
        /// In (0, 1]; 1 keeps every token.
        top_p: f32,
        /// Seed of the random generator (same seed and logits, same tokens).
        seed: u64,
    },
}

impl Sampling {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if let Sampling::Temperature { temperature, top_p, .. } = *self {
            if !(temperature.is_finite() && temperature > 0.0) {
                return Err(Error::InvalidArgument(format!("temperature {temperature} must be above 0")));
            }
            if !(top_p > 0.0 && top_p <= 1.0) {
                return Err(Error::InvalidArgument(format!("top-p {top_p} must be in (0, 1]")));
            }
        }
        Ok(())
    }
}

/// A sampler: the mode and its random state.
#[derive(Clone, Debug)]
pub struct Sampler {
    mode: Sampling,
    rng: Rng,
}

impl Sampler {
    /// A sampler for `mode` (checked).
    pub fn new(mode: Sampling) -> Result<Self> {
        mode.validate()?;
        let seed = match mode {
            Sampling::Temperature { seed, .. } => seed,
            Sampling::Greedy => 0,
        };
        Ok(Sampler { mode, rng: Rng::new(seed) })
    }

    /// The mode.
    pub fn mode(&self) -> Sampling {
        self.mode
    }

    /// Picks a token from `logits`.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let Sampling::Temperature { temperature, top_p, .. } = self.mode else {
            return crate::cpu::argmax(logits);
        };
        let m = logits.iter().copied().filter(|v| !v.is_nan()).fold(f32::NEG_INFINITY, f32::max);
        if !m.is_finite() {
            return crate::cpu::argmax(logits);
        }
        let mut p: Vec<(f32, u32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .map(|(i, &v)| (((v - m) / temperature).exp(), i as u32))
            .collect();
        p.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let total: f64 = p.iter().map(|x| f64::from(x.0)).sum();
        let mut keep = 0;
        let mut acc = 0f64;
        while keep < p.len() {
            acc += f64::from(p[keep].0);
            keep += 1;
            if acc >= f64::from(top_p) * total {
                break;
            }
        }
        let mut r = f64::from(self.rng.uniform()) * acc;
        for &(w, id) in &p[..keep] {
            r -= f64::from(w);
            if r < 0.0 {
                return id;
            }
        }
        p[keep - 1].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_is_argmax() {
        let mut s = Sampler::new(Sampling::Greedy).unwrap();
        assert_eq!(s.sample(&[0.1, 2.0, -1.0, 2.0]), 1);
    }

    #[test]
    fn temperature_follows_the_softmax() {
        let logits = [0.0f32, (2.0f32).ln(), f32::NEG_INFINITY, (5.0f32).ln()];
        let mut s = Sampler::new(Sampling::Temperature { temperature: 1.0, top_p: 1.0, seed: 7 }).unwrap();
        let mut counts = [0u32; 4];
        let n = 40_000;
        for _ in 0..n {
            counts[s.sample(&logits) as usize] += 1;
        }
        assert_eq!(counts[2], 0);
        for (i, want) in [(0, 1.0 / 8.0), (1, 2.0 / 8.0), (3, 5.0 / 8.0)] {
            let got = f64::from(counts[i]) / f64::from(n);
            // Binomial standard deviation at n = 40000 is at most 0.0025: 4 sigma.
            assert!((got - want).abs() < 0.01, "token {i}: {got} vs {want}");
        }
    }

    #[test]
    fn top_p_keeps_the_nucleus_and_seeds_repeat() {
        let logits = [0.0f32, 0.0, 5.0, 4.9];
        let mode = Sampling::Temperature { temperature: 0.7, top_p: 0.5, seed: 3 };
        let mut s = Sampler::new(mode).unwrap();
        let a: Vec<u32> = (0..200).map(|_| s.sample(&logits)).collect();
        assert!(a.iter().all(|&t| t == 2), "top-p 0.5 keeps only the best token here");
        let mode = Sampling::Temperature { temperature: 2.0, top_p: 1.0, seed: 11 };
        let (mut s1, mut s2) = (Sampler::new(mode).unwrap(), Sampler::new(mode).unwrap());
        let (a, b): (Vec<u32>, Vec<u32>) = (0..100).map(|_| (s1.sample(&logits), s2.sample(&logits))).unzip();
        assert_eq!(a, b);
        assert!(a.contains(&0) || a.contains(&1));
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(Sampler::new(Sampling::Temperature { temperature: 0.0, top_p: 1.0, seed: 0 }).is_err());
        assert!(Sampler::new(Sampling::Temperature { temperature: 1.0, top_p: 1.5, seed: 0 }).is_err());
    }
}
