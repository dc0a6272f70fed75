//! The validating reader: every size, offset and field is checked before anything is built.

use std::collections::{HashMap, HashSet};

use half::f16;
use serde::Deserialize;
use serde_json::Value;

use super::affine::{AffineRans, Geometry, nonzero_padding_row, symmetric_biases};
use super::error::{ContainerError, Part};
use super::meta::{Dtype, Entry};
use super::tensor::{Payload, Tensor};
use super::{KEY_PREFIX, KEY_TENSORS, KEY_VERSION, TENSOR_KEY_PREFIX, VERSION};
use crate::quant::QuantizedMatrix;
use crate::rans::{Encoded, FreqTable};

/// The safetensors limit on the JSON header.
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// One array's safetensors header entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArrayInfo {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// A located array: which tensor and part, and where its bytes are.
struct Located {
    key: String,
    tensor: usize,
    part: Part,
    start: usize,
    end: usize,
}

fn file_err(msg: impl Into<String>) -> ContainerError {
    ContainerError::File(msg.into())
}

/// Parses and validates a whole file; see the module docs for what is checked.
pub(crate) fn read(bytes: &[u8]) -> Result<Vec<Tensor>, ContainerError> {
    let Some(len_bytes) = bytes.get(..8) else {
        return Err(file_err(format!("{} bytes is too short for a safetensors header", bytes.len())));
    };
    let n = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
    if n > MAX_HEADER_BYTES {
        return Err(file_err(format!("header length {n} exceeds the safetensors limit of {MAX_HEADER_BYTES}")));
    }
    let Some(header) = bytes.get(8..8 + n as usize) else {
        return Err(file_err(format!(
            "header of {n} bytes is cut short: the file has {} bytes (truncated?)",
            bytes.len()
        )));
    };
    let data = &bytes[8 + n as usize..];
    let mut map: serde_json::Map<String, Value> =
        serde_json::from_slice(header).map_err(|e| file_err(format!("header is not a JSON object: {e}")))?;

    let meta = match map.remove("__metadata__") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err(file_err("__metadata__ is not an object")),
        None => return Err(file_err("no __metadata__: not an ecq container")),
    };
    let mut meta_str = HashMap::with_capacity(meta.len());
    for (k, v) in &meta {
        match v {
            Value::String(s) => meta_str.insert(k.as_str(), s.as_str()),
            _ => return Err(file_err(format!("__metadata__ value of `{k}` is not a string"))),
        };
    }
    match meta_str.get(KEY_VERSION) {
        None => return Err(file_err(format!("no `{KEY_VERSION}` in __metadata__: not an ecq container"))),
        Some(&v) if v != VERSION => return Err(ContainerError::Version(v.to_string())),
        Some(_) => {}
    }
    let list = meta_str.get(KEY_TENSORS).ok_or_else(|| file_err(format!("no `{KEY_TENSORS}` in __metadata__")))?;
    let names: Vec<String> = serde_json::from_str(list)
        .map_err(|e| file_err(format!("`{KEY_TENSORS}` is not a JSON list of names: {e}")))?;
    let mut index = HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(file_err(format!("`{KEY_TENSORS}` has an empty name")));
        }
        if index.insert(name.as_str(), i).is_some() {
            return Err(file_err(format!("`{KEY_TENSORS}` lists `{name}` twice")));
        }
    }
    for k in meta_str.keys() {
        let known = *k == KEY_VERSION
            || *k == KEY_TENSORS
            || k.strip_prefix(TENSOR_KEY_PREFIX).is_some_and(|n| index.contains_key(n));
        if k.starts_with(KEY_PREFIX) && !known {
            return Err(file_err(format!(
                "unknown __metadata__ key `{k}` (an entry of a tensor not in `{KEY_TENSORS}`?)"
            )));
        }
    }

    // Entries, and the arrays each one needs.
    let mut entries = Vec::with_capacity(names.len());
    let mut expected = Vec::with_capacity(names.len());
    for name in &names {
        let bad = |msg: String| ContainerError::tensor_part(name, Part::Metadata, msg);
        let json = meta_str.get(format!("{TENSOR_KEY_PREFIX}{name}").as_str()).ok_or_else(|| bad("missing".into()))?;
        let entry: Entry = serde_json::from_str(json).map_err(|e| bad(format!("invalid entry: {e}")))?;
        expected.push(entry.arrays(name)?);
        entries.push(entry);
    }

    // Every array must belong to a tensor, with the dtype and shape its entry implies.
    let mut located = Vec::with_capacity(map.len());
    let mut seen = HashSet::with_capacity(map.len());
    for (key, v) in map {
        let (t, part) = key
            .rsplit_once('.')
            .and_then(|(t, p)| Some((*index.get(t)?, Part::from_suffix(p)?)))
            .ok_or_else(|| file_err(format!("array `{key}` belongs to no tensor")))?;
        let name = &names[t];
        let bad = |msg: String| ContainerError::tensor_part(name, part, msg);
        let spec = expected[t]
            .iter()
            .find(|s| s.part == part)
            .ok_or_else(|| bad(format!("a {} entry like this one has no `{part}` array", entries[t].kind())))?;
        let info: ArrayInfo = serde_json::from_value(v).map_err(|e| bad(format!("invalid array header: {e}")))?;
        if Dtype::parse(&info.dtype) != Some(spec.dtype) || info.shape != spec.shape {
            return Err(bad(format!(
                "array is {} {:?}, the entry implies {} {:?}",
                info.dtype,
                info.shape,
                spec.dtype.name(),
                spec.shape
            )));
        }
        let size = spec.shape.iter().try_fold(spec.dtype.size(), |a, &d| a.checked_mul(d));
        let [start, end] = info.data_offsets;
        if size.is_none() || end.checked_sub(start) != size {
            return Err(bad(format!(
                "data_offsets [{start}, {end}) do not hold {:?} {}",
                spec.shape,
                spec.dtype.name()
            )));
        }
        seen.insert((t, part));
        located.push(Located { key, tensor: t, part, start, end });
    }
    for (t, specs) in expected.iter().enumerate() {
        if let Some(s) = specs.iter().find(|s| !seen.contains(&(t, s.part))) {
            return Err(ContainerError::tensor_part(&names[t], s.part, "array is missing"));
        }
    }

    // The arrays tile the data section without gaps; a short file names the first array cut.
    located.sort_by_key(|a| (a.start, a.end));
    let mut at = 0;
    for a in &located {
        if a.start != at {
            return Err(ContainerError::tensor_part(
                &names[a.tensor],
                a.part,
                format!("array `{}` starts at data byte {}, expected {at} (arrays must tile the data)", a.key, a.start),
            ));
        }
        at = a.end;
    }
    if let Some(a) = located.iter().find(|a| a.end > data.len()) {
        return Err(ContainerError::tensor_part(
            &names[a.tensor],
            a.part,
            format!(
                "array `{}` needs data bytes [{}, {}) but the file ends at data byte {} (truncated?)",
                a.key,
                a.start,
                a.end,
                data.len()
            ),
        ));
    }
    if at != data.len() {
        return Err(file_err(format!("{} bytes after the last array", data.len() - at)));
    }
    // What other safetensors readers will say (nothing, for a file that passed the checks above).
    safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| file_err(format!("safetensors rejects the file: {e}")))?;

    let mut arrays: Vec<HashMap<Part, &[u8]>> = vec![HashMap::new(); names.len()];
    for a in &located {
        arrays[a.tensor].insert(a.part, &data[a.start..a.end]);
    }
    names.into_iter().zip(entries).zip(arrays).map(|((name, entry), arrays)| build(name, entry, &arrays)).collect()
}

fn u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()
}

fn f16s(b: &[u8]) -> Vec<f16> {
    b.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect()
}

/// Scales, and the biases stored or implied by them.
fn scales_biases(bits: u32, symmetric: bool, arrays: &HashMap<Part, &[u8]>) -> (Vec<f16>, Vec<f16>) {
    let scales = f16s(arrays[&Part::Scales]);
    let biases = if symmetric { symmetric_biases(bits, &scales) } else { f16s(arrays[&Part::Biases]) };
    (scales, biases)
}

/// Builds one tensor from its validated entry and arrays (present, with exact sizes).
fn build(name: String, entry: Entry, arrays: &HashMap<Part, &[u8]>) -> Result<Tensor, ContainerError> {
    let get = |p: Part| arrays[&p];
    let shape = entry.shape().to_vec();
    let checksum = entry.checksum();
    let payload = match entry {
        Entry::AffineRans { bits, group_size, symmetric, prob_bits, freqs, block_rows, num_words, .. } => {
            let g = Geometry::new(&name, &shape, bits, group_size)?;
            let rans = |e| ContainerError::rans(&name, e);
            let table = FreqTable::new(prob_bits, freqs).map_err(rans)?;
            if table.alphabet_len() > 1 << bits {
                return Err(ContainerError::tensor_part(
                    &name,
                    Part::Metadata,
                    format!("{} symbols in the table, {bits}-bit codes have {}", table.alphabet_len(), 1 << bits),
                ));
            }
            let too_large = || ContainerError::tensor_part(&name, Part::Metadata, "more than 2^32 - 1 codes");
            let n_symbols = u32::try_from(g.rows * g.cols).map_err(|_| too_large())?;
            let block_len = u32::try_from(block_rows * g.cols).map_err(|_| too_large())?;
            let stream = Encoded::from_parts(
                table,
                n_symbols,
                block_len,
                u32s(get(Part::States)),
                u32s(get(Part::Offsets)),
                u32s(get(Part::Words)),
                num_words,
            )
            .map_err(rans)?;
            let (scales, biases) = scales_biases(bits, symmetric, arrays);
            Payload::AffineRans(AffineRans {
                spec: g.spec,
                rows: g.rows,
                cols: g.cols,
                block_rows,
                stream,
                scales,
                biases,
            })
        }
        Entry::Affine { bits, group_size, symmetric, .. } => {
            let g = Geometry::new(&name, &shape, bits, group_size)?;
            let (scales, biases) = scales_biases(bits, symmetric, arrays);
            let m = QuantizedMatrix {
                spec: g.spec,
                rows: g.rows,
                cols: g.cols,
                codes: u32s(get(Part::Codes)),
                scales,
                biases,
            };
            if let Some(r) = nonzero_padding_row(&m) {
                return Err(ContainerError::tensor_part(
                    &name,
                    Part::Codes,
                    format!("row {r} has non-zero padding bits"),
                ));
            }
            Payload::Affine(m)
        }
        Entry::Ecsq { .. } => {
            let bytes = get(Part::Data);
            let m = crate::ecsq::EcsqMatrix::from_bytes(&name, bytes)
                .map_err(|e| ContainerError::tensor_part(&name, Part::Data, e.to_string()))?;
            if [m.rows(), m.cols()] != shape[..] {
                return Err(ContainerError::tensor_part(
                    &name,
                    Part::Data,
                    format!("ecsq matrix is {}x{}, the entry says {shape:?}", m.rows(), m.cols()),
                ));
            }
            Payload::Ecsq(m, u32s(bytes))
        }
        Entry::F16 { .. } => Payload::F16(f16s(get(Part::Data))),
        Entry::F32 { .. } => Payload::F32(
            get(Part::Data).chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4"))).collect(),
        ),
    };
    Ok(Tensor { name, shape, checksum, payload })
}
