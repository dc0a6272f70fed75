//! Layers as the scheduler receives them: rANS-coded affine codes with their scales (host side),
//! or matrices stored uncoded, which simply stay resident.

use std::sync::Arc;

use half::f16;
use rayon::prelude::*;

use crate::container::{Payload, Tensor};
use crate::kernels::gemv_fused::CodedAffine;
use crate::kernels::rans_decode::CodeLayout;
use crate::quant::{AffineSpec, QuantizedMatrix, pack};
use crate::rans::{self, Encoded, FreqTable};
use crate::weights::{Matrix, WeightFormat};
use crate::{Error, Result};

/// An rANS-coded affine matrix on the host: one symbol per code, row-major, blocks of
/// `block_rows` whole rows.
#[derive(Clone, Debug)]
pub struct CodedTensor {
    /// Bits and group size.
    pub spec: AffineSpec,
    /// Output features.
    pub rows: usize,
    /// Inputs.
    pub cols: usize,
    /// Rows per rANS block.
    pub block_rows: usize,
    /// The coded codes.
    pub stream: Encoded,
    /// `rows x groups` scales.
    pub scales: Vec<f16>,
    /// `rows x groups` biases.
    pub biases: Vec<f16>,
}

impl CodedTensor {
    /// Codes the codes of `m` with rANS (12-bit table from their histogram), blocks of rows chosen
    /// by [`rans::rows_per_block`].
    pub fn encode(m: &QuantizedMatrix) -> Result<Self> {
        let codes: Vec<u8> = (0..m.rows).into_par_iter().flat_map_iter(|r| m.unpack_row(r)).collect();
        Self::from_codes(m.spec, m.rows, m.cols, &codes, m.scales.clone(), m.biases.clone())
    }

    /// Codes `rows x cols` codes (one per byte, row-major) with their scales and biases.
    pub fn from_codes(
        spec: AffineSpec,
        rows: usize,
        cols: usize,
        codes: &[u8],
        scales: Vec<f16>,
        biases: Vec<f16>,
    ) -> Result<Self> {
        let groups = rows * cols.div_ceil(spec.group_size as usize);
        if codes.len() != rows * cols || scales.len() != groups || biases.len() != groups {
            return Err(Error::InvalidArgument(format!(
                "{rows}x{cols} {spec}: {} codes, {} scales, {} biases",
                codes.len(),
                scales.len(),
                biases.len()
            )));
        }
        let table = FreqTable::from_symbols(codes, rans::DEFAULT_PROB_BITS)?;
        let block_rows = rans::rows_per_block(&table, cols, rows);
        let stream = rans::encode(codes, &table, block_rows * cols)?;
        Ok(CodedTensor { spec, rows, cols, block_rows, stream, scales, biases })
    }

    /// The view the GPU upload takes.
    pub fn as_coded(&self) -> CodedAffine<'_> {
        CodedAffine {
            spec: self.spec,
            rows: self.rows,
            cols: self.cols,
            block_rows: self.block_rows,
            stream: &self.stream,
            scales: &self.scales,
            biases: &self.biases,
        }
    }

    /// Runtime format of the decoded codes.
    pub fn format(&self) -> WeightFormat {
        WeightFormat::Affine(self.spec)
    }

    /// Where decoded codes go: the packed rows the GEMV reads.
    pub fn layout(&self) -> CodeLayout {
        CodeLayout {
            bits: self.spec.bits,
            row_len: self.cols as u32,
            row_words: crate::quant::affine::words_per_row(self.cols, self.spec) as u32,
        }
    }

    /// Bytes of decoded (packed) codes.
    pub fn decoded_bytes(&self) -> u64 {
        self.layout().words(self.rows * self.cols) as u64 * 4
    }

    /// Whether the GPU decoder writes every word of this layout (2/4/8-bit codes, rows of a
    /// multiple of 32 codes, blocks of whole 32-code steps). Others are OR-ed into a zeroed
    /// buffer, which a compute pass cannot clear, so they are decoded once and kept.
    pub fn gpu_rewritable(&self) -> bool {
        matches!(self.spec.bits, 2 | 4 | 8) && self.cols % 32 == 0 && (self.block_rows * self.cols) % 32 == 0
    }

    /// Decodes on the CPU (rayon over blocks) into the packed GEMV layout.
    pub fn decode_packed_cpu(&self, name: &str) -> Result<Vec<u32>> {
        let mut codes = vec![0u8; self.rows * self.cols];
        let dec = self.stream.block_decoder();
        let block_len = self.stream.block_len();
        codes
            .par_chunks_mut(block_len.max(1))
            .enumerate()
            .try_for_each(|(b, out)| dec.decode_block(b, out))
            .map_err(|e| Error::tensor(name, format!("CPU rANS decode: {e}")))?;
        let wpr = self.layout().row_words as usize;
        let mut words = vec![0u32; self.rows * wpr];
        words
            .par_chunks_mut(wpr.max(1))
            .zip(codes.par_chunks(self.cols.max(1)))
            .for_each(|(w, c)| pack::pack_into(c, self.spec.bits, w));
        Ok(words)
    }

    /// The decoded matrix (CPU), for references.
    pub fn to_matrix(&self, name: &str) -> Result<QuantizedMatrix> {
        Ok(QuantizedMatrix {
            spec: self.spec,
            rows: self.rows,
            cols: self.cols,
            codes: self.decode_packed_cpu(name)?,
            scales: self.scales.clone(),
            biases: self.biases.clone(),
        })
    }
}

/// The weights of one layer.
#[derive(Clone, Debug)]
pub enum LayerWeights {
    /// rANS-coded affine codes: the strategy decides how they are decoded.
    Coded(Arc<CodedTensor>),
    /// Stored uncoded: kept resident in its format whatever the strategy.
    Plain(Arc<Matrix>),
}

/// A named layer.
#[derive(Clone, Debug)]
pub struct Layer {
    /// Name (tensor name in the file).
    pub name: String,
    /// Its weights.
    pub weights: LayerWeights,
}

impl Layer {
    /// A coded layer.
    pub fn coded(name: &str, t: CodedTensor) -> Self {
        Layer { name: name.to_string(), weights: LayerWeights::Coded(Arc::new(t)) }
    }

    /// An uncoded layer.
    pub fn plain(name: &str, m: Matrix) -> Self {
        Layer { name: name.to_string(), weights: LayerWeights::Plain(Arc::new(m)) }
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        match &self.weights {
            LayerWeights::Coded(t) => t.rows,
            LayerWeights::Plain(m) => m.rows(),
        }
    }

    /// Inputs.
    pub fn cols(&self) -> usize {
        match &self.weights {
            LayerWeights::Coded(t) => t.cols,
            LayerWeights::Plain(m) => m.cols(),
        }
    }

    /// A 2-D tensor of a container as a layer: `affine-rans` tensors stay coded, others are
    /// decoded on the CPU (checksum checked) and kept plain.
    pub fn from_tensor(t: &Tensor) -> Result<Self> {
        match t.payload() {
            Payload::AffineRans(r) => Ok(Layer::coded(
                t.name(),
                CodedTensor {
                    spec: r.spec,
                    rows: r.rows,
                    cols: r.cols,
                    block_rows: r.block_rows,
                    stream: r.stream.clone(),
                    scales: r.scales.clone(),
                    biases: r.biases.clone(),
                },
            )),
            _ => Ok(Layer::plain(t.name(), t.decode_cpu()?)),
        }
    }
}
