//! A small, fast, seedable generator for test and benchmark data (not cryptographic).

/// SplitMix64: every seed gives an independent, reproducible stream.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator with a fixed seed (reproducible data).
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// A generator seeded from the clock (fresh data on every run); returns the seed so a
    /// failure can be reproduced.
    pub fn fresh() -> (Self, u64) {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5EED)
            ^ u64::from(std::process::id()).rotate_left(32);
        (Rng(seed), seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = (self.uniform() as f64).max(1e-12);
        let u2 = self.uniform() as f64;
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// `n` values like trained weights: normal with standard deviation `std`, plus a few
    /// outliers ten times larger (heavy tails matter for quantization).
    pub fn weights(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let v = self.normal() * std;
                if self.below(200) == 0 { v * 10.0 } else { v }
            })
            .collect()
    }

    /// `n` values uniform in [-1, 1).
    pub fn signed(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| 2.0 * self.uniform() - 1.0).collect()
    }
}
