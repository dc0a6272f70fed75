//! The `.ecq` container: quantized and entropy-coded tensors in a safetensors file.
//!
//! A `.ecq` file is a valid safetensors file, so every safetensors reader can open it and list
//! its arrays; the `__metadata__` says how the arrays make up tensors. This documentation is the
//! normative description of **format version 1**.
//!
//! # File
//! safetensors: an 8-byte little-endian header length `n`, `n` bytes of UTF-8 JSON, then the
//! data section, which the arrays tile exactly (no gaps, no trailing bytes). All numbers are
//! little-endian.
//!
//! # `__metadata__` (string values only, as safetensors requires)
//! - `ecq.version`: `"1"`.
//! - `ecq.tensors`: a JSON list of the tensor names in file order, non-empty and distinct.
//! - `ecq.tensor.<name>`: for every listed name, the tensor's *entry*, a JSON object (below).
//!
//! Other keys starting with `ecq.` are errors; keys without that prefix are ignored (free for
//! tools, e.g. provenance).
//!
//! # Arrays
//! Tensor `<name>` is stored as the safetensors arrays `<name>.<part>`; no other arrays exist.
//! Part names contain no dot, so splitting an array name at its last dot gives tensor and part.
//! The `kind` field of the entry says which arrays a tensor has, with exactly these dtypes and
//! shapes (`rows, cols` from the entry's `shape`; `groups = ceil(cols / group_size)`):
//!
//! | kind | array | dtype | shape | content |
//! |---|---|---|---|---|
//! | `affine-rans` | `states` | U32 | `[n_blocks, 32]` | rANS final states, lane-minor |
//! | | `offsets` | U32 | `[n_blocks + 1]` | block word offsets (16-bit units) |
//! | | `words` | U32 | `[ceil(num_words / 2)]` | 16-bit words, two per u32 |
//! | | `scales` | F16 | `[rows, groups]` | affine scale per group |
//! | | `biases` | F16 | `[rows, groups]` | affine bias per group; absent when `symmetric` |
//! | `affine` | `codes` | U32 | `[rows, words_per_row]` | packed codes ([`crate::quant::pack`]) |
//! | | `scales`, `biases` | F16 | `[rows, groups]` | as above |
//! | `ecsq` | `data` | U32 | `[bytes / 4]` | one [`crate::ecsq::EcsqMatrix`] serialization |
//! | `f16` | `data` | F16 | `shape` | raw values, row-major |
//! | `f32` | `data` | F32 | `shape` | raw values, row-major |
//!
//! # Entries
//! Every entry has `kind`, `shape` (list of dims, outermost first) and `checksum` (below); no
//! other fields than those of its kind are allowed.
//! - `affine` (group-wise affine codes, `w = scale * q + bias`, [`crate::quant::affine`]):
//!   `bits` (2, 3, 4, 8), `group_size` (32, 64, 128); `shape = [rows, cols]`, both `>= 1`.
//!   Padding bits past the `cols` codes of a row are zero. `words_per_row` is
//!   `ceil(groups * group_size * bits / 32)`. Optional `symmetric` (default `false`): when
//!   `true` there is no `biases` array and every bias is `-2^(bits-1) * scale`, computed in f32
//!   (exact) and rounded to f16 (ggml's Q4_0 / Q8_0 `w = d * (q - 2^(bits-1))`). Writers set it
//!   only when every stored bias is finite and equal to that, bit for bit.
//! - `affine-rans`: the fields of `affine`, plus the rANS stream of the codes: `prob_bits`
//!   (10..=12), `freqs` (the frequency table: `1..=2^bits` integers summing to `2^prob_bits`),
//!   `block_rows` (`1..=rows`) and `num_words`. The symbols are the `rows * cols` codes in
//!   row-major order, one symbol per code, *padding excluded*; blocks hold `block_rows` whole
//!   rows (`block_len = block_rows * cols`, `n_blocks = ceil(rows / block_rows)`, the last block
//!   may be shorter). States, offsets, words and table follow [`crate::rans`] exactly; a GPU
//!   decoder binds the three arrays as they are.
//! - `ecsq` (entropy-coded scalar quantization, [`crate::ecsq`]): `shape = [rows, cols]`, both
//!   `>= 1`, and `bytes`, a positive multiple of 4: the length of the `data` array, which holds
//!   exactly the bytes of [`crate::ecsq::EcsqMatrix::to_bytes`] (its own header, steps, outliers
//!   and rANS stream with checksum; validated by `EcsqMatrix::from_bytes`, and its `rows x cols`
//!   must equal `shape`).
//! - `f16`, `f32`: nothing more; any shape, including 1-D and scalars.
//!
//! An example (layer 0 of all-MiniLM-L6-v2, `output.dense`, quantized to q4g64):
//! ```text
//! {"kind":"affine-rans","shape":[384,1536],"bits":4,"group_size":64,"prob_bits":10,
//!  "freqs":[22,18,29,47,68,91,113,126,124,113,92,68,45,29,17,22],"block_rows":19,
//!  "num_words":136670,"checksum":"1b6d5cc4a3aa286e"}
//! ```
//!
//! # Checksum
//! `checksum` is 16 lowercase hex digits: the XXH64 (seed 0) of the *decoded* tensor, serialized
//! as a descriptor line followed by the content:
//! - the descriptor is the ASCII text `"<format> <dims>\n"`: format `q<bits>g<group_size>` for
//!   both affine kinds, else `f16` / `f32`; dims in decimal joined by `x` (`q4g64 576x1536\n`,
//!   `f32 576\n`, and `f32 \n` for a scalar);
//! - affine kinds: the `rows * cols` codes as one byte each, row-major, padding excluded, then the
//!   scales, then the biases, stored or implied (f16 little-endian, row-major);
//! - `f16`, `f32`: the values, little-endian, row-major.
//! - `ecsq` (descriptor `ecsq RxC`): the run-time codes `u = j + 128` (one byte each, row-major),
//!   the steps (f16), the outlier indices (u32) and corrections (f16). GPU decoders write `u`
//!   directly by offsetting the decode table's symbols by `code_min + 128`
//!   ([`Tensor::rans_symbol_offset`]).
//!
//! It covers everything the decoded values depend on (format, shape, codes, scales), and is the
//! same whether the codes are rANS-coded or packed. A GPU decoder's output (one code per byte,
//! row-major) is checked by hashing it with the stored scales and biases
//! ([`Tensor::check_codes`]).
//!
//! # Validation
//! [`Container::from_bytes`] checks, before building anything: the header length and JSON, the
//! version, the tensor list, each entry's fields and ranges (with overflow-checked sizes), that
//! every array belongs to a listed tensor and has exactly the dtype and shape its entry implies,
//! that no array is missing, and that the arrays tile the data section (a truncated file names
//! the first array cut). It then builds the rANS streams through
//! [`crate::rans::Encoded::from_parts`] (table and offsets validated) and checks that packed codes
//! have zero padding. What only decoding can check (rANS words and states, and the checksum)
//! is checked by [`Tensor::decode_cpu`]. No step panics or reads out of bounds on any input, and
//! the work of decoding is bounded by the file's size: the scales must be present, 2 bytes for
//! each group of at most 128 codes.
//!
//! # Writer conventions (not required of other writers)
//! Header keys in the order above, then the arrays in data order; data order is every 4-byte
//! array (U32, F32) in tensor order, then every F16 array in tensor order; the header is padded
//! with spaces to a multiple of 8 bytes. So every array starts at a file offset that is a
//! multiple of its element size, and a memory-mapped file can be bound as it is.
//!
//! `tools/ecq-xcheck.py` is an independent reader written from this description alone (rANS
//! decoding and checksums in plain Python).
//!
//! # Adding a kind
//! A new kind (e.g. entropy-coded scalar quantization) adds a variant to the entry (`meta.rs`,
//! with the arrays it needs), to [`Payload`] and [`Kind`], and a module that builds, writes and
//! decodes it; readers of an older version reject it as an invalid entry.

mod affine;
mod checksum;
pub mod convert;
mod error;
mod meta;
mod read;
mod stats;
mod tensor;
#[cfg(test)]
mod tests;
mod write;

use std::collections::HashSet;
use std::path::Path;

pub use affine::AffineRans;
pub use error::{ContainerError, Part};
pub use stats::{FileStats, TensorStats};
pub use tensor::{Coding, Kind, Payload, StoredSize, Tensor};

use crate::{Error, Result};

/// The format version this crate reads and writes.
pub const VERSION: &str = "1";
/// Prefix of every ecq key in `__metadata__`.
const KEY_PREFIX: &str = "ecq.";
const KEY_VERSION: &str = "ecq.version";
const KEY_TENSORS: &str = "ecq.tensors";
const TENSOR_KEY_PREFIX: &str = "ecq.tensor.";

/// The tensors of a `.ecq` file, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Container {
    tensors: Vec<Tensor>,
}

impl Container {
    /// A container of `tensors` (names must be non-empty and distinct).
    pub fn new(tensors: Vec<Tensor>) -> Result<Self> {
        let mut seen = HashSet::with_capacity(tensors.len());
        for t in &tensors {
            if t.name.is_empty() {
                return Err(Error::InvalidArgument("tensor names must not be empty".into()));
            }
            if !seen.insert(t.name.as_str()) {
                return Err(Error::tensor(&t.name, "appears twice in the container"));
            }
        }
        Ok(Container { tensors })
    }

    /// Reads and validates a file (see the [module docs](self) for what is checked).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Ok(Self::from_bytes(&bytes)?)
    }

    /// Parses and validates file bytes.
    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<Self, ContainerError> {
        Ok(Container { tensors: read::read(bytes)? })
    }

    /// The serialized file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let layout = write::Layout::new(&self.tensors);
        let mut out = Vec::with_capacity(layout.file_len());
        layout.write_to(&mut out).expect("writing to a Vec cannot fail");
        out
    }

    /// Writes the file atomically (a temporary file beside `path`, then renamed).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        write::write_file(&self.tensors, path.as_ref())
    }

    /// The tensors, in file order.
    pub fn tensors(&self) -> &[Tensor] {
        &self.tensors
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The tensors, by value.
    pub fn into_tensors(self) -> Vec<Tensor> {
        self.tensors
    }

    /// Bytes of the serialized file.
    pub fn file_len(&self) -> usize {
        write::Layout::new(&self.tensors).file_len()
    }

    /// Stored bytes of every tensor, in file order, header share included. Their totals add up
    /// to the file length less the file's fixed overhead (header length, version, list
    /// punctuation, padding).
    pub fn stored_sizes(&self) -> Vec<StoredSize> {
        let layout = write::Layout::new(&self.tensors);
        (0..self.tensors.len()).map(|i| layout.stored_size(&self.tensors, i)).collect()
    }
}
