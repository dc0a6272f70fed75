//! Rare large weights: an explicit list of f16 corrections beside the coded body, and what the
//! alternative, an escape symbol in the code stream, would have cost.
//!
//! **Why a list.** A weight whose code would leave `[-127, 127]` (or whose code is so rare that
//! storing it costs more than the list entry, under RDO) keeps the cheapest code of its place in
//! the body and gets an entry `(row * cols + col, f16 correction)`: 48 bits. An escape design
//! would instead code a reserved symbol in the stream and store the 16-bit value, with no
//! position, which is cheaper per outlier when the escape symbol is rare (its code length is
//! `log2(n / k)`, some 15-20 bits, so about 31-36 bits against 48). But a GPU then finds the
//! positions only by scanning the decoded codes, the body code of an escaped weight is
//! undefined for the q8 GEMV, and in a trellis an escape carries no branch. On real weights
//! there are 0-3 outliers per tensor at 2.5-4.5 bits per weight (docs/ecsq.md), so the escape
//! would save under 100 bits per tensor (< 0.001 bits per weight): the list wins on
//! simplicity at no measurable cost. [`escape_comparison`] computes both sizes exactly.

use half::f16;

use crate::rans::FreqTable;
use crate::weights::SparseRows;
use crate::{Error, Result};

/// Stored bits per outlier: a u32 flat index and an f16 correction.
pub const OUTLIER_BITS: f64 = 48.0;

/// The outliers of a matrix: corrections added to the body's reconstruction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outliers {
    index: Vec<u32>,
    value: Vec<f16>,
}

impl Outliers {
    /// Outliers at flat indices `row * cols + col` (strictly increasing, below `n_weights`) with
    /// finite corrections.
    pub fn new(index: Vec<u32>, value: Vec<f16>, n_weights: usize) -> Result<Self> {
        if index.len() != value.len() {
            return Err(Error::InvalidArgument(format!(
                "outliers: {} indices but {} values",
                index.len(),
                value.len()
            )));
        }
        if let Some(w) = index.windows(2).position(|w| w[1] <= w[0]) {
            return Err(Error::InvalidArgument(format!("outlier {}: indices must strictly increase", w + 1)));
        }
        if let Some(&i) = index.last().filter(|&&i| i as usize >= n_weights) {
            return Err(Error::InvalidArgument(format!("outlier index {i} is past the {n_weights} weights")));
        }
        if let Some(k) = value.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!("outlier {k}: correction is not finite")));
        }
        Ok(Outliers { index, value })
    }

    /// Number of outliers.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Flat indices `row * cols + col`, increasing.
    pub fn index(&self) -> &[u32] {
        &self.index
    }

    /// Corrections, one per index.
    pub fn value(&self) -> &[f16] {
        &self.value
    }

    /// Stored bits ([`OUTLIER_BITS`] each).
    pub fn bits(&self) -> f64 {
        OUTLIER_BITS * self.len() as f64
    }

    /// Adds the corrections to a row-major reconstruction.
    pub fn apply(&self, reconstruction: &mut [f32]) {
        for (&i, v) in self.index.iter().zip(&self.value) {
            reconstruction[i as usize] += v.to_f32();
        }
    }

    /// The run-time form: sparse rows of a `rows x cols` matrix.
    pub fn to_sparse_rows(&self, rows: usize, cols: usize) -> Result<SparseRows> {
        SparseRows::from_sorted(rows, cols, self.index.iter().zip(&self.value).map(|(&i, v)| (i, v.to_f32())))
    }
}

/// Exact sizes of the two ways of storing a matrix's outliers (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EscapeComparison {
    /// Number of outliers.
    pub outliers: usize,
    /// Code payload plus list: the stream's optimal table cost plus [`OUTLIER_BITS`] each.
    pub list_bits: f64,
    /// Code payload with one escape symbol per outlier instead of its body code, its table
    /// growing by one entry (16 bits), plus an f16 value each.
    pub escape_bits: f64,
}

/// Sizes of the list and of an escape symbol for a stream with symbol histogram `hist` whose
/// outliers hold the body symbols `outlier_symbols`, at probability precision `prob_bits`.
pub fn escape_comparison(hist: &[u64], outlier_symbols: &[u8], prob_bits: u32) -> Result<EscapeComparison> {
    let list_table = FreqTable::from_histogram(hist, prob_bits)?;
    let list_bits = list_table.cost_bits(hist) + OUTLIER_BITS * outlier_symbols.len() as f64;
    // The escape takes the symbol after the alphabet; the outliers' body codes disappear.
    let mut esc = hist.to_vec();
    let escape = hist.iter().rposition(|&c| c > 0).map_or(0, |s| s + 1);
    esc.resize(esc.len().max(escape + 1), 0);
    for &s in outlier_symbols {
        esc[usize::from(s)] -= 1;
    }
    esc[escape] += outlier_symbols.len() as u64;
    let escape_bits = if esc.len() > crate::rans::MAX_SYMBOLS {
        f64::INFINITY
    } else {
        let t = FreqTable::from_histogram(&esc, prob_bits)?;
        t.cost_bits(&esc) + 16.0 * (1 + outlier_symbols.len()) as f64
    };
    Ok(EscapeComparison { outliers: outlier_symbols.len(), list_bits, escape_bits })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outliers_validate_and_become_sparse_rows() {
        let v = |x: f32| f16::from_f32(x);
        assert!(Outliers::new(vec![3, 3], vec![v(1.0), v(2.0)], 10).is_err());
        assert!(Outliers::new(vec![10], vec![v(1.0)], 10).is_err());
        assert!(Outliers::new(vec![1], vec![v(f32::NAN)], 10).is_err());
        assert!(Outliers::new(vec![1], vec![], 10).is_err());
        let o = Outliers::new(vec![1, 7, 8], vec![v(1.0), v(-2.0), v(0.5)], 12).unwrap();
        let s = o.to_sparse_rows(3, 4).unwrap();
        assert_eq!(s.row_index, vec![0, 1, 2]);
        assert_eq!(s.row_ptr, vec![0, 1, 2, 3]);
        assert_eq!(s.col, vec![1, 3, 0]);
        let mut r = vec![0f32; 12];
        o.apply(&mut r);
        assert_eq!((r[1], r[7], r[8]), (1.0, -2.0, 0.5));
        // y += correction * x, per row.
        let x = [1.0, 2.0, 3.0, 4.0];
        let mut y = vec![10.0, 20.0, 30.0];
        s.add_to(&x, 1, &mut y).unwrap();
        assert_eq!(y, vec![12.0, 12.0, 30.5]);
    }

    #[test]
    fn an_escape_saves_the_index_bits_which_matter_only_for_many_outliers() {
        // 10^5 symbols of a peaked distribution, outliers coded in the body as symbol 0.
        let hist = [60_000u64, 20_000, 20_000];
        let few = escape_comparison(&hist, &[0; 3], 12).unwrap();
        assert!(few.escape_bits < few.list_bits, "{few:?}");
        assert!(few.list_bits - few.escape_bits < 100.0, "a few outliers: a small difference");
        // Each escape costs its code length plus 16 bits; each list entry 48 bits.
        let many = escape_comparison(&hist, &[0; 20_000], 12).unwrap();
        assert!(many.list_bits - many.escape_bits > 20_000.0 * 20.0, "{many:?}");
    }
}
