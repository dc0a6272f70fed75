//! Serialization: the safetensors header (metadata, then arrays in data order) and the data.

use std::io::Write;
use std::path::Path;

use half::f16;

use super::affine::is_symmetric;
use super::error::Part;
use super::meta::Dtype;
use super::tensor::{Payload, StoredSize, Tensor};
use super::{KEY_TENSORS, KEY_VERSION, TENSOR_KEY_PREFIX, VERSION};
use crate::{Error, Result};

/// The values of one stored array.
pub(crate) enum ArrayData<'a> {
    U32(&'a [u32]),
    F16(&'a [f16]),
    F32(&'a [f32]),
}

impl ArrayData<'_> {
    fn dtype(&self) -> Dtype {
        match self {
            ArrayData::U32(_) => Dtype::U32,
            ArrayData::F16(_) => Dtype::F16,
            ArrayData::F32(_) => Dtype::F32,
        }
    }

    fn n_bytes(&self) -> usize {
        match self {
            ArrayData::U32(v) => 4 * v.len(),
            ArrayData::F16(v) => 2 * v.len(),
            ArrayData::F32(v) => 4 * v.len(),
        }
    }

    /// Writes the values little-endian, through a bounded buffer.
    fn write_le(&self, out: &mut impl Write) -> std::io::Result<()> {
        fn put<T: Copy, const N: usize>(
            out: &mut impl Write,
            v: &[T],
            f: impl Fn(T) -> [u8; N],
        ) -> std::io::Result<()> {
            let mut buf = Vec::with_capacity(N * 8192);
            for chunk in v.chunks(8192) {
                buf.clear();
                buf.extend(chunk.iter().flat_map(|&x| f(x)));
                out.write_all(&buf)?;
            }
            Ok(())
        }
        match self {
            ArrayData::U32(v) => put(out, v, u32::to_le_bytes),
            ArrayData::F16(v) => put(out, v, f16::to_le_bytes),
            ArrayData::F32(v) => put(out, v, f32::to_le_bytes),
        }
    }
}

/// One array of one tensor, as the writer lays it out.
struct Array<'a> {
    tensor: usize,
    part: Part,
    shape: Vec<usize>,
    data: ArrayData<'a>,
}

impl Tensor {
    /// The tensor's arrays in the order of the module docs' table.
    fn arrays(&self) -> Vec<(Part, Vec<usize>, ArrayData<'_>)> {
        match &self.payload {
            Payload::AffineRans(r) => {
                let s = &r.stream;
                let mut v = vec![
                    (Part::States, vec![s.n_blocks(), crate::rans::LANES], ArrayData::U32(s.states())),
                    (Part::Offsets, vec![s.offsets().len()], ArrayData::U32(s.offsets())),
                    (Part::Words, vec![s.packed_words().len()], ArrayData::U32(s.packed_words())),
                ];
                v.extend(scale_arrays(r.spec.bits, r.rows, &r.scales, &r.biases));
                v
            }
            Payload::Affine(m) => {
                let mut v = vec![(Part::Codes, vec![m.rows, m.words_per_row()], ArrayData::U32(&m.codes))];
                v.extend(scale_arrays(m.spec.bits, m.rows, &m.scales, &m.biases));
                v
            }
            Payload::F16(d) => vec![(Part::Data, self.shape.clone(), ArrayData::F16(d))],
            Payload::F32(d) => vec![(Part::Data, self.shape.clone(), ArrayData::F32(d))],
            Payload::Ecsq(_, words) => vec![(Part::Data, vec![words.len()], ArrayData::U32(words))],
        }
    }
}

/// The scales and, unless they are symmetric, the biases.
fn scale_arrays<'a>(
    bits: u32,
    rows: usize,
    scales: &'a [f16],
    biases: &'a [f16],
) -> Vec<(Part, Vec<usize>, ArrayData<'a>)> {
    let g = vec![rows, scales.len() / rows];
    let mut v = vec![(Part::Scales, g.clone(), ArrayData::F16(scales))];
    if !is_symmetric(bits, scales, biases) {
        v.push((Part::Biases, g, ArrayData::F16(biases)));
    }
    v
}

/// JSON string literal of `s`.
fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// A file's header and arrays, in data order, with each tensor's share of the header.
pub(crate) struct Layout<'a> {
    /// The 8-byte length and the padded JSON header.
    prefix: Vec<u8>,
    arrays: Vec<Array<'a>>,
    /// Header bytes attributable to each tensor.
    header_share: Vec<usize>,
}

impl<'a> Layout<'a> {
    /// Lays out `tensors`: arrays of 4-byte elements first (in tensor order), then the 2-byte
    /// ones, so that every array starts at a multiple of its element size.
    pub(crate) fn new(tensors: &'a [Tensor]) -> Self {
        let mut arrays: Vec<Array<'a>> = Vec::new();
        for pass_size in [4, 2] {
            for (i, t) in tensors.iter().enumerate() {
                for (part, shape, data) in t.arrays() {
                    if data.dtype().size() == pass_size {
                        arrays.push(Array { tensor: i, part, shape, data });
                    }
                }
            }
        }
        let mut share = vec![0usize; tensors.len()];
        let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
        let list = serde_json::to_string(&names).expect("strings serialize");
        let mut h = format!(
            "{{\"__metadata__\":{{{}:{},{}:{}",
            json_str(KEY_VERSION),
            json_str(VERSION),
            json_str(KEY_TENSORS),
            json_str(&list)
        );
        for (i, t) in tensors.iter().enumerate() {
            let entry = serde_json::to_string(&t.entry()).expect("entries serialize");
            let item = format!(",{}:{}", json_str(&format!("{TENSOR_KEY_PREFIX}{}", t.name)), json_str(&entry));
            // The name's share of the tensor list (escaped once more inside the list string).
            share[i] += item.len() + json_str(&json_str(&t.name)).len() - 2 + 1;
            h.push_str(&item);
        }
        h.push('}');
        let mut offset = 0usize;
        for a in &arrays {
            let end = offset + a.data.n_bytes();
            let key = json_str(&format!("{}.{}", tensors[a.tensor].name, a.part.name()));
            let shape = serde_json::to_string(&a.shape).expect("shapes serialize");
            let item = format!(
                ",{key}:{{\"dtype\":\"{}\",\"shape\":{shape},\"data_offsets\":[{offset},{end}]}}",
                a.data.dtype().name()
            );
            share[a.tensor] += item.len();
            h.push_str(&item);
            offset = end;
        }
        h.push('}');
        // safetensors convention: pad the header with spaces to a multiple of 8.
        let mut header = h.into_bytes();
        header.resize(header.len().next_multiple_of(8), b' ');
        let mut prefix = (header.len() as u64).to_le_bytes().to_vec();
        prefix.extend(header);
        Layout { prefix, arrays, header_share: share }
    }

    /// Total file length.
    pub(crate) fn file_len(&self) -> usize {
        self.prefix.len() + self.arrays.iter().map(|a| a.data.n_bytes()).sum::<usize>()
    }

    /// Stored bytes of tensor `i` of `tensors` (the slice this layout was built from).
    pub(crate) fn stored_size(&self, tensors: &[Tensor], i: usize) -> StoredSize {
        StoredSize { metadata: self.header_share[i], ..tensors[i].array_sizes() }
    }

    pub(crate) fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(&self.prefix)?;
        for a in &self.arrays {
            a.data.write_le(out)?;
        }
        Ok(())
    }
}

/// Writes `tensors` to `path` atomically: to a temporary file beside it, then renamed.
pub(crate) fn write_file(tensors: &[Tensor], path: &Path) -> Result<()> {
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let f = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        Layout::new(tensors).write_to(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}
