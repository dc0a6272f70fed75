//! The JSON entry of each tensor in `__metadata__`, and the arrays each kind stores.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{ContainerError, Part};
use super::tensor::Kind;

/// Element type of a stored array (the subset of safetensors dtypes that ecq writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dtype {
    U32,
    F16,
    F32,
}

impl Dtype {
    /// The safetensors name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Dtype::U32 => "U32",
            Dtype::F16 => "F16",
            Dtype::F32 => "F32",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Dtype::U32, Dtype::F16, Dtype::F32].into_iter().find(|d| d.name() == s)
    }

    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            Dtype::F16 => 2,
            Dtype::U32 | Dtype::F32 => 4,
        }
    }
}

/// A 64-bit checksum, written as 16 lowercase hex digits (JSON numbers lose precision past 2^53
/// in many readers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hex64(pub u64);

impl Serialize for Hex64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:016x}", self.0))
    }
}

impl<'de> Deserialize<'de> for Hex64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        match ok.then(|| u64::from_str_radix(&s, 16)) {
            Some(Ok(v)) => Ok(Hex64(v)),
            _ => Err(serde::de::Error::custom(format!("checksum {s:?} is not 16 lowercase hex digits"))),
        }
    }
}

/// One tensor's entry: its kind (the `kind` field) and that kind's fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum Entry {
    /// Affine codes coded with rANS.
    AffineRans {
        shape: Vec<usize>,
        bits: u32,
        group_size: u32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        symmetric: bool,
        prob_bits: u32,
        freqs: Vec<u32>,
        block_rows: usize,
        num_words: u32,
        checksum: Hex64,
    },
    /// Packed affine codes.
    Affine {
        shape: Vec<usize>,
        bits: u32,
        group_size: u32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        symmetric: bool,
        checksum: Hex64,
    },
    /// Entropy-coded scalar quantization: one [`crate::ecsq::EcsqMatrix`] serialization.
    Ecsq { shape: Vec<usize>, bytes: usize, checksum: Hex64 },
    /// Raw f16 values.
    F16 { shape: Vec<usize>, checksum: Hex64 },
    /// Raw f32 values.
    F32 { shape: Vec<usize>, checksum: Hex64 },
}

/// An array a tensor must have: which part, its dtype and shape.
pub(crate) struct ArraySpec {
    pub part: Part,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
}

impl Entry {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Entry::AffineRans { .. } => Kind::AffineRans,
            Entry::Affine { .. } => Kind::Affine,
            Entry::Ecsq { .. } => Kind::Ecsq,
            Entry::F16 { .. } => Kind::F16,
            Entry::F32 { .. } => Kind::F32,
        }
    }

    pub(crate) fn shape(&self) -> &[usize] {
        match self {
            Entry::AffineRans { shape, .. } | Entry::Affine { shape, .. } => shape,
            Entry::F16 { shape, .. } | Entry::F32 { shape, .. } | Entry::Ecsq { shape, .. } => shape,
        }
    }

    pub(crate) fn checksum(&self) -> u64 {
        match self {
            Entry::AffineRans { checksum, .. } | Entry::Affine { checksum, .. } => checksum.0,
            Entry::F16 { checksum, .. } | Entry::F32 { checksum, .. } | Entry::Ecsq { checksum, .. } => checksum.0,
        }
    }

    /// The arrays this entry needs, with exact dtypes and shapes; an error when the fields are
    /// out of range or imply sizes that overflow.
    pub(crate) fn arrays(&self, name: &str) -> Result<Vec<ArraySpec>, ContainerError> {
        let arr = |part, dtype, shape| ArraySpec { part, dtype, shape };
        Ok(match self {
            Entry::AffineRans { shape, bits, group_size, symmetric, block_rows, num_words, .. } => {
                let g = super::affine::Geometry::new(name, shape, *bits, *group_size)?;
                let bad = |msg: String| ContainerError::tensor_part(name, Part::Metadata, msg);
                if *block_rows == 0 || *block_rows > g.rows {
                    return Err(bad(format!("block_rows {block_rows} is outside 1..={}", g.rows)));
                }
                let n_blocks = g.rows.div_ceil(*block_rows);
                let mut v = vec![
                    arr(Part::States, Dtype::U32, vec![n_blocks, crate::rans::LANES]),
                    arr(Part::Offsets, Dtype::U32, vec![n_blocks + 1]),
                    arr(Part::Words, Dtype::U32, vec![(*num_words as usize).div_ceil(2)]),
                ];
                v.extend(g.scale_arrays(*symmetric));
                v
            }
            Entry::Affine { shape, bits, group_size, symmetric, .. } => {
                let g = super::affine::Geometry::new(name, shape, *bits, *group_size)?;
                let mut v = vec![arr(Part::Codes, Dtype::U32, vec![g.rows, g.words_per_row])];
                v.extend(g.scale_arrays(*symmetric));
                v
            }
            Entry::Ecsq { shape, bytes, .. } => {
                let bad = |msg: String| ContainerError::tensor_part(name, Part::Metadata, msg);
                if shape.len() != 2 || shape.contains(&0) {
                    return Err(bad(format!("ecsq shape {shape:?} is not [rows, cols] with both >= 1")));
                }
                if *bytes == 0 || bytes % 4 != 0 {
                    return Err(bad(format!("ecsq bytes {bytes} is not a positive multiple of 4")));
                }
                vec![arr(Part::Data, Dtype::U32, vec![bytes / 4])]
            }
            Entry::F16 { shape, .. } => vec![arr(Part::Data, Dtype::F16, shape.clone())],
            Entry::F32 { shape, .. } => vec![arr(Part::Data, Dtype::F32, shape.clone())],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_tagged_by_kind_and_strict() {
        let e = Entry::Affine { shape: vec![2, 64], bits: 4, group_size: 64, symmetric: false, checksum: Hex64(0xab) };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(s, r#"{"kind":"affine","shape":[2,64],"bits":4,"group_size":64,"checksum":"00000000000000ab"}"#);
        assert_eq!(serde_json::from_str::<Entry>(&s).unwrap(), e);
        // `symmetric` is written only when true, and read either way.
        let sym = Entry::Affine { shape: vec![2, 64], bits: 4, group_size: 64, symmetric: true, checksum: Hex64(0xab) };
        let t = serde_json::to_string(&sym).unwrap();
        assert!(t.contains(r#""group_size":64,"symmetric":true,"#), "{t}");
        assert_eq!(serde_json::from_str::<Entry>(&t).unwrap(), sym);
        let f = s.replace(r#""group_size":64,"#, r#""group_size":64,"symmetric":false,"#);
        assert_eq!(serde_json::from_str::<Entry>(&f).unwrap(), e);
        let f = r#"{"kind":"f16","shape":[3],"checksum":"0123456789abcdef"}"#;
        assert!(matches!(serde_json::from_str::<Entry>(f).unwrap(), Entry::F16 { .. }));
        for bad in [
            r#"{"kind":"f16","shape":[3],"checksum":"0123456789abcdef","extra":1}"#,
            r#"{"kind":"f64","shape":[3],"checksum":"0123456789abcdef"}"#,
            r#"{"kind":"f16","shape":[3],"checksum":"0123456789ABCDEF"}"#,
            r#"{"kind":"f16","shape":[3],"checksum":"123"}"#,
            r#"{"kind":"f16","shape":[-3],"checksum":"0123456789abcdef"}"#,
            r#"{"shape":[3],"checksum":"0123456789abcdef"}"#,
        ] {
            assert!(serde_json::from_str::<Entry>(bad).is_err(), "{bad}");
        }
    }
}
