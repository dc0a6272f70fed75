//! Small, generic statistics used across ecq: moments (with Pearson kurtosis), Shannon entropy of
//! histograms, and the energy rank of a spectrum. Sums are taken in f64.

use std::collections::HashMap;
use std::hash::Hash;

/// The first four moments of a sample.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Moments {
    /// Number of values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    /// Skewness, `E[(x-mean)^3] / std^3` (0 for symmetric distributions).
    pub skewness: f64,
    /// Pearson kurtosis, `E[(x-mean)^4] / std^4`: 3 for a Gaussian, 1.8 for a uniform, 6 for a
    /// Laplace distribution. Not the excess kurtosis. NaN when the sample is constant or empty.
    pub kurtosis: f64,
}

/// Moments of `values` (two passes, f64 accumulation).
pub fn moments(values: &[f32]) -> Moments {
    let n = values.len();
    if n == 0 {
        return Moments { n, mean: f64::NAN, std: f64::NAN, skewness: f64::NAN, kurtosis: f64::NAN };
    }
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let (mut m2, mut m3, mut m4) = (0f64, 0f64, 0f64);
    for &v in values {
        let d = f64::from(v) - mean;
        let d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
    }
    let (m2, m3, m4) = (m2 / n as f64, m3 / n as f64, m4 / n as f64);
    let std = m2.sqrt();
    let (skewness, kurtosis) = if m2 > 0.0 { (m3 / (m2 * std), m4 / (m2 * m2)) } else { (f64::NAN, f64::NAN) };
    Moments { n, mean, std, skewness, kurtosis }
}

/// Shannon entropy in bits per symbol of a histogram given as counts (zero counts are ignored;
/// 0 for an empty histogram).
pub fn entropy_bits_from_counts(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let t = total as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| -(c as f64 / t) * (c as f64 / t).log2()).sum::<f64>().max(0.0)
}

/// Shannon entropy in bits per symbol of byte-sized symbols (codes of up to 8 bits).
pub fn entropy_bits_u8(symbols: &[u8]) -> f64 {
    let mut counts = [0u64; 256];
    for &s in symbols {
        counts[usize::from(s)] += 1;
    }
    entropy_bits_from_counts(&counts)
}

/// Shannon entropy in bits per symbol of any hashable symbols (indices, wide codes).
pub fn entropy_bits_of<T: Hash + Eq>(symbols: impl IntoIterator<Item = T>) -> f64 {
    let mut counts: HashMap<T, u64> = HashMap::new();
    for s in symbols {
        *counts.entry(s).or_default() += 1;
    }
    entropy_bits_from_counts(&counts.into_values().collect::<Vec<_>>())
}

/// The number of leading values of a spectrum (singular values, sorted descending) whose squares
/// hold at least `fraction` of the total energy `sum s^2`. 0 for an all-zero spectrum.
pub fn energy_rank(singular_values: &[f64], fraction: f64) -> usize {
    let total: f64 = singular_values.iter().map(|s| s * s).sum();
    if total <= 0.0 {
        return 0;
    }
    let mut acc = 0.0;
    for (i, s) in singular_values.iter().enumerate() {
        acc += s * s;
        if acc >= fraction * total {
            return i + 1;
        }
    }
    singular_values.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn kurtosis_of_known_distributions() {
        let mut rng = Rng::new(11);
        let n = 400_000;
        let gauss: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
        let uniform = rng.signed(n);
        // Laplace as the difference of two exponentials.
        let laplace: Vec<f32> = (0..n)
            .map(|_| {
                let e = |u: f32| -(1.0 - u).max(1e-12).ln();
                e(rng.uniform()) - e(rng.uniform())
            })
            .collect();
        let (g, u, l) = (moments(&gauss), moments(&uniform), moments(&laplace));
        assert!((g.kurtosis - 3.0).abs() < 0.05, "gaussian {}", g.kurtosis);
        assert!((u.kurtosis - 1.8).abs() < 0.02, "uniform {}", u.kurtosis);
        assert!((l.kurtosis - 6.0).abs() < 0.3, "laplace {}", l.kurtosis);
        assert!(g.mean.abs() < 0.01 && (g.std - 1.0).abs() < 0.01 && g.skewness.abs() < 0.02);
        assert!((u.std - (1.0f64 / 3.0).sqrt()).abs() < 0.01);
    }

    #[test]
    fn kurtosis_of_two_points_is_one_and_constant_is_nan() {
        let m = moments(&[-2.0, 2.0, -2.0, 2.0]);
        assert!((m.kurtosis - 1.0).abs() < 1e-12 && m.skewness.abs() < 1e-12 && (m.std - 2.0).abs() < 1e-12);
        assert!(moments(&[0.5; 10]).kurtosis.is_nan());
        assert!(moments(&[]).mean.is_nan());
    }

    #[test]
    fn entropy_of_known_histograms() {
        assert_eq!(entropy_bits_from_counts(&[]), 0.0);
        assert_eq!(entropy_bits_from_counts(&[7, 0]), 0.0);
        assert!((entropy_bits_from_counts(&[5, 5, 5, 5]) - 2.0).abs() < 1e-12);
        let h = entropy_bits_from_counts(&[1, 3]);
        assert!((h - 0.811_278_124_459_132_9).abs() < 1e-12, "{h}");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(256 * 10).collect();
        assert!((entropy_bits_u8(&bytes) - 8.0).abs() < 1e-12);
        assert!((entropy_bits_of([10u32, 20, 10, 20, 30, 40, 30, 40]) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn energy_rank_counts_leading_energy() {
        assert_eq!(energy_rank(&[3.0, 1.0, 1.0, 1.0], 0.75), 1); // 9 of 12
        assert_eq!(energy_rank(&[3.0, 1.0, 1.0, 1.0], 0.9), 3);
        assert_eq!(energy_rank(&[1.0; 10], 0.9), 9);
        assert_eq!(energy_rank(&[0.0; 4], 0.9), 0);
    }
}
