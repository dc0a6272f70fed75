//! A small GGUF reader (versions 2 and 3, little-endian): metadata of every value type, tensor
//! infos, dequantization to [`FloatTensor`] and lossless import of Q4_0/Q4_1/Q8_0 into
//! [`QuantizedMatrix`](crate::quant::QuantizedMatrix) ([`import`]).
//!
//! The file is read into memory once; tensor data are slices of that buffer. Every count, length
//! and offset taken from the file is checked against the bytes that remain before anything is
//! allocated or sliced, so a truncated or hostile file yields [`Error::InvalidFile`] or
//! [`Error::Tensor`], never a panic or a huge allocation.
//!
//! **Shapes.** GGUF lists a tensor's dims innermost first (`ne0` = the contiguous dimension), so a
//! linear layer is `[in, out]` in [`TensorInfo::dims`]; [`TensorInfo::shape`] and every
//! [`FloatTensor`] returned here use the HF order, outermost first (`[out, in]`).
//!
//! **Llama Q/K rows.** llama.cpp's converter permutes the rows of `attn_q`/`attn_k` in Llama
//! models; see [`import::llama_unpermute_rows`] for when to undo it.

pub mod dequant;
pub mod import;
pub mod metadata;
#[cfg(test)]
pub(crate) mod writer;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use dequant::{GgmlType, byte_size, dequantize};
pub use import::{import_quantized, llama_unpermute_quantized, llama_unpermute_rows, llama_unpermute_tensor};
pub use metadata::{Array, Metadata, Value};

use super::FloatTensor;
use crate::{Error, Result};

/// `GGUF` as a little-endian u32.
const MAGIC: u32 = 0x4655_4747;
/// Alignment of the data section and of each tensor when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml's limit on tensor dimensions.
const MAX_DIMS: u32 = 4;
/// Nesting limit for arrays of arrays (the format allows it; real files use at most one level).
const MAX_ARRAY_DEPTH: u32 = 4;

/// One tensor's entry in the GGUF header.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// Tensor name (e.g. `blk.0.attn_q.weight`).
    pub name: String,
    /// Dims as stored, innermost first (`ne0, ne1, ...`): a linear layer is `[in, out]`.
    pub dims: Vec<u64>,
    /// Element type.
    pub ty: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    /// Number of elements (product of dims).
    pub n_elements: u64,
    /// Bytes of data, when the type's block geometry is known.
    pub n_bytes: Option<u64>,
}

impl TensorInfo {
    /// Shape in HF order, outermost first (the reverse of [`TensorInfo::dims`]).
    pub fn shape(&self) -> Vec<usize> {
        // Fits: n_elements was checked against the file size when parsing.
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
}

/// A parsed GGUF file held in memory.
#[derive(Debug)]
pub struct Gguf {
    path: PathBuf,
    bytes: Vec<u8>,
    version: u32,
    alignment: u64,
    data_offset: usize,
    meta: Metadata,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
}

impl Gguf {
    /// Reads and parses a GGUF file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(bytes, path)
    }

    /// Parses GGUF bytes already in memory; `path` only names the source in errors.
    pub fn from_bytes(bytes: Vec<u8>, path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let mut r = Reader { buf: &bytes, pos: 0, path: &path };
        let magic = r.u32().map_err(|_| r.err("shorter than a GGUF header"))?;
        if magic != MAGIC {
            return Err(r.err(format!("bad magic {magic:#010x} (not a GGUF file)")));
        }
        let version = r.u32()?;
        match version {
            2 | 3 => {}
            1 => return Err(Error::Unsupported(format!("{}: GGUF version 1", path.display()))),
            v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
                return Err(Error::Unsupported(format!("{}: big-endian GGUF", path.display())));
            }
            v => return Err(r.err(format!("unknown GGUF version {v}"))),
        }
        let n_tensors = r.u64()?;
        let n_kv = r.u64()?;
        // A key-value pair takes at least 13 bytes, a tensor info at least 24.
        r.check_count(n_kv, 13, "metadata entries")?;
        let mut entries = Vec::with_capacity(n_kv as usize);
        let mut seen = HashSet::with_capacity(n_kv as usize);
        for _ in 0..n_kv {
            let key = r.string().map_err(|e| r.wrap(e, "metadata key"))?;
            let ty = r.u32()?;
            let value = r.value(ty, 0).map_err(|e| r.wrap(e, &format!("metadata `{key}`")))?;
            if !seen.insert(key.clone()) {
                return Err(r.err(format!("duplicate metadata key `{key}`")));
            }
            entries.push((key, value));
        }
        let meta = Metadata::new(&path, entries)?;
        let alignment = match meta.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_int() {
                Some(a) if a > 0 && a <= 1 << 20 && (a as u64).is_power_of_two() => a as u64,
                _ => return Err(r.err(format!("general.alignment {v:?} is not a power of two up to 1 MiB"))),
            },
        };
        r.check_count(n_tensors, 24, "tensor infos")?;
        let mut tensors = Vec::with_capacity(n_tensors as usize);
        let mut tensor_index = HashMap::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let name = r.string().map_err(|e| r.wrap(e, &format!("tensor info {i}")))?;
            let t = r.tensor_info(name)?;
            if tensor_index.insert(t.name.clone(), tensors.len()).is_some() {
                return Err(r.err(format!("duplicate tensor `{}`", t.name)));
            }
            tensors.push(t);
        }
        let data_offset = r.pos.next_multiple_of(alignment as usize);
        let file_len = bytes.len() as u64;
        for t in &tensors {
            let bad = |msg: String| Error::invalid_file(&path, format!("tensor `{}`: {msg}", t.name));
            if t.offset % alignment != 0 {
                return Err(bad(format!("offset {} is not a multiple of the alignment {alignment}", t.offset)));
            }
            let start = (data_offset as u64).checked_add(t.offset).ok_or_else(|| bad("offset overflows".into()))?;
            let end = start.checked_add(t.n_bytes.unwrap_or(0)).ok_or_else(|| bad("size overflows".into()))?;
            if end > file_len {
                return Err(bad(format!(
                    "data [{start}, {end}) extends past the end of the file ({file_len} bytes; truncated?)"
                )));
            }
        }
        Ok(Gguf { path, bytes, version, alignment, data_offset, meta, tensors, tensor_index })
    }

    /// The file this was read from (or the label given to [`Gguf::from_bytes`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Alignment of the data section and tensors (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Byte offset of the data section in the file.
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The metadata (key-value pairs), with typed getters.
    pub fn meta(&self) -> &Metadata {
        &self.meta
    }

    /// All tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The info of one tensor.
    pub fn tensor_info(&self, name: &str) -> Result<&TensorInfo> {
        self.tensor_index
            .get(name)
            .map(|&i| &self.tensors[i])
            .ok_or_else(|| Error::tensor(name, format!("not in {}", self.path.display())))
    }

    /// The raw bytes of one tensor, in its stored type.
    pub fn tensor_data(&self, name: &str) -> Result<&[u8]> {
        let t = self.tensor_info(name)?;
        let n = t
            .n_bytes
            .ok_or_else(|| Error::tensor(name, format!("{}: block size unknown, cannot locate data", t.ty)))?;
        // In range: checked against the file length when parsing.
        let start = self.data_offset + t.offset as usize;
        Ok(&self.bytes[start..start + n as usize])
    }

    /// Dequantizes one tensor to f32, shape in HF order (`[out, in]` for a linear layer).
    pub fn tensor_f32(&self, name: &str) -> Result<FloatTensor> {
        let t = self.tensor_info(name)?;
        let data = dequantize(name, t.ty, self.tensor_data(name)?, t.n_elements as usize)?;
        Ok(FloatTensor { name: name.to_string(), shape: t.shape(), data })
    }
}

/// Bounds-checked little-endian cursor over the file.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn err(&self, msg: impl Into<String>) -> Error {
        Error::invalid_file(self.path, format!("at byte {}: {}", self.pos, msg.into()))
    }

    /// Prefixes an InvalidFile message with context (which key or tensor was being read).
    fn wrap(&self, e: Error, what: &str) -> Error {
        match e {
            Error::InvalidFile { path, msg } => Error::InvalidFile { path, msg: format!("{what}: {msg}") },
            e => e,
        }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err(format!("needs {n} bytes, only {} left (truncated?)", self.remaining())));
        }
        let buf: &'a [u8] = self.buf;
        let s = &buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Fails unless `count` items of at least `min_size` bytes each can fit in what remains, so
    /// that a bogus count never drives an allocation.
    fn check_count(&self, count: u64, min_size: u64, what: &str) -> Result<()> {
        if count.saturating_mul(min_size) > self.remaining() as u64 {
            return Err(self.err(format!("{count} {what} cannot fit in the {} bytes left", self.remaining())));
        }
        Ok(())
    }

    fn string(&mut self) -> Result<String> {
        let n = self.u64()?;
        if n > self.remaining() as u64 {
            return Err(self.err(format!("string of {n} bytes, only {} left", self.remaining())));
        }
        let at = self.pos;
        let b = self.take(n as usize)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| Error::invalid_file(self.path, format!("at byte {at}: string is not UTF-8")))
    }

    fn value(&mut self, ty: u32, depth: u32) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(self.array::<1>()?[0]),
            1 => Value::I8(self.array::<1>()?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array()?)),
            3 => Value::I16(i16::from_le_bytes(self.array()?)),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(i32::from_le_bytes(self.array()?)),
            6 => Value::F32(f32::from_le_bytes(self.array()?)),
            7 => Value::Bool(self.array::<1>()?[0] != 0),
            8 => Value::String(self.string()?),
            9 => Value::Array(self.array_value(depth)?),
            10 => Value::U64(self.u64()?),
            11 => Value::I64(i64::from_le_bytes(self.array()?)),
            12 => Value::F64(f64::from_le_bytes(self.array()?)),
            t => return Err(self.err(format!("unknown value type {t}"))),
        })
    }

    fn array_value(&mut self, depth: u32) -> Result<Array> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(self.err(format!("arrays nested deeper than {MAX_ARRAY_DEPTH}")));
        }
        let ty = self.u32()?;
        let n = self.u64()?;
        // Fixed-size elements: check the total, then convert in bulk.
        macro_rules! fixed {
            ($variant:ident, $t:ty, $conv:expr) => {{
                const S: usize = std::mem::size_of::<$t>();
                self.check_count(n, S as u64, "array elements")?;
                let raw = self.take(n as usize * S)?;
                Array::$variant(raw.chunks_exact(S).map(|c| $conv(c.try_into().unwrap())).collect())
            }};
        }
        Ok(match ty {
            0 => fixed!(U8, u8, |c: [u8; 1]| c[0]),
            1 => fixed!(I8, i8, |c: [u8; 1]| c[0] as i8),
            2 => fixed!(U16, u16, u16::from_le_bytes),
            3 => fixed!(I16, i16, i16::from_le_bytes),
            4 => fixed!(U32, u32, u32::from_le_bytes),
            5 => fixed!(I32, i32, i32::from_le_bytes),
            6 => fixed!(F32, f32, f32::from_le_bytes),
            7 => fixed!(Bool, u8, |c: [u8; 1]| c[0] != 0),
            10 => fixed!(U64, u64, u64::from_le_bytes),
            11 => fixed!(I64, i64, i64::from_le_bytes),
            12 => fixed!(F64, f64, f64::from_le_bytes),
            8 => {
                self.check_count(n, 8, "strings")?;
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(self.string()?);
                }
                Array::String(v)
            }
            9 => {
                self.check_count(n, 12, "nested arrays")?;
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(self.array_value(depth + 1)?);
                }
                Array::Array(v)
            }
            t => return Err(self.err(format!("unknown array element type {t}"))),
        })
    }

    fn tensor_info(&mut self, name: String) -> Result<TensorInfo> {
        let bad =
            |r: &Self, msg: String| Error::invalid_file(r.path, format!("at byte {}: tensor `{name}`: {msg}", r.pos));
        let n_dims = self.u32().map_err(|e| self.wrap(e, &format!("tensor `{name}`")))?;
        if n_dims > MAX_DIMS {
            return Err(bad(self, format!("{n_dims} dims (ggml allows at most {MAX_DIMS})")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(self.u64().map_err(|e| self.wrap(e, &format!("tensor `{name}`")))?);
        }
        let ty = GgmlType::from_id(self.u32().map_err(|e| self.wrap(e, &format!("tensor `{name}`")))?);
        let offset = self.u64().map_err(|e| self.wrap(e, &format!("tensor `{name}`")))?;
        // ggml dims are int64; each must also index memory here (a zero dim hides the others from n_elements).
        if let Some(&d) = dims.iter().find(|&&d| d > i64::MAX as u64 || usize::try_from(d).is_err()) {
            return Err(bad(self, format!("dim {d} is out of range")));
        }
        let n_elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(self, format!("dims {dims:?} overflow")))?;
        let n_bytes = match ty.block_geometry() {
            None => None,
            Some((bs, _)) => {
                if dims.first().is_some_and(|&d0| d0 % bs as u64 != 0) {
                    return Err(bad(self, format!("{ty} needs rows (ne0 = {}) in whole blocks of {bs}", dims[0])));
                }
                Some(
                    byte_size(ty, n_elements)
                        .ok_or_else(|| bad(self, format!("size of {n_elements} {ty} elements overflows")))?,
                )
            }
        };
        // Every byte must be in the file, so n_elements (hence any f32 output) stays bounded.
        if n_bytes.unwrap_or(0) > self.buf.len() as u64 || usize::try_from(n_elements).is_err() {
            return Err(bad(self, format!("{n_elements} {ty} elements cannot fit in a {}-byte file", self.buf.len())));
        }
        Ok(TensorInfo { name, dims, ty, offset, n_elements, n_bytes })
    }
}

#[cfg(test)]
mod tests;
