//! Entropy-coded scalar quantization (ECSQ): weights on a uniform grid `step * j`, the integer
//! codes `j` chosen by rate-distortion optimization and coded with rANS ([`crate::rans`]).
//! Smaller than fixed-rate 4-bit affine at the same weight SQNR (docs/ecsq.md has the numbers).
//!
//! This module is codec and CPU only; the GPU runs an [`EcsqMatrix`] through
//! [`EcsqMatrix::to_runtime`] (or `kernels::ecsq`, which decodes the stream on the GPU).
//!
//! # Format
//! A `rows x cols` matrix (rows = outputs) is stored as:
//! - **steps**: `ceil(rows / rows_per_step)` f16 steps, each finite, `> 0` and `<= 511`
//!   ([`MAX_STEP`]); row `r` uses `steps[r / rows_per_step]`. The quantizers put one step on the
//!   whole tensor unless asked otherwise (for the weight MSE, equal slopes mean one step: see
//!   the objective below).
//! - **codes**: one grid code `j` in `[-127, 127]` per weight; the body reconstruction is
//!   `step_r * j`, computed in f32 (exact: an 11-bit step times an 8-bit code).
//! - **symbols**: the codes as rANS symbols, row-major: `symbol = j - code_min`, with
//!   `code_min` (in `[-127, 127]`) stored.
//! - **stream**: the symbols rANS-coded with one static table, in blocks of `block_rows` whole
//!   rows ([`crate::rans`] format; `block_len = block_rows * cols`).
//! - **outliers**: `k` entries `(row * cols + col, f16 correction)`, strictly increasing indices,
//!   added to the body: `w = step_r * j + correction` ([`outliers`], which also says why a list
//!   and not an escape symbol).
//!
//! [`EcsqMatrix::to_bytes`] serializes everything (layout in `format.rs`);
//! [`EcsqMatrix::bits_per_weight`] counts exactly those bytes.
//!
//! # Run time
//! `u = j + 128` is an 8-bit affine code with `scale = step` and `bias = -128 * step`, both
//! exact in f16 (a power-of-two multiple of an f16 `<= 511` stays below 65504 and keeps its
//! mantissa), so the q8 GEMV kernel runs ECSQ unchanged; the outliers become a sparse
//! correction (`kernels::sparse_add`). On the GPU, the symbols decode straight to `u` (the rANS
//! decode table's symbol field is offset by `code_min + 128`; `kernels::ecsq`). The affine identity
//! `y = s * sum(u x) - 128 s * sum(x)` cancels: f32 rounding is relative to
//! `128 |s| sum|x|` rather than to `|y|`, about 1e-4 of `|y|` on real rows — far below the
//! quantization error.
//!
//! # Objective
//! The quantizers minimize, over the codes (and the outlier choices) at a given step,
//! ```text
//! J = sum_rc imp_c (w_rc - w'_rc)^2  +  lambda * R,   lambda = rdo * step^2
//! ```
//! with `R` the coded bits: `-log2 p(symbol)` from the tensor's own symbol frequencies (the
//! previous pass's table; `rdo_passes` passes alternate table and codes), plus 48 bits per
//! outlier. `imp_c` is the importance of input column `c` (the mean square of calibration
//! activations, normalized to mean 1; all ones without calibration), which makes the first term
//! the expected squared output error `E |(W - W') x|^2` for inputs with independent
//! components. The quantizer decides each code among the two nearest grid points, 0 and
//! "outlier". `rdo = 0`
//! is plain nearest-point rounding (outliers are then priced at the high-rate slope
//! [`HIGH_RATE_RDO`]). The step is then searched for a target rate
//! ([`EcsqMatrix::quantize_to_bpw`]) or quality ([`EcsqMatrix::quantize_to_sqnr`]). At high
//! rate a uniform quantizer's `D(R)` has slope `-2 ln2 D` with `D = step^2 / 12`, so
//! `rdo = ln2 / 6` ([`HIGH_RATE_RDO`]) is the slope of the operating point; one step for the
//! whole tensor gives every row that slope, which minimizes the total squared error at a given
//! total rate. [`alloc`] applies the same equal-slope rule across tensors.

pub mod alloc;
pub mod eval;
mod format;
pub mod outliers;
mod quantize;
mod search;
#[cfg(test)]
mod tests;

use half::f16;

pub use alloc::{Allocation, Objective, allocate};
pub use outliers::{EscapeComparison, OUTLIER_BITS, Outliers, escape_comparison};
pub use quantize::{Input, Quantized};

use crate::quant::{AffineSpec, QuantizedMatrix, pack};
use crate::rans::Encoded;
use crate::weights::SparseRows;
use crate::{Error, Result};

/// Largest step: `128 * step` (the run-time bias) must stay below f16's 65504.
pub const MAX_STEP: f32 = 511.0;
/// Largest magnitude of a grid code (the run time stores `j + 128` in a byte).
pub const MAX_CODE: i32 = 127;
/// The RDO strength at the high-rate operating point, `ln 2 / 6` (see the [module docs](self)).
pub const HIGH_RATE_RDO: f64 = std::f64::consts::LN_2 / 6.0;

/// How the quantizers choose codes and steps.
#[derive(Clone, Debug, PartialEq)]
pub struct EcsqParams {
    /// RDO strength: `lambda = rdo * step^2` per bit (0: plain rounding).
    pub rdo: f64,
    /// Passes that re-choose the codes with the previous pass's code lengths (with `rdo > 0`).
    pub rdo_passes: u32,
    /// Rows sharing one step; `None` for one step for the whole tensor.
    pub rows_per_step: Option<usize>,
    /// With `rows_per_step`, steps follow the rows' RMS as `step_g = step * (rms_g / rms)^a`
    /// (0: all equal, 1: proportional).
    pub row_adapt: f64,
    /// Whether rare large weights may go to the outlier list (off: codes saturate at +-127 and
    /// RDO never picks an outlier).
    pub outliers: bool,
}

impl Default for EcsqParams {
    fn default() -> Self {
        EcsqParams { rdo: HIGH_RATE_RDO, rdo_passes: 2, rows_per_step: None, row_adapt: 0.0, outliers: true }
    }
}

impl EcsqParams {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        if !(self.rdo.is_finite() && self.rdo >= 0.0) {
            return Err(Error::InvalidArgument(format!("ECSQ rdo strength {} must be >= 0", self.rdo)));
        }
        if self.rows_per_step == Some(0) {
            return Err(Error::InvalidArgument("ECSQ rows per step must be at least 1".into()));
        }
        if !(self.row_adapt.is_finite() && (0.0..=2.0).contains(&self.row_adapt)) {
            return Err(Error::InvalidArgument(format!("ECSQ row adaptation {} outside 0..=2", self.row_adapt)));
        }
        Ok(())
    }
}

/// An ECSQ matrix as stored (see the [module docs](self) for the format).
///
/// Built by the quantizers or by [`EcsqMatrix::from_parts`] / [`EcsqMatrix::from_bytes`], which
/// check that the parts fit together; the stream's content is checked when decoding.
#[derive(Clone, Debug, PartialEq)]
pub struct EcsqMatrix {
    rows: usize,
    cols: usize,
    rows_per_step: usize,
    steps: Vec<f16>,
    code_min: i8,
    stream: Encoded,
    outliers: Outliers,
}

/// What the GPU runs: 8-bit affine codes `u = j + 128` with `scale = step`,
/// `bias = -128 * step`, and the outliers as a sparse correction.
#[derive(Clone, Debug, PartialEq)]
pub struct EcsqRuntime {
    /// The body as a q8 matrix (group size: the largest of 128, 64, 32 with the least padding).
    pub matrix: QuantizedMatrix,
    /// The outliers, `y[r] += correction * x[col]`.
    pub outliers: SparseRows,
}

impl EcsqMatrix {
    /// Assembles a matrix from stored parts, checking that they fit together: shape, steps in
    /// `(0, 511]`, a stream of `rows * cols` symbols in blocks of whole rows whose alphabet keeps
    /// every code in `[-127, 127]`, and outliers inside the matrix. `name` labels errors.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        name: &str,
        rows: usize,
        cols: usize,
        rows_per_step: usize,
        steps: Vec<f16>,
        code_min: i8,
        stream: Encoded,
        outliers: Outliers,
    ) -> Result<Self> {
        let fail = |msg: String| Err(Error::tensor(name, msg));
        let n = rows.checked_mul(cols).filter(|&n| n >= 1 && n <= u32::MAX as usize);
        let Some(n) = n else { return fail(format!("ECSQ shape {rows}x{cols} is empty or too large")) };
        if rows_per_step == 0 || rows_per_step > rows {
            return fail(format!("{rows_per_step} rows per step for {rows} rows"));
        }
        if steps.len() != rows.div_ceil(rows_per_step) {
            return fail(format!("{} steps for {rows} rows, {rows_per_step} per step", steps.len()));
        }
        if let Some(i) = steps.iter().position(|s| !(s.to_f32() > 0.0 && s.to_f32() <= MAX_STEP)) {
            return fail(format!("step {i} = {} is not in (0, {MAX_STEP}]", steps[i]));
        }
        if stream.n_symbols() != n || stream.block_len() % cols != 0 {
            return fail(format!(
                "stream of {} symbols in blocks of {} for {rows}x{cols} (blocks must hold whole rows)",
                stream.n_symbols(),
                stream.block_len()
            ));
        }
        let top = stream.table().alphabet_len() as i32 - 1;
        if !(code_min >= -127 && i32::from(code_min) + top <= MAX_CODE) {
            return fail(format!("codes from {code_min} with {} symbols leave [-127, 127]", top + 1));
        }
        if outliers.index().last().is_some_and(|&i| i as usize >= n) {
            return fail(format!("outlier past the {n} weights"));
        }
        Ok(EcsqMatrix { rows, cols, rows_per_step, steps, code_min, stream, outliers })
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Inputs.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Rows sharing one step.
    pub fn rows_per_step(&self) -> usize {
        self.rows_per_step
    }

    /// The f16 steps, one per `rows_per_step` rows.
    pub fn steps(&self) -> &[f16] {
        &self.steps
    }

    /// The step of row `r`.
    pub fn step(&self, r: usize) -> f32 {
        self.steps[r / self.rows_per_step].to_f32()
    }

    /// The grid code of symbol 0.
    pub fn code_min(&self) -> i8 {
        self.code_min
    }

    /// The rANS stream of the symbols.
    pub fn stream(&self) -> &Encoded {
        &self.stream
    }

    /// Rows per rANS block.
    pub fn block_rows(&self) -> usize {
        self.stream.block_len() / self.cols
    }

    /// The outliers.
    pub fn outliers(&self) -> &Outliers {
        &self.outliers
    }

    /// Bytes of [`EcsqMatrix::to_bytes`], computed without serializing.
    pub fn stored_bytes(&self) -> usize {
        format::stored_bytes(self)
    }

    /// Stored bits per weight, everything counted (stream words, states, offsets, table and
    /// header, steps, outliers, this format's header).
    pub fn bits_per_weight(&self) -> f64 {
        8.0 * self.stored_bytes() as f64 / (self.rows * self.cols) as f64
    }

    /// The grid codes, row-major (decodes the stream on the CPU, checking it).
    pub fn codes(&self) -> Result<Vec<i8>> {
        let symbols = self.stream.decode()?;
        let mut codes = vec![0i8; symbols.len()];
        // from_parts keeps symbol + code_min inside [-127, 127].
        for (c, &s) in codes.iter_mut().zip(&symbols) {
            *c = (i32::from(s) + i32::from(self.code_min)) as i8;
        }
        Ok(codes)
    }

    /// The weights as row-major f32: `step_r * j` plus the outliers' corrections.
    pub fn dequantize(&self) -> Result<Vec<f32>> {
        let codes = self.codes()?;
        let mut out: Vec<f32> =
            codes.iter().enumerate().map(|(i, &j)| self.step(i / self.cols) * f32::from(j)).collect();
        self.outliers.apply(&mut out);
        Ok(out)
    }

    /// What the GPU needs: the body as 8-bit affine codes (`u = j + 128`, `scale = step`,
    /// `bias = -128 * step`) and the outliers as sparse rows. Decodes the stream on the CPU.
    pub fn to_runtime(&self) -> Result<EcsqRuntime> {
        let codes = self.codes()?;
        let spec = AffineSpec::new(8, runtime_group_size(self.cols))?;
        let gpr = self.cols.div_ceil(spec.group_size as usize);
        let wpr = crate::quant::affine::words_per_row(self.cols, spec);
        let mut packed = vec![0u32; self.rows * wpr];
        let mut row = vec![0u8; self.cols];
        for (r, words) in packed.chunks_mut(wpr).enumerate() {
            for (u, &j) in row.iter_mut().zip(&codes[r * self.cols..(r + 1) * self.cols]) {
                *u = (i32::from(j) + 128) as u8;
            }
            pack::pack_into(&row, 8, words);
        }
        let mut scales = Vec::with_capacity(self.rows * gpr);
        let mut biases = Vec::with_capacity(self.rows * gpr);
        for r in 0..self.rows {
            let (s, b) = runtime_scale_bias(self.steps[r / self.rows_per_step]);
            scales.extend(std::iter::repeat_n(s, gpr));
            biases.extend(std::iter::repeat_n(b, gpr));
        }
        let matrix = QuantizedMatrix { spec, rows: self.rows, cols: self.cols, codes: packed, scales, biases };
        Ok(EcsqRuntime { matrix, outliers: self.outliers.to_sparse_rows(self.rows, self.cols)? })
    }

    /// Quantizes to at most `target` bits per weight (all storage counted), with the best SQNR
    /// the search finds (the step is searched; codes by RDO as `params` says).
    pub fn quantize_to_bpw(input: &Input<'_>, target: f64, params: &EcsqParams) -> Result<Quantized> {
        search::to_bits(input, target, params)
    }

    /// Quantizes to the fewest bits per weight that reach `target_db` of weight SQNR
    /// (importance-weighted when the input has importance).
    pub fn quantize_to_sqnr(input: &Input<'_>, target_db: f64, params: &EcsqParams) -> Result<Quantized> {
        search::to_sqnr(input, target_db, params)
    }

    /// Quantizes with a given step (before f16 rounding and per-row adaptation).
    pub fn quantize_with_step(input: &Input<'_>, step: f32, params: &EcsqParams) -> Result<Quantized> {
        quantize::quantize(input, step, params)
    }
}

/// The run-time affine group size for rows of `cols`: the largest of 128, 64, 32 that pads the
/// row least (one scale per group; every group of a row has the row's step).
pub fn runtime_group_size(cols: usize) -> u32 {
    [128u32, 64, 32].into_iter().min_by_key(|&g| cols.div_ceil(g as usize) * g as usize).unwrap_or(128)
}

/// Run-time scale and bias of a step: `(step, -128 * step)`, both exact in f16 for steps up to
/// [`MAX_STEP`].
pub fn runtime_scale_bias(step: f16) -> (f16, f16) {
    (step, f16::from_f32(-128.0 * step.to_f32()))
}

/// Quantizes a row-major `rows x cols` f32 matrix to at most `bpw` bits per weight (everything
/// stored counted) with the default parameters (RDO, outlier list): the stored matrix and its
/// exact reconstruction (what every decoder, CPU or GPU, computes).
pub fn quantize_f32(name: &str, data: &[f32], rows: usize, cols: usize, bpw: f64) -> Result<(EcsqMatrix, Vec<f32>)> {
    let q = EcsqMatrix::quantize_to_bpw(&Input::new(name, data, rows, cols)?, bpw, &EcsqParams::default())?;
    Ok((q.matrix, q.reconstruction))
}

/// As [`quantize_f32`], returning what the GPU runs: the q8 body as a [`crate::weights::Matrix`]
/// (`Matrix::Affine`) and the outliers as [`SparseRows`] (`y = body x + outliers x`).
pub fn quantize_f32_runtime(
    name: &str,
    data: &[f32],
    rows: usize,
    cols: usize,
    bpw: f64,
) -> Result<(crate::weights::Matrix, SparseRows)> {
    let (m, _) = quantize_f32(name, data, rows, cols, bpw)?;
    let rt = m.to_runtime()?;
    Ok((crate::weights::Matrix::Affine(rt.matrix), rt.outliers))
}
