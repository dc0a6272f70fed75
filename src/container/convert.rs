//! Building a container from a safetensors or GGUF model: what `ecq compress` does.
//!
//! Per tensor, in file order (names and row order as in the source):
//!
//! | source | stored as |
//! |---|---|
//! | GGUF Q4_0, Q4_1, Q8_0 matrix | its own codes and scales, losslessly ([`Gguf::quantized_matrix`]; q4g32 / q8g32) |
//! | any other matrix, `cols >= group_size` | dequantized to f32 and quantized to the chosen affine format |
//! | any matrix, format `f16` / `f32` | converted to that format |
//! | narrower matrices, 1-D (norms, biases), other ranks | raw: f16 sources as f16, all others as f32 (exact) |
//! | safetensors integer arrays | skipped (reported) |
//!
//! Affine matrices, embeddings included, are coded as [`Coding`] says (by default rANS when it
//! pays). GGUF metadata (tokenizer, hyperparameters) is not carried over.

use std::path::Path;

use half::f16;
use rayon::prelude::*;
use safetensors::Dtype;

use super::{Coding, Container, Tensor};
use crate::io::Gguf;
use crate::io::gguf::GgmlType;
use crate::weights::{Matrix, WeightFormat};
use crate::{Error, Result};

/// What to do with the tensors that are (re-)quantized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Format of quantized matrices (default q4g64).
    pub format: WeightFormat,
    /// How affine codes are stored.
    pub coding: Coding,
    /// Store quantized matrices as ECSQ at this target instead of `format` (GGUF Q4/Q8
    /// matrices keep their own codes either way).
    pub ecsq: Option<EcsqTarget>,
}

/// The target of ECSQ matrices in a conversion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EcsqTarget {
    /// At most this many bits per weight per matrix (everything stored counted).
    Bits(f64),
    /// The weight SQNR of this affine format on each matrix, with the fewest bits.
    MatchAffine(crate::quant::AffineSpec),
}

impl Eq for EcsqTarget {}

impl EcsqTarget {
    /// Parses `ecsqB` (bits per weight, e.g. `ecsq3.5`) or `ecsq@FORMAT` (e.g. `ecsq@q4g64`;
    /// `ecsq@q4` means group 64). `None` when `s` does not start with `ecsq`.
    pub fn parse(s: &str) -> Option<Result<Self>> {
        let rest = s.strip_prefix("ecsq")?;
        Some(if let Some(f) = rest.strip_prefix('@') {
            let f = if f.contains('g') { f.to_string() } else { format!("{f}g64") };
            crate::quant::AffineSpec::parse(&f).map(EcsqTarget::MatchAffine)
        } else {
            match rest.parse::<f64>() {
                Ok(b) if b.is_finite() && b > 0.0 => Ok(EcsqTarget::Bits(b)),
                _ => Err(Error::InvalidArgument(format!("`{s}`: expected ecsqBITS (e.g. ecsq3.5) or ecsq@q4g64"))),
            }
        })
    }

    /// Quantizes one matrix to this target.
    pub fn quantize(&self, name: &str, data: &[f32], rows: usize, cols: usize) -> Result<Tensor> {
        let input = crate::ecsq::Input::new(name, data, rows, cols)?;
        let p = crate::ecsq::EcsqParams::default();
        let q = match *self {
            EcsqTarget::Bits(b) => crate::ecsq::EcsqMatrix::quantize_to_bpw(&input, b, &p)?,
            EcsqTarget::MatchAffine(spec) => {
                let a = crate::quant::affine::quantize(name, data, rows, cols, spec)?;
                let db = crate::quant::affine::sqnr_db(data, &a.dequantize());
                crate::ecsq::EcsqMatrix::quantize_to_sqnr(&input, db, &p)?
            }
        };
        Tensor::ecsq(name, q.matrix)
    }
}

/// Quantizes a matrix as the options say: ECSQ when asked (matrices of at least 16 columns),
/// else `format`.
fn quantize_matrix(name: &str, data: &[f32], rows: usize, cols: usize, opts: Options) -> Result<Tensor> {
    match opts.ecsq {
        Some(t) => t.quantize(name, data, rows, cols),
        None => Tensor::from_matrix(name, Matrix::from_f32(name, data, rows, cols, opts.format)?, opts.coding),
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: WeightFormat::Affine(crate::quant::AffineSpec { bits: 4, group_size: 64 }),
            coding: Coding::Auto,
            ecsq: None,
        }
    }
}

/// Progress of a conversion, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub enum Progress<'a> {
    /// Work is about to start on `tensors` tensors of `weights` weights in all.
    Start {
        /// Tensors to convert.
        tensors: usize,
        /// Their weights.
        weights: u64,
    },
    /// One tensor is done (tensors finish in any order).
    Done {
        /// Its name.
        name: &'a str,
        /// Its weights.
        weights: u64,
    },
}

/// A converted model.
#[derive(Debug)]
pub struct Converted {
    /// The tensors, in source order.
    pub container: Container,
    /// Source tensors that were not converted, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// Converts a safetensors or GGUF file (told apart by the GGUF magic).
pub fn convert_file(path: &Path, opts: Options, progress: &(dyn Fn(Progress<'_>) + Sync)) -> Result<Converted> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.starts_with(b"GGUF") {
        from_gguf(&Gguf::from_bytes(bytes, path)?, opts, progress)
    } else {
        from_safetensors(&bytes, path, opts, progress)
    }
}

/// Does `format` quantize a matrix with `cols` inputs? (Narrower ones stay raw: a group would be
/// mostly padding.)
fn quantizes(opts: Options, rows: usize, cols: usize) -> bool {
    if opts.ecsq.is_some() {
        return rows >= 1 && cols >= 16;
    }
    match opts.format {
        WeightFormat::Affine(s) => rows >= 1 && cols >= s.group_size as usize,
        WeightFormat::F16 | WeightFormat::F32 => rows >= 1 && cols >= 1,
    }
}

/// Converts safetensors bytes; `path` only names the source in errors.
pub fn from_safetensors(
    bytes: &[u8],
    path: &Path,
    opts: Options,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<Converted> {
    let st = crate::io::safetensors::parse(bytes, path)?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::invalid_file(path, format!("not a safetensors file: {e}")))?;
    let mut names = Vec::new();
    let mut skipped = Vec::new();
    for name in meta.offset_keys() {
        let view = st.tensor(&name).map_err(|e| Error::invalid_file(path, format!("tensor `{name}`: {e}")))?;
        match view.dtype() {
            Dtype::F32 | Dtype::F16 | Dtype::BF16 => names.push((name, view)),
            d => skipped.push((name, format!("{d:?} is not a float dtype"))),
        }
    }
    let weights = names.iter().map(|(_, v)| v.shape().iter().product::<usize>() as u64).sum();
    progress(Progress::Start { tensors: names.len(), weights });
    let tensors = names
        .par_iter()
        .map(|(name, view)| {
            let shape = view.shape().to_vec();
            let t = match shape[..] {
                [rows, cols] if quantizes(opts, rows, cols) => {
                    let f = crate::io::safetensors::to_float(name, view)?;
                    quantize_matrix(name, &f.data, rows, cols, opts)?
                }
                _ if view.dtype() == Dtype::F16 => {
                    let data = view.data().chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]])).collect();
                    Tensor::f16(name, shape, data)?
                }
                _ => Tensor::f32(name, shape, crate::io::safetensors::to_float(name, view)?.data)?,
            };
            progress(Progress::Done { name, weights: t.n_weights() as u64 });
            Ok(t)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Converted { container: Container::new(tensors)?, skipped })
}

/// Converts a GGUF model: Q4_0/Q4_1/Q8_0 matrices losslessly, others re-quantized or raw.
pub fn from_gguf(g: &Gguf, opts: Options, progress: &(dyn Fn(Progress<'_>) + Sync)) -> Result<Converted> {
    let infos = g.tensors();
    progress(Progress::Start { tensors: infos.len(), weights: infos.iter().map(|t| t.n_elements).sum() });
    let tensors = infos
        .par_iter()
        .map(|info| {
            let name = info.name.as_str();
            let shape = info.shape();
            let t = match (info.ty, &shape[..]) {
                (GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0, [_, _]) => {
                    Tensor::affine(name, g.quantized_matrix(name)?, opts.coding)?
                }
                (_, &[rows, cols]) if quantizes(opts, rows, cols) => {
                    let f = g.tensor_f32(name)?;
                    quantize_matrix(name, &f.data, rows, cols, opts)?
                }
                (GgmlType::F16, _) => {
                    let data = g.tensor_data(name)?.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]])).collect();
                    Tensor::f16(name, shape, data)?
                }
                _ => Tensor::f32(name, shape, g.tensor_f32(name)?.data)?,
            };
            progress(Progress::Done { name, weights: t.n_weights() as u64 });
            Ok(t)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Converted { container: Container::new(tensors)?, skipped: Vec::new() })
}
