//! Sizes against entropy, per tensor and per file: what `ecq inspect` reports.

use rayon::prelude::*;
use serde::Serialize;

use super::{Container, Kind};
use crate::Result;
use crate::rans::{entropy_bits, histogram};

/// One tensor's sizes, in bits per weight.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorStats {
    /// Tensor name.
    pub name: String,
    /// Weight format it decodes to (`q4g64`, `f16`, ...).
    pub format: String,
    /// Logical shape.
    pub shape: Vec<usize>,
    /// Shannon entropy of the codes' histogram in bits (affine kinds; `None` for raw values).
    pub entropy_bits: Option<f64>,
    /// Bits per weight of the codes alone: rANS words, states, offsets and table, or packed
    /// codes (padding included), or raw values.
    pub code_bits_per_weight: f64,
    /// Bits per weight of everything stored for the tensor: codes, scales and biases, and its
    /// share of the header (entry, table, array headers).
    pub total_bits_per_weight: f64,
    /// How it is stored (`affine-rans`, `affine`, `f16`, `f32`).
    pub kind: String,
    /// Number of weights.
    pub weights: usize,
    /// Stored bytes ([`super::StoredSize::total`]).
    pub bytes: usize,
}

/// Totals over a file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileStats {
    /// Always true (tells this object from the per-tensor ones in a JSON stream).
    pub total: bool,
    /// Number of tensors.
    pub tensors: usize,
    /// Weights of all tensors.
    pub weights: usize,
    /// Bytes of the file.
    pub bytes: usize,
    /// Weights of the affine tensors, over which the next three fields are averaged.
    pub coded_weights: usize,
    /// Entropy of the affine tensors' codes, averaged over their weights (each tensor's codes
    /// measured against their own histogram, as each is coded with its own table).
    pub entropy_bits: f64,
    /// Bits per weight of the affine tensors' codes alone.
    pub code_bits_per_weight: f64,
    /// Bits per weight of everything stored for the affine tensors.
    pub coded_total_bits_per_weight: f64,
    /// The whole file's bits over all weights (raw tensors and fixed overhead included).
    pub total_bits_per_weight: f64,
}

fn per_weight(bytes: usize, weights: usize) -> f64 {
    if weights == 0 { 0.0 } else { bytes as f64 * 8.0 / weights as f64 }
}

impl Container {
    /// Per-tensor and file sizes against the entropy of the codes. Decodes every coded tensor
    /// on the CPU to measure its histogram (errors if one does not decode; the checksum is not
    /// checked here).
    pub fn stats(&self) -> Result<(Vec<TensorStats>, FileStats)> {
        let sizes = self.stored_sizes();
        let rows = self
            .tensors()
            .par_iter()
            .zip(&sizes)
            .map(|(t, s)| {
                // `+ 0.0` turns the -0 of a one-symbol histogram into 0.
                let entropy = t.codes_cpu()?.map(|c| entropy_bits(&histogram(&c)) + 0.0);
                let n = t.n_weights();
                Ok(TensorStats {
                    name: t.name().to_string(),
                    format: t.format().to_string(),
                    shape: t.shape().to_vec(),
                    entropy_bits: entropy,
                    code_bits_per_weight: per_weight(s.code_bytes(), n),
                    total_bits_per_weight: per_weight(s.total(), n),
                    kind: t.kind().name().to_string(),
                    weights: n,
                    bytes: s.total(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let coded: Vec<(&TensorStats, usize)> = (self.tensors().iter().zip(&rows).zip(&sizes))
            .filter(|((t, _), _)| matches!(t.kind(), Kind::AffineRans | Kind::Affine))
            .map(|((_, r), s)| (r, s.code_bytes()))
            .collect();
        let coded_weights: usize = coded.iter().map(|(r, _)| r.weights).sum();
        let entropy: f64 = coded.iter().map(|(r, _)| r.entropy_bits.unwrap_or(0.0) * r.weights as f64).sum();
        let file = FileStats {
            total: true,
            tensors: rows.len(),
            weights: rows.iter().map(|r| r.weights).sum(),
            bytes: self.file_len(),
            coded_weights,
            entropy_bits: if coded_weights == 0 { 0.0 } else { entropy / coded_weights as f64 },
            code_bits_per_weight: per_weight(coded.iter().map(|(_, b)| b).sum(), coded_weights),
            coded_total_bits_per_weight: per_weight(coded.iter().map(|(r, _)| r.bytes).sum(), coded_weights),
            total_bits_per_weight: per_weight(self.file_len(), rows.iter().map(|r| r.weights).sum()),
        };
        Ok((rows, file))
    }
}
