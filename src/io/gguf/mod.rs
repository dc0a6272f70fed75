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
#[cfg(test)]
pub(crate) mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use dequant::{GgmlType, byte_size, dequantize};
pub use import::{import_quantized, llama_unpermute_quantized, llama_unpermute_rows, llama_unpermute_tensor};

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

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// GGUF type 0.
    U8(u8),
    /// GGUF type 1.
    I8(i8),
    /// GGUF type 2.
    U16(u16),
    /// GGUF type 3.
    I16(i16),
    /// GGUF type 4.
    U32(u32),
    /// GGUF type 5.
    I32(i32),
    /// GGUF type 6.
    F32(f32),
    /// GGUF type 7.
    Bool(bool),
    /// GGUF type 8 (UTF-8).
    String(String),
    /// GGUF type 9.
    Array(Array),
    /// GGUF type 10.
    U64(u64),
    /// GGUF type 11.
    I64(i64),
    /// GGUF type 12.
    F64(f64),
}

/// A metadata array: all elements share one type.
#[derive(Clone, Debug, PartialEq)]
pub enum Array {
    /// u8 elements.
    U8(Vec<u8>),
    /// i8 elements.
    I8(Vec<i8>),
    /// u16 elements.
    U16(Vec<u16>),
    /// i16 elements.
    I16(Vec<i16>),
    /// u32 elements.
    U32(Vec<u32>),
    /// i32 elements.
    I32(Vec<i32>),
    /// f32 elements.
    F32(Vec<f32>),
    /// bool elements.
    Bool(Vec<bool>),
    /// String elements (e.g. `tokenizer.ggml.tokens`, `tokenizer.ggml.merges`).
    String(Vec<String>),
    /// Arrays of arrays.
    Array(Vec<Array>),
    /// u64 elements.
    U64(Vec<u64>),
    /// i64 elements.
    I64(Vec<i64>),
    /// f64 elements.
    F64(Vec<f64>),
}

impl Value {
    /// The GGUF type name (`u32`, `string`, `array<f32>`, ...), for messages.
    pub fn type_name(&self) -> String {
        match self {
            Value::U8(_) => "u8".into(),
            Value::I8(_) => "i8".into(),
            Value::U16(_) => "u16".into(),
            Value::I16(_) => "i16".into(),
            Value::U32(_) => "u32".into(),
            Value::I32(_) => "i32".into(),
            Value::F32(_) => "f32".into(),
            Value::Bool(_) => "bool".into(),
            Value::String(_) => "string".into(),
            Value::Array(a) => format!("array<{}>", a.elem_type_name()),
            Value::U64(_) => "u64".into(),
            Value::I64(_) => "i64".into(),
            Value::F64(_) => "f64".into(),
        }
    }

    /// Any integer value as i128 (lossless for every GGUF integer type).
    fn as_int(&self) -> Option<i128> {
        Some(match *self {
            Value::U8(v) => v.into(),
            Value::I8(v) => v.into(),
            Value::U16(v) => v.into(),
            Value::I16(v) => v.into(),
            Value::U32(v) => v.into(),
            Value::I32(v) => v.into(),
            Value::U64(v) => v.into(),
            Value::I64(v) => v.into(),
            _ => return None,
        })
    }
}

impl Array {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Array::U8(v) => v.len(),
            Array::I8(v) => v.len(),
            Array::U16(v) => v.len(),
            Array::I16(v) => v.len(),
            Array::U32(v) => v.len(),
            Array::I32(v) => v.len(),
            Array::F32(v) => v.len(),
            Array::Bool(v) => v.len(),
            Array::String(v) => v.len(),
            Array::Array(v) => v.len(),
            Array::U64(v) => v.len(),
            Array::I64(v) => v.len(),
            Array::F64(v) => v.len(),
        }
    }

    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type name, for messages.
    pub fn elem_type_name(&self) -> &'static str {
        match self {
            Array::U8(_) => "u8",
            Array::I8(_) => "i8",
            Array::U16(_) => "u16",
            Array::I16(_) => "i16",
            Array::U32(_) => "u32",
            Array::I32(_) => "i32",
            Array::F32(_) => "f32",
            Array::Bool(_) => "bool",
            Array::String(_) => "string",
            Array::Array(_) => "array",
            Array::U64(_) => "u64",
            Array::I64(_) => "i64",
            Array::F64(_) => "f64",
        }
    }

    /// Elements of an integer array as i128, or `None` for non-integer arrays.
    fn ints(&self) -> Option<Vec<i128>> {
        fn conv<T: Copy + Into<i128>>(v: &[T]) -> Vec<i128> {
            v.iter().map(|&x| x.into()).collect()
        }
        Some(match self {
            Array::U8(v) => conv(v),
            Array::I8(v) => conv(v),
            Array::U16(v) => conv(v),
            Array::I16(v) => conv(v),
            Array::U32(v) => conv(v),
            Array::I32(v) => conv(v),
            Array::U64(v) => conv(v),
            Array::I64(v) => conv(v),
            _ => return None,
        })
    }
}

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
    metadata: Vec<(String, Value)>,
    meta_index: HashMap<String, usize>,
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
        let mut metadata = Vec::with_capacity(n_kv as usize);
        let mut meta_index = HashMap::with_capacity(n_kv as usize);
        for _ in 0..n_kv {
            let key = r.string().map_err(|e| r.wrap(e, "metadata key"))?;
            let ty = r.u32()?;
            let value = r.value(ty, 0).map_err(|e| r.wrap(e, &format!("metadata `{key}`")))?;
            if meta_index.insert(key.clone(), metadata.len()).is_some() {
                return Err(r.err(format!("duplicate metadata key `{key}`")));
            }
            metadata.push((key, value));
        }
        let alignment = match meta_index.get("general.alignment").map(|&i| &metadata[i].1) {
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
        Ok(Gguf { path, bytes, version, alignment, data_offset, metadata, meta_index, tensors, tensor_index })
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

    /// All metadata entries in file order.
    pub fn metadata(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.metadata.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// One metadata value, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.meta_index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// True when the key is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.meta_index.contains_key(key)
    }

    fn require(&self, key: &str) -> Result<&Value> {
        self.get(key).ok_or_else(|| Error::invalid_file(&self.path, format!("metadata key `{key}` is missing")))
    }

    fn wrong_type(&self, key: &str, v: &Value, want: &str) -> Error {
        Error::invalid_file(&self.path, format!("metadata `{key}` is {}, expected {want}", v.type_name()))
    }

    fn get_int<T: TryFrom<i128>>(&self, key: &str, want: &str) -> Result<T> {
        let v = self.require(key)?;
        let i = v.as_int().ok_or_else(|| self.wrong_type(key, v, want))?;
        T::try_from(i)
            .map_err(|_| Error::invalid_file(&self.path, format!("metadata `{key}` = {i} does not fit {want}")))
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        match self.require(key)? {
            Value::String(s) => Ok(s),
            v => Err(self.wrong_type(key, v, "string")),
        }
    }

    /// An integer value of any GGUF integer type that fits in u32.
    pub fn get_u32(&self, key: &str) -> Result<u32> {
        self.get_int(key, "u32")
    }

    /// An integer value of any GGUF integer type that fits in i32.
    pub fn get_i32(&self, key: &str) -> Result<i32> {
        self.get_int(key, "i32")
    }

    /// An integer value of any GGUF integer type that fits in u64.
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        self.get_int(key, "u64")
    }

    /// A float value (f32, or f64 rounded to f32).
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        match *self.require(key)? {
            Value::F32(v) => Ok(v),
            Value::F64(v) => Ok(v as f32),
            ref v => Err(self.wrong_type(key, v, "f32")),
        }
    }

    /// A bool value.
    pub fn get_bool(&self, key: &str) -> Result<bool> {
        match *self.require(key)? {
            Value::Bool(b) => Ok(b),
            ref v => Err(self.wrong_type(key, v, "bool")),
        }
    }

    /// An array value of any element type.
    pub fn get_array(&self, key: &str) -> Result<&Array> {
        match self.require(key)? {
            Value::Array(a) => Ok(a),
            v => Err(self.wrong_type(key, v, "array")),
        }
    }

    /// A string array (e.g. `tokenizer.ggml.tokens`, `tokenizer.ggml.merges`).
    pub fn get_str_array(&self, key: &str) -> Result<&[String]> {
        match self.require(key)? {
            Value::Array(Array::String(v)) => Ok(v),
            v => Err(self.wrong_type(key, v, "array<string>")),
        }
    }

    /// An f32 array (e.g. `tokenizer.ggml.scores`).
    pub fn get_f32_array(&self, key: &str) -> Result<&[f32]> {
        match self.require(key)? {
            Value::Array(Array::F32(v)) => Ok(v),
            v => Err(self.wrong_type(key, v, "array<f32>")),
        }
    }

    fn get_int_array<T: TryFrom<i128>>(&self, key: &str, want: &str) -> Result<Vec<T>> {
        let v = self.require(key)?;
        let ints = match v {
            Value::Array(a) => a.ints(),
            _ => None,
        }
        .ok_or_else(|| self.wrong_type(key, v, want))?;
        ints.into_iter()
            .enumerate()
            .map(|(i, x)| {
                T::try_from(x).map_err(|_| {
                    Error::invalid_file(&self.path, format!("metadata `{key}`[{i}] = {x} does not fit {want}"))
                })
            })
            .collect()
    }

    /// An integer array of any GGUF integer type whose values fit in i32 (e.g. `tokenizer.ggml.token_type`).
    pub fn get_i32_array(&self, key: &str) -> Result<Vec<i32>> {
        self.get_int_array(key, "array<i32>")
    }

    /// An integer array of any GGUF integer type whose values fit in u32.
    pub fn get_u32_array(&self, key: &str) -> Result<Vec<u32>> {
        self.get_int_array(key, "array<u32>")
    }

    /// `general.architecture` (e.g. `llama`); model keys are prefixed with it.
    pub fn architecture(&self) -> Result<&str> {
        self.get_str("general.architecture")
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
