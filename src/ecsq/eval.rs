//! The rate-quality table of `ecq eval`: every format on the same tensor, with bits per weight
//! (everything stored counted) and weight SQNR.
//!
//! Formats (names as in the `format` column):
//! - `q{b}g{g}`: fixed-rate affine, `b` in 2, 3, 4, 8 and `g` in 32, 64, 128: packed codes (row
//!   padding included) plus f16 scale and bias per group.
//! - `q{b}g{g}+rans`: the same codes rANS-coded (table, states, offsets and stream header
//!   counted) plus the scales and biases.
//! - `ecsq{r}`: ECSQ at a target of `r` bits per weight (RDO, outlier list).
//! - `ecsq{r}-noout`: the same without the outlier list (codes saturate at +-127).
//! - `ecsq@q4g64`: ECSQ at the SQNR of `q4g64` (the fewest bits that reach it).

use rayon::prelude::*;

use super::{EcsqMatrix, EcsqParams, Input};
use crate::Result;
use crate::quant::{AffineSpec, affine};
use crate::rans;

/// One row of the table (the JSON object of `ecq eval --json`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalRow {
    /// Tensor name.
    pub tensor: String,
    /// Format name (module docs).
    pub format: String,
    /// Stored bits per weight, all overhead included.
    pub bits_per_weight: f64,
    /// Weight SQNR in dB.
    pub sqnr_db: f64,
}

/// The ECSQ rates `ecq eval` measures by default.
pub const DEFAULT_RATES: [f64; 6] = [2.0, 2.5, 3.0, 3.5, 4.0, 4.5];

/// Affine at `spec`: (fixed-rate bpw, rANS bpw, SQNR).
pub fn affine_point(name: &str, data: &[f32], rows: usize, cols: usize, spec: AffineSpec) -> Result<(f64, f64, f64)> {
    let m = affine::quantize(name, data, rows, cols, spec)?;
    let n = (rows * cols) as f64;
    let sqnr = affine::sqnr_db(data, &m.dequantize());
    let fixed = 8.0 * m.stored_bytes() as f64 / n;
    let codes: Vec<u8> = (0..rows).flat_map(|r| m.unpack_row(r)).collect();
    let hist = rans::histogram(&codes);
    let top = hist.iter().rposition(|&c| c > 0).unwrap_or(0);
    let hist = &hist[..=top];
    let p = rans::choose_prob_bits(hist, 0.001)?;
    let table = rans::FreqTable::from_histogram(hist, p)?;
    let block_rows = rans::rows_per_block(&table, cols, rows);
    let stream = rans::encode(&codes, &table, block_rows * cols)?;
    let scales = 2 * (m.scales.len() + m.biases.len());
    let coded = 8.0 * (stream.sizes().total() + scales) as f64 / n;
    Ok((fixed, coded, sqnr))
}

/// Every format of the module docs on one `rows x cols` tensor, ECSQ at `rates`.
pub fn evaluate(name: &str, data: &[f32], rows: usize, cols: usize, rates: &[f64]) -> Result<Vec<EvalRow>> {
    let row = |format: String, bits_per_weight: f64, sqnr_db: f64| EvalRow {
        tensor: name.to_string(),
        format,
        bits_per_weight,
        sqnr_db,
    };
    let mut out = Vec::new();
    let specs: Vec<AffineSpec> =
        [2u32, 3, 4, 8].iter().flat_map(|&b| [32u32, 64, 128].map(|g| AffineSpec { bits: b, group_size: g })).collect();
    let points = specs
        .par_iter()
        .map(|&s| affine_point(name, data, rows, cols, s).map(|p| (s, p)))
        .collect::<Result<Vec<_>>>()?;
    let mut q4 = f64::NAN;
    for (s, (fixed, coded, sqnr)) in points {
        if s.bits == 4 && s.group_size == 64 {
            q4 = sqnr;
        }
        out.push(row(s.name(), fixed, sqnr));
        out.push(row(format!("{}+rans", s.name()), coded, sqnr));
    }
    let input = Input::new(name, data, rows, cols)?;
    let params = EcsqParams::default();
    let noout = EcsqParams { outliers: false, ..EcsqParams::default() };
    for &r in rates {
        let q = EcsqMatrix::quantize_to_bpw(&input, r, &params)?;
        out.push(row(format!("ecsq{r}"), q.bits_per_weight(), q.sqnr_db));
        let q = EcsqMatrix::quantize_to_bpw(&input, r, &noout)?;
        out.push(row(format!("ecsq{r}-noout"), q.bits_per_weight(), q.sqnr_db));
    }
    let q = EcsqMatrix::quantize_to_sqnr(&input, q4, &params)?;
    out.push(row("ecsq@q4g64".into(), q.bits_per_weight(), q.sqnr_db));
    Ok(out)
}
