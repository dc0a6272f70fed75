//! Errors as values: every fallible public function returns [`Result`].

use std::path::PathBuf;

/// Result alias used throughout ecq.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in ecq. Messages name the tensor, file or limit involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not in the expected format (bad header, truncated, inconsistent sizes).
    #[error("{path}: invalid file: {msg}")]
    InvalidFile {
        /// The file involved.
        path: PathBuf,
        /// What was wrong.
        msg: String,
    },
    /// A tensor cannot be used as asked (shape, dtype, non-finite values, ...).
    #[error("tensor `{tensor}`: {msg}")]
    Tensor {
        /// Name of the tensor (or a description when it has none).
        tensor: String,
        /// What was wrong.
        msg: String,
    },
    /// A format or parameter combination that ecq does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Invalid argument passed to an API.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// No GPU adapter matched the request.
    #[error("no GPU adapter found ({0})")]
    NoAdapter(String),
    /// The adapter refused to create a device.
    #[error("GPU device request failed: {0}")]
    RequestDevice(String),
    /// A GPU operation failed (validation error, out of memory, mapping failure, ...).
    #[error("GPU error: {0}")]
    Gpu(String),
    /// A model is not where it was looked for; the message says how to get it.
    #[error("{0}")]
    ModelMissing(String),
    /// A download failed or did not match what was published.
    #[error("download of {url} failed: {msg}")]
    Download {
        /// What was being fetched.
        url: String,
        /// What went wrong.
        msg: String,
    },
    /// rANS coding failed: a malformed table or stream, or a symbol the table cannot code.
    #[error("rANS: {0}")]
    Rans(#[from] crate::rans::RansError),
    /// A `.ecq` container that is malformed, truncated or does not decode to its checksum.
    #[error("{0}")]
    Container(#[from] crate::container::ContainerError),
}

impl Error {
    /// Shorthand for [`Error::Tensor`].
    pub fn tensor(tensor: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Tensor { tensor: tensor.into(), msg: msg.into() }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// Shorthand for [`Error::InvalidFile`].
    pub fn invalid_file(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::InvalidFile { path: path.into(), msg: msg.into() }
    }
}
