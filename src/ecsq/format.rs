//! Serialization of an [`EcsqMatrix`] (little-endian, every section 4-byte aligned):
//!
//! ```text
//! 0   magic "ECSQ"            4   version u16 = 1        6   reserved u16 = 0
//! 8   rows u32                12  cols u32               16  rows_per_step u32
//! 20  code_min i8, 3 zero bytes                          24  outliers u32
//! 28  stream bytes u32
//! 32  steps: ceil(rows / rows_per_step) f16, zero-padded to 4 bytes
//!     outlier indices: u32 each
//!     outlier corrections: f16 each, zero-padded to 4 bytes
//!     the rANS stream ([`Encoded::to_bytes`], with its own checksum)
//! ```

use half::f16;

use super::{EcsqMatrix, Outliers};
use crate::rans::Encoded;
use crate::{Error, Result};

/// Bytes of the header.
pub(crate) const HEADER_BYTES: usize = 32;
const MAGIC: &[u8; 4] = b"ECSQ";
const VERSION: u16 = 1;

/// Bytes of everything but the rANS stream: header, steps and outliers.
pub(crate) fn fixed_bytes(n_steps: usize, n_outliers: usize) -> usize {
    HEADER_BYTES + (2 * n_steps).next_multiple_of(4) + 4 * n_outliers + (2 * n_outliers).next_multiple_of(4)
}

/// Bytes of [`to_bytes`].
pub(crate) fn stored_bytes(m: &EcsqMatrix) -> usize {
    fixed_bytes(m.steps.len(), m.outliers.len()) + m.stream.sizes().total()
}

impl EcsqMatrix {
    /// Serializes the matrix (layout in the `format` module docs; [`EcsqMatrix::stored_bytes`]
    /// bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let stream = self.stream.to_bytes();
        let mut out = Vec::with_capacity(stored_bytes(self));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        for v in [self.rows, self.cols, self.rows_per_step] {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        out.extend_from_slice(&[self.code_min as u8, 0, 0, 0]);
        out.extend_from_slice(&(self.outliers.len() as u32).to_le_bytes());
        out.extend_from_slice(&(stream.len() as u32).to_le_bytes());
        let pad = |out: &mut Vec<u8>| out.resize(out.len().next_multiple_of(4), 0);
        for s in &self.steps {
            out.extend_from_slice(&s.to_bits().to_le_bytes());
        }
        pad(&mut out);
        for i in self.outliers.index() {
            out.extend_from_slice(&i.to_le_bytes());
        }
        for v in self.outliers.value() {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        pad(&mut out);
        out.extend_from_slice(&stream);
        out
    }

    /// Parses bytes written by [`EcsqMatrix::to_bytes`], checking the header, the exact length,
    /// the stream (and its checksum) and that the parts fit together ([`EcsqMatrix::from_parts`]).
    /// Never panics on bad input; `name` labels errors.
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<Self> {
        let fail = |offset: usize, msg: &str| Err(Error::tensor(name, format!("ECSQ bytes at {offset}: {msg}")));
        if bytes.len() < HEADER_BYTES {
            return fail(bytes.len(), "truncated header");
        }
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]) as usize;
        if &bytes[..4] != MAGIC {
            return fail(0, "bad magic");
        }
        if u16_at(4) != VERSION {
            return fail(4, "unsupported version");
        }
        if u16_at(6) != 0 || bytes[21..24] != [0, 0, 0] {
            return fail(6, "reserved field is not zero");
        }
        let (rows, cols, rps) = (u32_at(8), u32_at(12), u32_at(16));
        let code_min = bytes[20] as i8;
        let (n_out, stream_len) = (u32_at(24), u32_at(28));
        if rps == 0 || rps > rows {
            return fail(16, "rows per step outside 1..=rows");
        }
        let n_steps = rows.div_ceil(rps);
        // u32 fields: no overflow in u64 / usize on 64-bit; checked anyway for 32-bit targets.
        let end = fixed_bytes(n_steps, n_out).checked_add(stream_len);
        if end != Some(bytes.len()) {
            return fail(bytes.len(), "length does not match the header");
        }
        let mut at = HEADER_BYTES;
        let steps: Vec<f16> = (0..n_steps).map(|i| f16::from_bits(u16_at(at + 2 * i))).collect();
        at += (2 * n_steps).next_multiple_of(4);
        let index: Vec<u32> = (0..n_out).map(|i| u32_at(at + 4 * i) as u32).collect();
        at += 4 * n_out;
        let value: Vec<f16> = (0..n_out).map(|i| f16::from_bits(u16_at(at + 2 * i))).collect();
        at += (2 * n_out).next_multiple_of(4);
        let stream = Encoded::from_bytes(&bytes[at..]).map_err(|e| Error::tensor(name, format!("ECSQ stream: {e}")))?;
        let n = rows.saturating_mul(cols);
        let outliers = Outliers::new(index, value, n).map_err(|e| Error::tensor(name, e.to_string()))?;
        EcsqMatrix::from_parts(name, rows, cols, rps, steps, code_min, stream, outliers)
    }
}
