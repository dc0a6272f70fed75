//! Code choice at a given step: nearest points or RDO, with outliers; then the rANS encoding and
//! the exact size.

use half::f16;
use rayon::prelude::*;

use super::outliers::{OUTLIER_BITS, Outliers};
use super::{EcsqMatrix, EcsqParams, HIGH_RATE_RDO, MAX_CODE, MAX_STEP, format};
use crate::rans::{self, FreqTable};
use crate::{Error, Result};

/// Largest magnitude a weight may have: outlier corrections are f16.
const F16_MAX: f32 = 65504.0;
/// Largest loss of coded size accepted for a smaller probability precision (rANS table).
const PROB_BITS_LOSS: f64 = 0.001;

/// A matrix to quantize: row-major weights, and optionally the importance of each input column.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    name: String,
    data: &'a [f32],
    rows: usize,
    cols: usize,
    /// Per-column weights of the squared error, mean 1.
    importance: Option<Vec<f32>>,
    /// Importance-weighted signal energy, `sum imp_c w^2`.
    signal: f64,
}

impl<'a> Input<'a> {
    /// Wraps a row-major `rows x cols` matrix. Errors (naming `name`) on a shape mismatch, an
    /// empty or too large matrix (over `2^32 - 1` weights), and non-finite weights or weights
    /// beyond f16's range.
    pub fn new(name: &str, data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        if rows == 0 || cols == 0 || data.len() != rows * cols || data.len() > u32::MAX as usize {
            return Err(Error::tensor(name, format!("{} values for an ECSQ matrix of {rows}x{cols}", data.len())));
        }
        if let Some(i) = data.iter().position(|v| v.is_nan() || v.abs() > F16_MAX) {
            return Err(Error::tensor(
                name,
                format!("weight [{}, {}] = {} is not finite or beyond f16's range", i / cols, i % cols, data[i]),
            ));
        }
        let signal = data.par_iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        Ok(Input { name: name.to_string(), data, rows, cols, importance: None, signal })
    }

    /// Weights the squared error of input column `c` by `importance[c]` (e.g. the mean square
    /// of calibration activations), normalized to mean 1. Errors unless there is one finite,
    /// non-negative value per column and their sum is positive.
    pub fn with_importance(mut self, importance: &[f32]) -> Result<Self> {
        if importance.len() != self.cols || importance.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(Error::tensor(
                &self.name,
                format!("importance: expected {} finite non-negative values, one per input", self.cols),
            ));
        }
        let mean = importance.iter().map(|&v| f64::from(v)).sum::<f64>() / self.cols as f64;
        if mean.is_nan() || mean <= 0.0 {
            return Err(Error::tensor(&self.name, "importance is zero everywhere"));
        }
        let imp: Vec<f32> = importance.iter().map(|&v| (f64::from(v) / mean) as f32).collect();
        self.signal = self
            .data
            .par_chunks(self.cols)
            .map(|row| row.iter().zip(&imp).map(|(&w, &m)| f64::from(m) * f64::from(w) * f64::from(w)).sum::<f64>())
            .sum();
        self.importance = Some(imp);
        Ok(self)
    }

    /// Tensor name (for errors and reports).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Inputs.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The weights.
    pub fn data(&self) -> &[f32] {
        self.data
    }

    /// The normalized importance, when given.
    pub fn importance(&self) -> Option<&[f32]> {
        self.importance.as_deref()
    }

    /// Importance-weighted signal energy `sum imp_c w^2`.
    pub fn signal(&self) -> f64 {
        self.signal
    }

    /// Root mean square of the weights (importance-weighted).
    pub fn rms(&self) -> f64 {
        (self.signal / self.data.len() as f64).sqrt()
    }

    fn imp(&self, c: usize) -> f32 {
        self.importance.as_ref().map_or(1.0, |v| v[c])
    }
}

/// A quantized matrix with its reconstruction and error.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantized {
    /// The stored matrix.
    pub matrix: EcsqMatrix,
    /// What a decoder rebuilds, row-major (equal to `matrix.dequantize()`).
    pub reconstruction: Vec<f32>,
    /// `sum (w - w')^2`.
    pub squared_error: f64,
    /// Importance-weighted squared error, `sum imp_c (w - w')^2` (equal to `squared_error`
    /// without importance).
    pub weighted_error: f64,
    /// Weight SQNR in dB, importance-weighted when the input has importance (infinite when
    /// exact).
    pub sqnr_db: f64,
}

impl Quantized {
    /// Stored bits per weight, everything counted.
    pub fn bits_per_weight(&self) -> f64 {
        self.matrix.bits_per_weight()
    }
}

/// Code lengths in bits by key `j + 128`.
type Lengths = [f32; 256];

/// The codes chosen at one step, before entropy coding.
pub(crate) struct Trial {
    pub(crate) codes: Vec<i8>,
    pub(crate) outliers: Vec<(u32, f16)>,
    /// Histogram by key (see [`Lengths`]).
    pub(crate) key_hist: [u64; 256],
    pub(crate) steps: Vec<f16>,
    pub(crate) rows_per_step: usize,
    pub(crate) squared_error: f64,
    pub(crate) weighted_error: f64,
}

impl Trial {
    /// Weight SQNR of the trial (importance-weighted).
    pub(crate) fn sqnr_db(&self, input: &Input<'_>) -> f64 {
        sqnr(input.signal, self.weighted_error)
    }

    /// The stream symbols' histogram and the code of symbol 0.
    fn stream_hist(&self) -> (Vec<u64>, i8) {
        let lo = self.key_hist.iter().position(|&c| c > 0).unwrap_or(128);
        let hi = self.key_hist.iter().rposition(|&c| c > 0).unwrap_or(128);
        (self.key_hist[lo..=hi].to_vec(), (lo as i32 - 128) as i8)
    }

    /// The rANS table: the precision in 10..=12 that costs at most 0.1% over 12 bits.
    fn table(&self) -> Result<(FreqTable, Vec<u64>, i8)> {
        let (hist, code_min) = self.stream_hist();
        let p = rans::choose_prob_bits(&hist, PROB_BITS_LOSS)?;
        Ok((FreqTable::from_histogram(&hist, p)?, hist, code_min))
    }

    /// Stored bytes without encoding: exact except for the rANS words, estimated from the
    /// table's cost (within a fraction of a percent).
    pub(crate) fn estimated_bytes(&self, input: &Input<'_>) -> Result<f64> {
        let (table, hist, _) = self.table()?;
        let block_rows = rans::rows_per_block(&table, input.cols, input.rows);
        let n_blocks = input.rows.div_ceil(block_rows);
        // A final state keeps about 16 bits of payload out of the words per lane on average
        // (it starts at 2^16 and ends anywhere in [2^16, 2^32)).
        let words = (table.cost_bits(&hist) / 16.0 - 16.0 * n_blocks as f64).max(0.0);
        let stream = rans::HEADER_BYTES
            + (2 * table.alphabet_len()).next_multiple_of(4)
            + 4
            + rans::BLOCK_OVERHEAD_BYTES * n_blocks;
        Ok(format::fixed_bytes(self.steps.len(), self.outliers.len()) as f64 + stream as f64 + 2.0 * words)
    }

    /// Encodes the trial: the stored matrix, its reconstruction and errors.
    pub(crate) fn finish(self, input: &Input<'_>) -> Result<Quantized> {
        let (table, _, code_min) = self.table()?;
        let symbols: Vec<u8> = self.codes.par_iter().map(|&j| (i32::from(j) - i32::from(code_min)) as u8).collect();
        let block_rows = rans::rows_per_block(&table, input.cols, input.rows);
        let stream = rans::encode(&symbols, &table, block_rows * input.cols)?;
        let (index, value): (Vec<u32>, Vec<f16>) = self.outliers.iter().copied().unzip();
        let outliers = Outliers::new(index, value, input.data.len())?;
        let cols = input.cols;
        let mut reconstruction: Vec<f32> = self
            .codes
            .par_iter()
            .enumerate()
            .map(|(i, &j)| self.steps[i / cols / self.rows_per_step].to_f32() * f32::from(j))
            .collect();
        outliers.apply(&mut reconstruction);
        let matrix = EcsqMatrix::from_parts(
            &input.name,
            input.rows,
            cols,
            self.rows_per_step,
            self.steps,
            code_min,
            stream,
            outliers,
        )?;
        Ok(Quantized {
            matrix,
            reconstruction,
            squared_error: self.squared_error,
            weighted_error: self.weighted_error,
            sqnr_db: sqnr(input.signal, self.weighted_error),
        })
    }
}

/// `10 log10(signal / error)`, infinite when the error is zero.
pub(crate) fn sqnr(signal: f64, error: f64) -> f64 {
    if error > 0.0 { 10.0 * (signal / error).log10() } else { f64::INFINITY }
}

/// Quantizes with step `delta` and encodes.
pub(crate) fn quantize(input: &Input<'_>, delta: f32, params: &EcsqParams) -> Result<Quantized> {
    trial(input, delta, params)?.finish(input)
}

/// An f16 step in `(0, MAX_STEP]` near `v`.
fn f16_step(v: f64) -> f16 {
    let s = f16::from_f64(v.clamp(0.0, f64::from(MAX_STEP)));
    if s.to_f32() > 0.0 { s } else { f16::from_bits(1) }
}

/// The steps for `delta`: one per group of rows, following the groups' RMS as asked.
fn steps_for(input: &Input<'_>, delta: f64, params: &EcsqParams) -> (Vec<f16>, usize) {
    let rps = params.rows_per_step.unwrap_or(input.rows).clamp(1, input.rows);
    let n = input.rows.div_ceil(rps);
    if params.row_adapt == 0.0 || n == 1 {
        return (vec![f16_step(delta); n], rps);
    }
    let rms = input.rms().max(f64::MIN_POSITIVE);
    let steps = input
        .data
        .par_chunks(rps * input.cols)
        .map(|g| {
            let gr = (g.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / g.len() as f64).sqrt();
            f16_step(delta * (gr / rms).max(1e-3).powf(params.row_adapt))
        })
        .collect();
    (steps, rps)
}

/// Per-row results accumulated over rows.
#[derive(Default)]
struct Acc {
    hist: Vec<u64>,
    outliers: Vec<(u32, f16)>,
    squared_error: f64,
    weighted_error: f64,
}

impl Acc {
    fn merge(mut self, b: Acc) -> Acc {
        if self.hist.is_empty() {
            self.hist = b.hist;
        } else {
            self.hist.iter_mut().zip(&b.hist).for_each(|(a, b)| *a += b);
        }
        self.outliers.extend(b.outliers);
        self.squared_error += b.squared_error;
        self.weighted_error += b.weighted_error;
        self
    }
}

/// Chooses the codes at step `delta`: one plain pass, then `rdo_passes` passes with the code
/// lengths of the pass before (when `rdo > 0`).
pub(crate) fn trial(input: &Input<'_>, delta: f32, params: &EcsqParams) -> Result<Trial> {
    params.validate()?;
    if !(delta.is_finite() && delta > 0.0) {
        return Err(Error::InvalidArgument(format!("ECSQ step {delta} must be positive")));
    }
    let (steps, rows_per_step) = steps_for(input, f64::from(delta), params);
    let passes = if params.rdo > 0.0 { 1 + params.rdo_passes } else { 1 };
    let mut lengths: Lengths = [0.0; 256];
    let mut codes = vec![0i8; input.data.len()];
    let mut acc = Acc::default();
    for pass in 0..passes {
        let rdo = if pass == 0 { 0.0 } else { params.rdo };
        let ctx = RowCtx {
            input,
            steps: &steps,
            rows_per_step,
            delta: f64::from(delta),
            rdo,
            lengths: &lengths,
            outliers: params.outliers,
        };
        acc = codes
            .par_chunks_mut(input.cols)
            .enumerate()
            .fold(
                || Acc { hist: vec![0; 256], ..Acc::default() },
                |mut a, (r, out)| {
                    ctx.scalar_row(r, out, &mut a);
                    a
                },
            )
            .reduce(Acc::default, Acc::merge);
        lengths = code_lengths(&acc.hist);
    }
    acc.outliers.sort_unstable_by_key(|o| o.0);
    let mut key_hist = [0u64; 256];
    key_hist.copy_from_slice(&acc.hist);
    Ok(Trial {
        codes,
        outliers: acc.outliers,
        key_hist,
        steps,
        rows_per_step,
        squared_error: acc.squared_error,
        weighted_error: acc.weighted_error,
    })
}

/// Ideal code lengths `log2(total / count)`; keys never seen cost as much as one seen once.
fn code_lengths(hist: &[u64]) -> Lengths {
    let total = hist.iter().sum::<u64>().max(1) as f64;
    let mut l = [0f32; 256];
    for (li, &c) in l.iter_mut().zip(hist) {
        *li = (total / c.max(1) as f64).log2() as f32;
    }
    l
}

/// What every row of one pass shares.
struct RowCtx<'a, 'b> {
    input: &'a Input<'b>,
    steps: &'a [f16],
    rows_per_step: usize,
    /// The requested step: `lambda = rdo * delta^2` in absolute units for every row.
    delta: f64,
    rdo: f64,
    lengths: &'a Lengths,
    outliers: bool,
}

impl RowCtx<'_, '_> {
    /// Row `r`'s step and its lambdas in units of `step^2` per bit: for in-stream codes, and
    /// for outliers (priced at the high-rate slope when there is no RDO).
    fn row_params(&self, r: usize) -> (f32, f32, f32) {
        let s = self.steps[r / self.rows_per_step].to_f32();
        let scale = self.delta * self.delta / (f64::from(s) * f64::from(s));
        let out = if self.rdo > 0.0 { self.rdo } else { HIGH_RATE_RDO };
        (s, (self.rdo * scale) as f32, (out * scale) as f32)
    }

    /// Cost in `step^2` units of storing `w` as outlier over body code `j`: the f16 rounding
    /// of the correction, plus lambda times the list entry and the body's code length.
    fn outlier_cost(w: f32, s: f32, j: i32, imp: f32, lam_out: f32, len: f32) -> (f32, f16) {
        let corr = f16::from_f32(w - s * j as f32);
        let e = (w - (s * j as f32 + corr.to_f32())) / s;
        (imp * e * e + lam_out * (OUTLIER_BITS as f32 + len), corr)
    }

    fn scalar_row(&self, r: usize, out: &mut [i8], acc: &mut Acc) {
        let (s, lam, lam_out) = self.row_params(r);
        let cols = self.input.cols;
        let row = &self.input.data[r * cols..(r + 1) * cols];
        let len = |j: i32| self.lengths[(j + 128) as usize];
        for (c, (&w, o)) in row.iter().zip(out.iter_mut()).enumerate() {
            let imp = self.input.imp(c);
            let x = w / s;
            let lo = (x.floor() as i32).clamp(-MAX_CODE, MAX_CODE);
            let hi = (lo + 1).min(MAX_CODE);
            let cost = |j: i32| imp * (x - j as f32) * (x - j as f32) + lam * len(j);
            let (mut best, mut bc) = (lo, cost(lo));
            for j in [hi, 0] {
                let cj = cost(j);
                if cj < bc {
                    (best, bc) = (j, cj);
                }
            }
            // The cheapest outlier costs at least lambda * 48 bits: only then is it worth a look.
            let mut corr = None;
            if self.outliers && bc > lam_out * OUTLIER_BITS as f32 {
                let (co, v) = Self::outlier_cost(w, s, 0, imp, lam_out, len(0));
                if co < bc {
                    (best, corr) = (0, Some(v));
                }
            }
            *o = best as i8;
            acc.hist[(best + 128) as usize] += 1;
            self.account(r * cols + c, w, s * best as f32, corr, imp, acc);
        }
    }

    /// Adds one weight's error (and outlier) to the accumulator.
    fn account(&self, i: usize, w: f32, body: f32, corr: Option<f16>, imp: f32, acc: &mut Acc) {
        let rec = body + corr.map_or(0.0, |v| v.to_f32());
        let e = f64::from(w - rec);
        acc.squared_error += e * e;
        acc.weighted_error += f64::from(imp) * e * e;
        if let Some(v) = corr {
            acc.outliers.push((i as u32, v));
        }
    }
}
