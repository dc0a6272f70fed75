//! Host-side weight matrices in every runtime format, and the formats' names.

use half::f16;
use serde::Serialize;

use crate::quant::{AffineSpec, QuantizedMatrix};
use crate::{Error, Result};

/// The runtime format of a weight matrix, as the GEMV kernels read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum WeightFormat {
    /// Group-wise affine codes (see [`crate::quant::affine`]).
    Affine(AffineSpec),
    /// Dense f16 (the usual unquantized baseline).
    F16,
    /// Dense f32.
    F32,
}

impl WeightFormat {
    /// Parses `f16`, `f32` or an affine name such as `q4g64` / `q4`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "f16" => Ok(WeightFormat::F16),
            "f32" => Ok(WeightFormat::F32),
            _ => AffineSpec::parse(s).map(WeightFormat::Affine).map_err(|_| {
                Error::InvalidArgument(format!("weight format `{s}`: expected f16, f32 or qBITS[gGROUP] (e.g. q4g64)"))
            }),
        }
    }

    /// Stored bits per weight, scales and biases included.
    pub fn bits_per_weight(&self) -> f64 {
        match self {
            WeightFormat::Affine(s) => s.bits_per_weight(),
            WeightFormat::F16 => 16.0,
            WeightFormat::F32 => 32.0,
        }
    }

    /// Weights per GEMV chunk, the unit one invocation reads at a time: 16 bytes where the
    /// format allows (8-bit codes: 16, f16: 8, f32: 4, 4-bit: 32), 32 codes for 2 and 3 bits
    /// (so a chunk never straddles a group of 32).
    pub fn weights_per_chunk(&self) -> u32 {
        match self {
            WeightFormat::Affine(s) if s.bits == 8 => 16,
            WeightFormat::Affine(_) => 32,
            WeightFormat::F16 => 8,
            WeightFormat::F32 => 4,
        }
    }

    /// u32 words holding one GEMV chunk.
    pub fn chunk_words(&self) -> u32 {
        match self {
            WeightFormat::Affine(s) => self.weights_per_chunk() * s.bits / 32,
            _ => 4,
        }
    }

    /// u32 words per stored row of `cols` weights (rows padded to whole chunks, and for affine
    /// formats to whole groups).
    pub fn words_per_row(&self, cols: usize) -> usize {
        match self {
            WeightFormat::Affine(s) => crate::quant::affine::words_per_row(cols, *s),
            _ => cols.div_ceil(self.weights_per_chunk() as usize) * self.chunk_words() as usize,
        }
    }
}

impl std::fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WeightFormat::Affine(s) => write!(f, "{s}"),
            WeightFormat::F16 => f.write_str("f16"),
            WeightFormat::F32 => f.write_str("f32"),
        }
    }
}

/// A weight matrix on the host (`rows` outputs by `cols` inputs, row-major).
#[derive(Clone, Debug, PartialEq)]
pub enum Matrix {
    /// Group-wise affine codes.
    Affine(QuantizedMatrix),
    /// Dense f16 values.
    F16 {
        /// Output features.
        rows: usize,
        /// Inputs.
        cols: usize,
        /// `rows * cols` values.
        data: Vec<f16>,
    },
    /// Dense f32 values.
    F32 {
        /// Output features.
        rows: usize,
        /// Inputs.
        cols: usize,
        /// `rows * cols` values.
        data: Vec<f32>,
    },
}

impl Matrix {
    /// Builds `format` from float weights: quantizes for affine formats, converts otherwise.
    pub fn from_f32(name: &str, data: &[f32], rows: usize, cols: usize, format: WeightFormat) -> Result<Self> {
        if data.len() != rows * cols {
            return Err(Error::tensor(name, format!("{} values do not fill a {rows}x{cols} matrix", data.len())));
        }
        Ok(match format {
            WeightFormat::Affine(spec) => Matrix::Affine(crate::quant::quantize(name, data, rows, cols, spec)?),
            WeightFormat::F16 => Matrix::F16 { rows, cols, data: data.iter().map(|&v| f16::from_f32(v)).collect() },
            WeightFormat::F32 => Matrix::F32 { rows, cols, data: data.to_vec() },
        })
    }

    /// The runtime format.
    pub fn format(&self) -> WeightFormat {
        match self {
            Matrix::Affine(m) => WeightFormat::Affine(m.spec),
            Matrix::F16 { .. } => WeightFormat::F16,
            Matrix::F32 { .. } => WeightFormat::F32,
        }
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        match self {
            Matrix::Affine(m) => m.rows,
            Matrix::F16 { rows, .. } | Matrix::F32 { rows, .. } => *rows,
        }
    }

    /// Inputs.
    pub fn cols(&self) -> usize {
        match self {
            Matrix::Affine(m) => m.cols,
            Matrix::F16 { cols, .. } | Matrix::F32 { cols, .. } => *cols,
        }
    }

    /// Bytes a GEMV must read: codes, scales and biases, or the dense values.
    pub fn stored_bytes(&self) -> usize {
        match self {
            Matrix::Affine(m) => m.stored_bytes(),
            Matrix::F16 { data, .. } => data.len() * 2,
            Matrix::F32 { data, .. } => data.len() * 4,
        }
    }

    /// The weights as f32 (dequantized for affine formats).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            Matrix::Affine(m) => m.dequantize(),
            Matrix::F16 { data, .. } => data.iter().map(|v| v.to_f32()).collect(),
            Matrix::F32 { data, .. } => data.clone(),
        }
    }

    /// Row `r` as f32 into `out` (`cols` values; dequantized for affine formats).
    pub fn row_f32(&self, r: usize, out: &mut [f32]) {
        match self {
            Matrix::Affine(m) => m.dequantize_row(r, out),
            Matrix::F16 { cols, data, .. } => {
                for (o, v) in out.iter_mut().zip(&data[r * cols..(r + 1) * cols]) {
                    *o = v.to_f32();
                }
            }
            Matrix::F32 { cols, data, .. } => out[..*cols].copy_from_slice(&data[r * cols..(r + 1) * cols]),
        }
    }

    /// Row `r` packed in the GPU layout: [`WeightFormat::words_per_row`] words, padding zero.
    pub fn gpu_row_words(&self, r: usize, out: &mut [u32]) {
        out.iter_mut().for_each(|w| *w = 0);
        match self {
            Matrix::Affine(m) => out[..m.words_per_row()].copy_from_slice(m.row_codes(r)),
            Matrix::F16 { cols, data, .. } => {
                for (c, v) in data[r * cols..(r + 1) * cols].iter().enumerate() {
                    out[c / 2] |= u32::from(v.to_bits()) << (16 * (c % 2));
                }
            }
            Matrix::F32 { cols, data, .. } => {
                for (o, v) in out.iter_mut().zip(&data[r * cols..(r + 1) * cols]) {
                    *o = v.to_bits();
                }
            }
        }
    }
}

/// A sparse correction added to `y = W x`: `y[r] += sum value * x[col]` over the entries of
/// row `r` — the outliers of an ECSQ matrix at run time ([`crate::ecsq`]). Only rows with
/// entries are listed (compressed sparse rows over those rows), so an empty correction costs
/// nothing and a GPU dispatch covers only the rows that have work.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseRows {
    /// Rows of the matrix it corrects.
    pub rows: usize,
    /// Columns (inputs) of the matrix it corrects.
    pub cols: usize,
    /// The rows that have entries, increasing.
    pub row_index: Vec<u32>,
    /// `row_index.len() + 1` offsets: the entries of `row_index[i]` are `row_ptr[i]..row_ptr[i + 1]`.
    pub row_ptr: Vec<u32>,
    /// Column of each entry.
    pub col: Vec<u32>,
    /// Value of each entry.
    pub value: Vec<f32>,
}

impl SparseRows {
    /// Builds the rows from entries `(row * cols + col, value)` in increasing index order.
    pub fn from_sorted(rows: usize, cols: usize, entries: impl IntoIterator<Item = (u32, f32)>) -> Result<Self> {
        let mut s = SparseRows { rows, cols, row_ptr: vec![0], ..SparseRows::default() };
        let mut last: Option<u32> = None;
        for (i, v) in entries {
            let (r, c) = (i as usize / cols.max(1), i as usize % cols.max(1));
            if r >= rows || last.is_some_and(|l| i <= l) {
                return Err(Error::InvalidArgument(format!(
                    "sparse entry {i}: indices must increase and lie below {rows}x{cols}"
                )));
            }
            if s.row_index.last() != Some(&(r as u32)) {
                s.row_index.push(r as u32);
                s.row_ptr.push(s.col.len() as u32);
            }
            s.col.push(c as u32);
            s.value.push(v);
            *s.row_ptr.last_mut().expect("one offset per listed row") = s.col.len() as u32;
            last = Some(i);
        }
        Ok(s)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.col.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.col.is_empty()
    }

    /// Adds the correction to `y` for `batch` vectors back to back in `x` (each `cols` long) and
    /// `y` (each `rows` long): the CPU reference of the GPU's `sparse_add` kernel (f64 sums).
    pub fn add_to(&self, x: &[f32], batch: usize, y: &mut [f32]) -> Result<()> {
        if x.len() != batch * self.cols || y.len() != batch * self.rows {
            return Err(Error::InvalidArgument(format!(
                "sparse add: {} inputs and {} outputs for {batch} vectors of a {}x{} matrix",
                x.len(),
                y.len(),
                self.rows,
                self.cols
            )));
        }
        for b in 0..batch {
            let xb = &x[b * self.cols..(b + 1) * self.cols];
            for (i, &r) in self.row_index.iter().enumerate() {
                let range = self.row_ptr[i] as usize..self.row_ptr[i + 1] as usize;
                let acc: f64 = range.map(|k| f64::from(self.value[k]) * f64::from(xb[self.col[k] as usize])).sum();
                let out = &mut y[b * self.rows + r as usize];
                *out = (f64::from(*out) + acc) as f32;
            }
        }
        Ok(())
    }
}
