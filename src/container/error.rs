//! What can be wrong with a `.ecq` file, and where.

use crate::rans::RansError;

/// One part of a stored tensor: its metadata entry or one of its arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// The tensor's JSON entry in `__metadata__`.
    Metadata,
    /// rANS final states (`<name>.states`).
    States,
    /// rANS block word offsets (`<name>.offsets`).
    Offsets,
    /// rANS words, two 16-bit words per u32 (`<name>.words`).
    Words,
    /// Packed affine codes (`<name>.codes`).
    Codes,
    /// Affine scales (`<name>.scales`).
    Scales,
    /// Affine biases (`<name>.biases`).
    Biases,
    /// Raw values (`<name>.data`).
    Data,
}

impl Part {
    /// Every array part, in no particular order.
    pub const ARRAYS: [Part; 7] =
        [Part::States, Part::Offsets, Part::Words, Part::Codes, Part::Scales, Part::Biases, Part::Data];

    /// The suffix of the array's name (`states`, ...), or `metadata` for the entry.
    pub fn name(self) -> &'static str {
        match self {
            Part::Metadata => "metadata",
            Part::States => "states",
            Part::Offsets => "offsets",
            Part::Words => "words",
            Part::Codes => "codes",
            Part::Scales => "scales",
            Part::Biases => "biases",
            Part::Data => "data",
        }
    }

    /// The array part with this suffix.
    pub fn from_suffix(s: &str) -> Option<Part> {
        Part::ARRAYS.into_iter().find(|p| p.name() == s)
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A `.ecq` file that cannot be used, with the tensor and part where the problem is.
///
/// Reading and decoding never panic on malformed input; every problem ends in one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// A problem with the file as a whole: not safetensors, no ecq metadata, a header that is cut
    /// short, or arrays that do not tile the data section.
    #[error("{0}")]
    File(String),
    /// A format version this reader does not know.
    #[error("ecq container version {0:?} is not supported (this reader knows version 1)")]
    Version(String),
    /// A tensor whose metadata or arrays are malformed, missing or truncated.
    #[error("tensor `{tensor}` {part}: {msg}")]
    Tensor {
        /// The tensor's name.
        tensor: String,
        /// The part where the problem is.
        part: Part,
        /// What is wrong.
        msg: String,
    },
    /// A tensor whose rANS table or stream is malformed.
    #[error("tensor `{tensor}` rANS stream: {source}")]
    Rans {
        /// The tensor's name.
        tensor: String,
        /// What the rANS layer found.
        #[source]
        source: RansError,
    },
    /// A tensor that decoded to something other than what was stored.
    #[error(
        "tensor `{tensor}`: {decoder} decode does not match the checksum (stored {stored:016x}, decoded {actual:016x})"
    )]
    Checksum {
        /// The tensor's name.
        tensor: String,
        /// Which decoder produced the mismatching result (`CPU`, `GPU`).
        decoder: String,
        /// The checksum in the file.
        stored: u64,
        /// The checksum of what was decoded.
        actual: u64,
    },
}

impl ContainerError {
    /// The tensor the error is about, if it is about one.
    pub fn tensor(&self) -> Option<&str> {
        match self {
            ContainerError::File(_) | ContainerError::Version(_) => None,
            ContainerError::Tensor { tensor, .. }
            | ContainerError::Rans { tensor, .. }
            | ContainerError::Checksum { tensor, .. } => Some(tensor),
        }
    }

    pub(crate) fn tensor_part(tensor: &str, part: Part, msg: impl Into<String>) -> Self {
        ContainerError::Tensor { tensor: tensor.to_string(), part, msg: msg.into() }
    }

    pub(crate) fn rans(tensor: &str, source: RansError) -> Self {
        ContainerError::Rans { tensor: tensor.to_string(), source }
    }
}
