//! Static frequency tables: normalization of a histogram to `2^P` and the decode tables.

use super::{MAX_PROB_BITS, MAX_SYMBOLS, MIN_PROB_BITS, RansError};

/// Probability precision used when the caller has no reason to pick another.
pub const DEFAULT_PROB_BITS: u32 = 12;

/// A static frequency table: `freq[s]` for each symbol of the alphabet `0..len`, summing to
/// `2^prob_bits`, with `cdf[s] = freq[0] + ... + freq[s-1]`.
///
/// Only constructible through validating constructors, so every `FreqTable` is well formed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreqTable {
    prob_bits: u32,
    freqs: Vec<u32>,
    /// `len + 1` entries; `cdf[len] == 2^prob_bits`.
    cdf: Vec<u32>,
}

impl FreqTable {
    /// Builds a table from explicit frequencies (symbol `s` has `freqs[s]`; zero means "never
    /// occurs"), checking the precision, the alphabet size and that the sum is `2^prob_bits`.
    pub fn new(prob_bits: u32, freqs: Vec<u32>) -> Result<Self, RansError> {
        if !(MIN_PROB_BITS..=MAX_PROB_BITS).contains(&prob_bits) {
            return Err(RansError::ProbBits(prob_bits));
        }
        if freqs.is_empty() {
            return Err(RansError::EmptyAlphabet);
        }
        if freqs.len() > MAX_SYMBOLS {
            return Err(RansError::TooManySymbols(freqs.len()));
        }
        let sum: u64 = freqs.iter().map(|&f| u64::from(f)).sum();
        if sum != 1 << prob_bits {
            return Err(RansError::FreqSum { sum, expected: 1 << prob_bits });
        }
        let mut cdf = Vec::with_capacity(freqs.len() + 1);
        let mut acc = 0;
        cdf.push(0);
        for &f in &freqs {
            acc += f;
            cdf.push(acc);
        }
        Ok(FreqTable { prob_bits, freqs, cdf })
    }

    /// Builds the table that minimizes the coded size of `hist` at precision `prob_bits`.
    ///
    /// Every symbol with a non-zero count gets a frequency of at least 1; a single occurring
    /// symbol gets all of `2^prob_bits` (and then costs nothing to code). The alphabet is
    /// `0..=last symbol that occurs`. The frequencies are exactly optimal: the cost
    /// `-sum c_s log2(f_s / 2^P)` is separable and convex in `f_s`, so rounding followed by
    /// greedy unit moves until no move lowers the cost reaches the integer optimum.
    pub fn from_histogram(hist: &[u64], prob_bits: u32) -> Result<Self, RansError> {
        if !(MIN_PROB_BITS..=MAX_PROB_BITS).contains(&prob_bits) {
            return Err(RansError::ProbBits(prob_bits));
        }
        let len = hist.iter().rposition(|&c| c > 0).ok_or(RansError::ZeroSum)? + 1;
        if len > MAX_SYMBOLS {
            return Err(RansError::TooManySymbols(len));
        }
        Self::new(prob_bits, normalize(&hist[..len], 1 << prob_bits))
    }

    /// Shorthand for [`FreqTable::from_histogram`] of the histogram of `symbols`.
    pub fn from_symbols(symbols: &[u8], prob_bits: u32) -> Result<Self, RansError> {
        Self::from_histogram(&super::histogram(symbols), prob_bits)
    }

    /// The probability precision `P`: frequencies sum to `2^P`.
    pub fn prob_bits(&self) -> u32 {
        self.prob_bits
    }

    /// Number of symbols in the alphabet (the largest codable symbol plus one).
    pub fn alphabet_len(&self) -> usize {
        self.freqs.len()
    }

    /// Frequencies, one per symbol of the alphabet.
    pub fn freqs(&self) -> &[u32] {
        &self.freqs
    }

    /// Cumulative frequencies, `alphabet_len() + 1` entries starting at 0 and ending at `2^P`.
    pub fn cdf(&self) -> &[u32] {
        &self.cdf
    }

    /// Frequency of `symbol` (0 outside the alphabet).
    pub fn freq(&self, symbol: u8) -> u32 {
        self.freqs.get(symbol as usize).copied().unwrap_or(0)
    }

    /// Entropy of the table's own distribution `freq / 2^P`, in bits per symbol: the expected
    /// payload per symbol when the data follow the table.
    pub fn entropy_bits(&self) -> f64 {
        let m = f64::from(1u32 << self.prob_bits);
        -self.freqs.iter().filter(|&&f| f > 0).map(|&f| (f64::from(f) / m) * (f64::from(f) / m).log2()).sum::<f64>()
    }

    /// Payload in bits of coding data with histogram `hist` with this table (the cross entropy
    /// times the count). Infinite when a symbol that occurs has no frequency.
    pub fn cost_bits(&self, hist: &[u64]) -> f64 {
        cost(hist, |s| self.freqs.get(s).copied().unwrap_or(0), self.prob_bits)
    }

    /// The decode table for GPUs (and the CPU decoder): `2^P` entries, one per slot, each
    /// `(cdf[s] << 20) | ((freq[s] - 1) << 8) | s` for the symbol `s` with
    /// `cdf[s] <= slot < cdf[s] + freq[s]`.
    pub fn packed_decode_table(&self) -> Vec<u32> {
        let mut t = Vec::with_capacity(1 << self.prob_bits);
        for (s, (&f, &c)) in self.freqs.iter().zip(&self.cdf).enumerate() {
            if f > 0 {
                t.extend(std::iter::repeat_n((c << 20) | ((f - 1) << 8) | s as u32, f as usize));
            }
        }
        debug_assert_eq!(t.len(), 1 << self.prob_bits);
        t
    }

    /// Compact decode table, first half: the symbol of each slot as one byte, four slots per u32
    /// (slot `k` in byte `k & 3` of word `k >> 2`, little-endian): `2^P / 4` words.
    /// Use with [`FreqTable::symbol_info`] where workgroup memory is tight.
    pub fn slot_symbols_packed(&self) -> Vec<u32> {
        self.packed_decode_table()
            .chunks_exact(4)
            .map(|c| c.iter().enumerate().fold(0, |w, (i, e)| w | ((e & 0xff) << (8 * i))))
            .collect()
    }

    /// Compact decode table, second half: `(cdf[s] << 16) | freq[s]` per symbol of the alphabet.
    pub fn symbol_info(&self) -> Vec<u32> {
        self.freqs.iter().zip(&self.cdf).map(|(&f, &c)| (c << 16) | f).collect()
    }
}

/// Coded bits of `hist` under frequencies `freq(s)` at precision `prob_bits`.
fn cost(hist: &[u64], freq: impl Fn(usize) -> u32, prob_bits: u32) -> f64 {
    let mut bits = 0.0;
    for (s, &c) in hist.iter().enumerate().filter(|(_, c)| **c > 0) {
        let f = freq(s);
        if f == 0 {
            return f64::INFINITY;
        }
        bits += c as f64 * (f64::from(prob_bits) - f64::from(f).log2());
    }
    bits
}

/// Integer frequencies `>= 1` for each non-zero count, summing to `m`, minimizing
/// `-sum c log2 f`. Requires at least one non-zero count and at most `m` of them.
fn normalize(hist: &[u64], m: u32) -> Vec<u32> {
    let total: u64 = hist.iter().sum();
    let mut f: Vec<u32> = hist
        .iter()
        .map(|&c| match c {
            0 => 0,
            _ => ((c as f64 * f64::from(m) / total as f64).round() as u32).clamp(1, m),
        })
        .collect();
    // Gain of one more unit for s, and loss of one unit less (infinite when s must keep its 1).
    let gain = |c: u64, f: u32| c as f64 * (f64::from(f + 1) / f64::from(f)).log2();
    let loss = |c: u64, f: u32| if f > 1 { c as f64 * (f64::from(f) / f64::from(f - 1)).log2() } else { f64::INFINITY };
    let best_gain = |f: &[u32], skip: Option<usize>| {
        (0..f.len())
            .filter(|&s| hist[s] > 0 && Some(s) != skip)
            .map(|s| (s, gain(hist[s], f[s])))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    };
    let best_loss = |f: &[u32], skip: Option<usize>| {
        (0..f.len())
            .filter(|&s| hist[s] > 0 && Some(s) != skip)
            .map(|s| (s, loss(hist[s], f[s])))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    };
    let mut sum: u64 = f.iter().map(|&x| u64::from(x)).sum();
    // Each move either brings the sum closer to m or strictly lowers the cost, so this ends;
    // the cap only guards against floating-point surprises.
    for _ in 0..4 * (m as usize + hist.len()) {
        if sum < u64::from(m) {
            let (j, _) = best_gain(&f, None).expect("a symbol occurs");
            f[j] += 1;
            sum += 1;
        } else if sum > u64::from(m) {
            let (i, _) = best_loss(&f, None).expect("a symbol occurs");
            f[i] -= 1;
            sum -= 1;
        } else {
            let Some((j, g)) = best_gain(&f, None) else { break };
            let Some((i, l)) = best_loss(&f, Some(j)) else { break };
            if g <= l * (1.0 + 1e-12) {
                break;
            }
            f[j] += 1;
            f[i] -= 1;
        }
    }
    f
}

/// Picks the smallest precision in `10..=12` whose optimal table codes `hist` at most
/// `max_loss` (relative, e.g. `0.001`) larger than the 12-bit table. Smaller precisions give
/// smaller decode tables (`2^P` entries) for GPU workgroup memory; 12 bits never codes worse.
pub fn choose_prob_bits(hist: &[u64], max_loss: f64) -> Result<u32, RansError> {
    let best = FreqTable::from_histogram(hist, MAX_PROB_BITS)?.cost_bits(hist);
    for p in MIN_PROB_BITS..MAX_PROB_BITS {
        if FreqTable::from_histogram(hist, p)?.cost_bits(hist) <= best * (1.0 + max_loss) {
            return Ok(p);
        }
    }
    Ok(MAX_PROB_BITS)
}
