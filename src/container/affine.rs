//! The two affine kinds: `affine-rans` (codes coded with rANS) and `affine` (packed codes).

use half::f16;
use rayon::prelude::*;

use super::error::{ContainerError, Part};
use super::meta::{ArraySpec, Dtype};
use crate::quant::{AffineSpec, QuantizedMatrix, pack};
use crate::rans::{self, Encoded, FreqTable, RansError};

/// Largest loss, relative to the 12-bit table, accepted for a smaller rANS probability
/// precision (smaller decode tables leave GPU workgroup memory free).
const PROB_BITS_MAX_LOSS: f64 = 0.001;

/// Shape of an affine tensor, checked against the format's limits and for overflow.
pub(crate) struct Geometry {
    pub spec: AffineSpec,
    pub rows: usize,
    pub cols: usize,
    pub groups: usize,
    pub words_per_row: usize,
}

impl Geometry {
    pub(crate) fn new(name: &str, shape: &[usize], bits: u32, group_size: u32) -> Result<Self, ContainerError> {
        let bad = |msg: String| ContainerError::tensor_part(name, Part::Metadata, msg);
        let spec = AffineSpec::new(bits, group_size).map_err(|e| bad(e.to_string()))?;
        let &[rows, cols] = shape else {
            return Err(bad(format!("affine tensors are 2-D, shape is {shape:?}")));
        };
        if rows == 0 || cols == 0 {
            return Err(bad(format!("empty shape {shape:?}")));
        }
        let groups = cols.div_ceil(group_size as usize);
        let words_per_row = crate::quant::affine::words_per_row(cols, spec);
        // Every array size derived from the shape must be representable.
        for n in [cols, groups, words_per_row] {
            rows.checked_mul(n)
                .and_then(|x| x.checked_mul(4))
                .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
        }
        Ok(Geometry { spec, rows, cols, groups, words_per_row })
    }

    /// The scales and (unless symmetric) biases arrays: f16, `rows x groups`.
    pub(crate) fn scale_arrays(&self, symmetric: bool) -> Vec<ArraySpec> {
        let parts: &[Part] = if symmetric { &[Part::Scales] } else { &[Part::Scales, Part::Biases] };
        parts.iter().map(|&part| ArraySpec { part, dtype: Dtype::F16, shape: vec![self.rows, self.groups] }).collect()
    }
}

/// The bias a symmetric group has: `-2^(bits-1) * scale`, computed in f32 (exact) and rounded to
/// f16 (exact unless it overflows). Q4_0 and Q8_0 imports have these biases.
fn symmetric_bias(bits: u32, scale: f16) -> f16 {
    f16::from_f32(-((1u32 << (bits - 1)) as f32) * scale.to_f32())
}

/// Are all biases the symmetric ones of their scales (bit for bit, and finite)? Then they are
/// not stored.
pub(crate) fn is_symmetric(bits: u32, scales: &[f16], biases: &[f16]) -> bool {
    scales.len() == biases.len()
        && scales.iter().zip(biases).all(|(&s, &b)| {
            let implied = symmetric_bias(bits, s);
            implied.is_finite() && implied.to_bits() == b.to_bits()
        })
}

/// The biases of symmetric groups.
pub(crate) fn symmetric_biases(bits: u32, scales: &[f16]) -> Vec<f16> {
    scales.iter().map(|&s| symmetric_bias(bits, s)).collect()
}

/// Affine codes coded with rANS: one symbol per code, row-major, padding excluded, in blocks of
/// whole rows; scales and biases stored as they are.
#[derive(Clone, Debug, PartialEq)]
pub struct AffineRans {
    pub(crate) spec: AffineSpec,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) block_rows: usize,
    pub(crate) stream: Encoded,
    pub(crate) scales: Vec<f16>,
    pub(crate) biases: Vec<f16>,
}

impl AffineRans {
    /// Bits and group size of the codes.
    pub fn spec(&self) -> AffineSpec {
        self.spec
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Inputs (codes per row).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Matrix rows per rANS block (the stream's block length is `block_rows * cols`).
    pub fn block_rows(&self) -> usize {
        self.block_rows
    }

    /// The rANS stream of the codes: what a GPU decoder binds.
    pub fn stream(&self) -> &Encoded {
        &self.stream
    }

    /// `rows x groups` scales, row-major.
    pub fn scales(&self) -> &[f16] {
        &self.scales
    }

    /// `rows x groups` biases, row-major.
    pub fn biases(&self) -> &[f16] {
        &self.biases
    }

    /// Codes every row of `m` with rANS. `codes` are `m`'s codes unpacked ([`unpack_codes`]).
    pub(crate) fn encode(m: &QuantizedMatrix, codes: &[u8]) -> Result<Self, RansError> {
        let hist = rans::histogram(codes);
        let table = FreqTable::from_histogram(&hist, rans::choose_prob_bits(&hist, PROB_BITS_MAX_LOSS)?)?;
        let block_rows = rans::rows_per_block(&table, m.cols, m.rows);
        let stream = rans::encode(codes, &table, block_rows * m.cols)?;
        Ok(AffineRans {
            spec: m.spec,
            rows: m.rows,
            cols: m.cols,
            block_rows,
            stream,
            scales: m.scales.clone(),
            biases: m.biases.clone(),
        })
    }

    /// Packs decoded codes (one per byte, row-major) into the MLX layout, padding zero.
    pub(crate) fn to_matrix(&self, codes: &[u8]) -> QuantizedMatrix {
        let wpr = crate::quant::affine::words_per_row(self.cols, self.spec);
        let mut packed = vec![0u32; self.rows * wpr];
        packed.par_chunks_mut(wpr).zip(codes.par_chunks(self.cols)).for_each(|(out, row)| {
            pack::pack_into(row, self.spec.bits, out);
        });
        QuantizedMatrix {
            spec: self.spec,
            rows: self.rows,
            cols: self.cols,
            codes: packed,
            scales: self.scales.clone(),
            biases: self.biases.clone(),
        }
    }
}

/// All codes of `m`, one per byte, row-major, padding excluded.
pub(crate) fn unpack_codes(m: &QuantizedMatrix) -> Vec<u8> {
    let (bits, cols) = (m.spec.bits, m.cols);
    let mut out = vec![0u8; m.rows * cols];
    out.par_chunks_mut(cols).enumerate().for_each(|(r, row)| {
        let words = m.row_codes(r);
        if 32 % bits == 0 {
            // Codes never straddle words: take them word by word.
            let per_word = (32 / bits) as usize;
            let mask = (1u32 << bits) - 1;
            for (chunk, &w) in row.chunks_mut(per_word).zip(words) {
                for (k, c) in chunk.iter_mut().enumerate() {
                    *c = ((w >> (k as u32 * bits)) & mask) as u8;
                }
            }
        } else {
            for (j, c) in row.iter_mut().enumerate() {
                *c = pack::get(words, bits, j);
            }
        }
    });
    out
}

/// The first row of `m` whose padding bits (past `cols` codes) are not zero.
pub(crate) fn nonzero_padding_row(m: &QuantizedMatrix) -> Option<usize> {
    let used = m.cols * m.spec.bits as usize;
    (0..m.rows).find(|&r| {
        let row = m.row_codes(r);
        let (w, b) = (used / 32, (used % 32) as u32);
        let partial = b != 0 && row[w] >> b != 0;
        let whole_from = if b == 0 { w } else { w + 1 };
        partial || row[whole_from..].iter().any(|&x| x != 0)
    })
}
