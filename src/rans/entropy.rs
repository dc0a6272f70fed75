//! Symbol histograms and Shannon entropy.

use rayon::prelude::*;

/// Inputs at least this long are counted in parallel.
const PAR_MIN: usize = 1 << 20;

/// Counts the occurrences of each byte value.
pub fn histogram(symbols: &[u8]) -> [u64; 256] {
    if symbols.len() < PAR_MIN {
        return histogram_serial(symbols);
    }
    symbols.par_chunks(PAR_MIN).map(histogram_serial).reduce(
        || [0; 256],
        |mut a, b| {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
            a
        },
    )
}

fn histogram_serial(symbols: &[u8]) -> [u64; 256] {
    // Four sub-histograms break the store-to-load dependency on runs of equal symbols.
    let mut h = [[0u64; 256]; 4];
    let mut chunks = symbols.chunks_exact(4);
    for c in &mut chunks {
        h[0][c[0] as usize] += 1;
        h[1][c[1] as usize] += 1;
        h[2][c[2] as usize] += 1;
        h[3][c[3] as usize] += 1;
    }
    for &s in chunks.remainder() {
        h[0][s as usize] += 1;
    }
    std::array::from_fn(|i| h[0][i] + h[1][i] + h[2][i] + h[3][i])
}

/// Shannon entropy of a histogram in bits per symbol (0 for an empty histogram).
pub fn entropy_bits(hist: &[u64]) -> f64 {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let n = total as f64;
    -hist.iter().filter(|&&c| c > 0).map(|&c| (c as f64 / n) * (c as f64 / n).log2()).sum::<f64>()
}
