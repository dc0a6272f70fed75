//! One stored tensor: its kind, content, checksum, CPU decoding and stored size.

use half::f16;

use super::affine::{AffineRans, is_symmetric, nonzero_padding_row, unpack_codes};
use super::checksum::{self, Checksum};
use super::error::ContainerError;
use super::meta::{Entry, Hex64};
use crate::ecsq::EcsqMatrix;
use crate::quant::QuantizedMatrix;
use crate::rans::Encoded;
use crate::weights::Matrix;
use crate::{Error, Result};

/// How a tensor is stored (the `kind` field of its entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `affine-rans`: affine codes coded with rANS, f16 scales and biases.
    AffineRans,
    /// `affine`: packed affine codes (MLX layout), f16 scales and biases.
    Affine,
    /// `f16`: raw f16 values.
    F16,
    /// `f32`: raw f32 values.
    F32,
    /// `ecsq`: entropy-coded scalar quantization ([`crate::ecsq`]).
    Ecsq,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] = [Kind::AffineRans, Kind::Affine, Kind::F16, Kind::F32, Kind::Ecsq];

    /// The name in the file (`affine-rans`, `affine`, `f16`, `f32`, `ecsq`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::AffineRans => "affine-rans",
            Kind::Affine => "affine",
            Kind::F16 => "f16",
            Kind::F32 => "f32",
            Kind::Ecsq => "ecsq",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How to store the codes of an affine matrix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Coding {
    /// rANS when it makes the codes smaller (table, states and offsets included), else packed.
    #[default]
    Auto,
    /// Always rANS.
    Rans,
    /// Always packed.
    Packed,
}

/// The content of a stored tensor, by kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// Affine codes coded with rANS.
    AffineRans(AffineRans),
    /// Packed affine codes.
    Affine(QuantizedMatrix),
    /// Raw f16 values, row-major.
    F16(Vec<f16>),
    /// Raw f32 values, row-major.
    F32(Vec<f32>),
    /// An ECSQ matrix, and its serialization as stored (little-endian u32 words).
    Ecsq(EcsqMatrix, Vec<u32>),
}

/// Bytes stored for one tensor, by kind of content.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoredSize {
    /// The codes themselves: rANS words, packed codes (padding included) or raw values.
    pub codes: usize,
    /// rANS final states.
    pub states: usize,
    /// rANS block word offsets.
    pub offsets: usize,
    /// rANS frequency table as 2 bytes per symbol, the binary equivalent of the JSON list that
    /// is stored inside [`StoredSize::metadata`] (so not part of [`StoredSize::total`]).
    pub table: usize,
    /// Scales and biases.
    pub scales: usize,
    /// The tensor's share of the file header: its JSON entry and its arrays' headers, as this
    /// writer stores them.
    pub metadata: usize,
}

impl StoredSize {
    /// What coding the codes costs: codes, states, offsets and table.
    pub fn code_bytes(&self) -> usize {
        self.codes + self.states + self.offsets + self.table
    }

    /// Everything stored for the tensor: arrays and header share.
    pub fn total(&self) -> usize {
        self.codes + self.states + self.offsets + self.scales + self.metadata
    }
}

/// A tensor as stored in a `.ecq` file.
///
/// Built by the validating constructors ([`Tensor::affine`], [`Tensor::f16`], ...) or read by
/// [`super::Container`], so its arrays always fit its shape; the content of rANS streams and the
/// checksum are checked when decoding.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub(crate) name: String,
    pub(crate) shape: Vec<usize>,
    pub(crate) checksum: u64,
    pub(crate) payload: Payload,
}

impl Tensor {
    /// Stores an affine matrix, coding its codes as `coding` says. Errors when the matrix's
    /// arrays do not fit its shape, when its padding codes are not zero (they are not stored),
    /// or when rANS is asked for and cannot code the matrix (more than `2^32 - 1` codes).
    pub fn affine(name: &str, m: QuantizedMatrix, coding: Coding) -> Result<Self> {
        m.validate(name)?;
        if let Some(r) = nonzero_padding_row(&m) {
            return Err(Error::tensor(name, format!("row {r} has non-zero padding codes")));
        }
        let codes = unpack_codes(&m);
        let checksum = checksum::affine(&m.spec.name(), m.rows, m.cols, &codes, &m.scales, &m.biases);
        let shape = vec![m.rows, m.cols];
        let packed_bytes = m.codes.len() * 4;
        let payload = match coding {
            Coding::Packed => Payload::Affine(m),
            Coding::Rans => {
                Payload::AffineRans(AffineRans::encode(&m, &codes).map_err(|e| ContainerError::rans(name, e))?)
            }
            Coding::Auto => match AffineRans::encode(&m, &codes) {
                Ok(r) if code_bytes(&r.stream) < packed_bytes => Payload::AffineRans(r),
                _ => Payload::Affine(m),
            },
        };
        Ok(Tensor { name: name.to_string(), shape, checksum, payload })
    }

    /// Stores an ECSQ matrix (decodes it once on the CPU for the checksum, so a broken
    /// stream is an error here).
    pub fn ecsq(name: &str, m: EcsqMatrix) -> Result<Self> {
        let codes = ecsq_codes(&m)?;
        let checksum = checksum::ecsq(m.rows(), m.cols(), &codes, &m);
        let words = m.to_bytes().chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok(Tensor {
            name: name.to_string(),
            shape: vec![m.rows(), m.cols()],
            checksum,
            payload: Payload::Ecsq(m, words),
        })
    }

    /// Stores raw f16 values of any shape (row-major).
    pub fn f16(name: &str, shape: Vec<usize>, data: Vec<f16>) -> Result<Self> {
        check_len(name, &shape, data.len())?;
        let checksum = Checksum::new("f16", &shape).f16s(&data).finish();
        Ok(Tensor { name: name.to_string(), shape, checksum, payload: Payload::F16(data) })
    }

    /// Stores raw f32 values of any shape (row-major).
    pub fn f32(name: &str, shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        check_len(name, &shape, data.len())?;
        let checksum = Checksum::new("f32", &shape).f32s(&data).finish();
        Ok(Tensor { name: name.to_string(), shape, checksum, payload: Payload::F32(data) })
    }

    /// Stores a matrix: affine matrices as [`Tensor::affine`], dense ones raw with shape
    /// `[rows, cols]`.
    pub fn from_matrix(name: &str, m: Matrix, coding: Coding) -> Result<Self> {
        match m {
            Matrix::Affine(q) => Tensor::affine(name, q, coding),
            Matrix::F16 { rows, cols, data } => Tensor::f16(name, vec![rows, cols], data),
            Matrix::F32 { rows, cols, data } => Tensor::f32(name, vec![rows, cols], data),
        }
    }

    /// The tensor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Logical shape (`[rows, cols]` for affine kinds).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of weights (the product of the shape).
    pub fn n_weights(&self) -> usize {
        self.shape.iter().product()
    }

    /// How it is stored.
    pub fn kind(&self) -> Kind {
        match self.payload {
            Payload::AffineRans(_) => Kind::AffineRans,
            Payload::Affine(_) => Kind::Affine,
            Payload::F16(_) => Kind::F16,
            Payload::F32(_) => Kind::F32,
            Payload::Ecsq(..) => Kind::Ecsq,
        }
    }

    /// The weight format it decodes to (`q4g64`, `f16`, ...).
    pub fn format(&self) -> crate::weights::WeightFormat {
        use crate::weights::WeightFormat;
        match &self.payload {
            Payload::AffineRans(r) => WeightFormat::Affine(r.spec),
            Payload::Affine(m) => WeightFormat::Affine(m.spec),
            Payload::F16(_) => WeightFormat::F16,
            Payload::F32(_) => WeightFormat::F32,
            Payload::Ecsq(m, _) => WeightFormat::Affine(crate::quant::AffineSpec {
                bits: 8,
                group_size: crate::ecsq::runtime_group_size(m.cols()),
            }),
        }
    }

    /// The stored content.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The rANS stream of the codes, for `affine-rans` tensors.
    pub fn rans(&self) -> Option<&Encoded> {
        match &self.payload {
            Payload::AffineRans(r) => Some(&r.stream),
            Payload::Ecsq(m, _) => Some(m.stream()),
            _ => None,
        }
    }

    /// What a GPU decoder adds to each rANS symbol of [`Tensor::rans`] to get the codes that
    /// [`Tensor::check_codes`] expects: 0 for `affine-rans`, `code_min + 128` for `ecsq`.
    pub fn rans_symbol_offset(&self) -> u32 {
        match &self.payload {
            Payload::Ecsq(m, _) => (i32::from(m.code_min()) + 128) as u32,
            _ => 0,
        }
    }

    /// The stored checksum of the decoded tensor (see the [module docs](super)).
    pub fn checksum(&self) -> u64 {
        self.checksum
    }

    /// The codes, one per byte, row-major (padding excluded), for affine kinds: rANS-decoded on
    /// the CPU or unpacked. Not checked against the checksum (that needs the scales too: see
    /// [`Tensor::check_codes`]).
    pub fn codes_cpu(&self) -> Result<Option<Vec<u8>>> {
        match &self.payload {
            Payload::AffineRans(r) => Ok(Some(r.stream.decode().map_err(|e| ContainerError::rans(&self.name, e))?)),
            Payload::Affine(m) => Ok(Some(unpack_codes(m))),
            Payload::Ecsq(m, _) => Ok(Some(ecsq_codes(m)?)),
            Payload::F16(_) | Payload::F32(_) => Ok(None),
        }
    }

    /// Checks codes decoded elsewhere (e.g. on a GPU by `decoder`) against the checksum, with
    /// this tensor's scales and biases. Errors for raw kinds, which have no codes.
    pub fn check_codes(&self, codes: &[u8], decoder: &str) -> Result<()> {
        if let Payload::Ecsq(m, _) = &self.payload {
            if codes.len() != m.rows() * m.cols() {
                return Err(Error::tensor(
                    &self.name,
                    format!("{} codes for a {}x{} matrix", codes.len(), m.rows(), m.cols()),
                ));
            }
            return self.expect_checksum(checksum::ecsq(m.rows(), m.cols(), codes, m), decoder);
        }
        let (format, scales, biases) = match &self.payload {
            Payload::AffineRans(r) => (r.spec.name(), &r.scales, &r.biases),
            Payload::Affine(m) => (m.spec.name(), &m.scales, &m.biases),
            Payload::F16(_) | Payload::F32(_) | Payload::Ecsq(..) => {
                return Err(Error::tensor(&self.name, format!("{} tensors have no codes", self.kind())));
            }
        };
        let (rows, cols) = (self.shape[0], self.shape[1]);
        if codes.len() != rows * cols {
            return Err(Error::tensor(&self.name, format!("{} codes for a {rows}x{cols} matrix", codes.len())));
        }
        let actual = checksum::affine(&format, rows, cols, codes, scales, biases);
        self.expect_checksum(actual, decoder)
    }

    fn expect_checksum(&self, actual: u64, decoder: &str) -> Result<()> {
        if actual == self.checksum {
            return Ok(());
        }
        Err(ContainerError::Checksum {
            tensor: self.name.clone(),
            decoder: decoder.to_string(),
            stored: self.checksum,
            actual,
        }
        .into())
    }

    /// Decodes on the CPU (the reference path) and checks the result against the checksum.
    ///
    /// ECSQ tensors become dense f32 (`step * j` plus the outliers, exact).
    ///
    /// Raw tensors become `rows x cols` matrices with `cols` the last dimension and `rows` the
    /// product of the others (a 1-D tensor of `n` is `1 x n`, a scalar `1 x 1`).
    pub fn decode_cpu(&self) -> Result<Matrix> {
        match &self.payload {
            Payload::AffineRans(r) => {
                let codes = r.stream.decode().map_err(|e| ContainerError::rans(&self.name, e))?;
                self.check_codes(&codes, "CPU")?;
                Ok(Matrix::Affine(r.to_matrix(&codes)))
            }
            Payload::Affine(m) => {
                self.check_codes(&unpack_codes(m), "CPU")?;
                Ok(Matrix::Affine(m.clone()))
            }
            Payload::F16(data) => {
                self.expect_checksum(Checksum::new("f16", &self.shape).f16s(data).finish(), "CPU")?;
                let (rows, cols) = rows_cols(&self.shape);
                Ok(Matrix::F16 { rows, cols, data: data.clone() })
            }
            Payload::F32(data) => {
                self.expect_checksum(Checksum::new("f32", &self.shape).f32s(data).finish(), "CPU")?;
                let (rows, cols) = rows_cols(&self.shape);
                Ok(Matrix::F32 { rows, cols, data: data.clone() })
            }
            Payload::Ecsq(m, _) => {
                self.check_codes(&ecsq_codes(m)?, "CPU")?;
                Ok(Matrix::F32 { rows: m.rows(), cols: m.cols(), data: m.dequantize()? })
            }
        }
    }

    /// The JSON entry describing this tensor.
    pub(crate) fn entry(&self) -> Entry {
        let (shape, checksum) = (self.shape.clone(), Hex64(self.checksum));
        match &self.payload {
            Payload::AffineRans(r) => Entry::AffineRans {
                shape,
                bits: r.spec.bits,
                group_size: r.spec.group_size,
                symmetric: is_symmetric(r.spec.bits, &r.scales, &r.biases),
                prob_bits: r.stream.table().prob_bits(),
                freqs: r.stream.table().freqs().to_vec(),
                block_rows: r.block_rows,
                num_words: r.stream.num_words() as u32,
                checksum,
            },
            Payload::Affine(m) => Entry::Affine {
                shape,
                bits: m.spec.bits,
                group_size: m.spec.group_size,
                symmetric: is_symmetric(m.spec.bits, &m.scales, &m.biases),
                checksum,
            },
            Payload::F16(_) => Entry::F16 { shape, checksum },
            Payload::F32(_) => Entry::F32 { shape, checksum },
            Payload::Ecsq(_, words) => Entry::Ecsq { shape, bytes: 4 * words.len(), checksum },
        }
    }

    /// Stored bytes of the arrays (the header share is added by the container).
    pub(crate) fn array_sizes(&self) -> StoredSize {
        match &self.payload {
            Payload::AffineRans(r) => {
                let s = r.stream.sizes();
                StoredSize {
                    codes: s.words,
                    states: s.states,
                    offsets: s.offsets,
                    table: s.table,
                    scales: scale_bytes(r.spec.bits, &r.scales, &r.biases),
                    metadata: 0,
                }
            }
            Payload::Affine(m) => StoredSize {
                codes: 4 * m.codes.len(),
                scales: scale_bytes(m.spec.bits, &m.scales, &m.biases),
                ..StoredSize::default()
            },
            Payload::F16(d) => StoredSize { codes: 2 * d.len(), ..StoredSize::default() },
            Payload::F32(d) => StoredSize { codes: 4 * d.len(), ..StoredSize::default() },
            Payload::Ecsq(m, words) => {
                // The table, headers and outliers are counted with the codes: all in one array.
                let s = m.stream().sizes();
                let scales = (2 * m.steps().len()).next_multiple_of(4);
                StoredSize {
                    codes: 4 * words.len() - s.states - s.offsets - scales,
                    states: s.states,
                    offsets: s.offsets,
                    scales,
                    ..StoredSize::default()
                }
            }
        }
    }
}

/// The codes of an ECSQ matrix as run-time q8 codes `u = j + 128`, one byte each, row-major.
fn ecsq_codes(m: &EcsqMatrix) -> Result<Vec<u8>> {
    Ok(m.codes()?.into_iter().map(|j| (i32::from(j) + 128) as u8).collect())
}

/// Stored bytes of scales and biases (symmetric biases are not stored).
fn scale_bytes(bits: u32, scales: &[f16], biases: &[f16]) -> usize {
    2 * (scales.len() + if is_symmetric(bits, scales, biases) { 0 } else { biases.len() })
}

/// Bytes that coding costs: words, states, offsets and table.
fn code_bytes(stream: &Encoded) -> usize {
    let s = stream.sizes();
    s.words + s.states + s.offsets + s.table
}

/// Rows and columns of a raw tensor seen as a matrix: the last dimension is the row.
fn rows_cols(shape: &[usize]) -> (usize, usize) {
    match shape.split_last() {
        None => (1, 1),
        Some((&cols, rest)) => (rest.iter().product(), cols),
    }
}

fn check_len(name: &str, shape: &[usize], len: usize) -> Result<()> {
    match shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) {
        Some(n) if n == len => Ok(()),
        _ => Err(Error::tensor(name, format!("{len} values do not fill shape {shape:?}"))),
    }
}
