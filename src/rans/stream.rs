//! The encoded stream: table, block shape, final states, word offsets and packed words.

use std::ops::Range;

use super::{FreqTable, LANES, RansError};

/// Bytes of fixed overhead per block: 32 final states and one word offset.
pub const BLOCK_OVERHEAD_BYTES: usize = LANES * 4 + 4;

/// A tensor of symbols, rANS-coded in independent blocks of `block_len` symbols (the last block
/// may be shorter). See the [module docs](super) for the exact layout.
///
/// Only built by [`super::encode`], [`Encoded::from_parts`] or [`Encoded::from_bytes`], which
/// check that the arrays fit together; the content of the words and states is checked by the
/// decoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    pub(super) table: FreqTable,
    pub(super) n_symbols: u32,
    pub(super) block_len: u32,
    /// `LANES` per block, block-major.
    pub(super) states: Vec<u32>,
    /// `n_blocks + 1` offsets into the word stream, in 16-bit words.
    pub(super) offsets: Vec<u32>,
    /// 16-bit words, little-endian two per u32.
    pub(super) words: Vec<u32>,
    pub(super) num_words: u32,
}

/// Bytes of an encoded stream by kind, as serialized by [`Encoded::to_bytes`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodedSize {
    /// Packed words: `4 * ceil(num_words / 2)`.
    pub words: usize,
    /// Final states: `128` per block.
    pub states: usize,
    /// Word offsets: `4 * (n_blocks + 1)`.
    pub offsets: usize,
    /// Frequency table: 2 bytes per symbol of the alphabet, padded to 4.
    pub table: usize,
    /// Fixed header (shape, precision, checksum).
    pub header: usize,
}

impl CodedSize {
    /// Total bytes.
    pub fn total(&self) -> usize {
        self.words + self.states + self.offsets + self.table + self.header
    }

    /// Total bits per symbol for `n_symbols` symbols, all overhead included (0 when empty).
    pub fn bits_per_symbol(&self, n_symbols: usize) -> f64 {
        if n_symbols == 0 { 0.0 } else { self.total() as f64 * 8.0 / n_symbols as f64 }
    }
}

/// The scalar parameters a GPU decoder needs, laid out as a WGSL uniform
/// `struct { n_symbols: u32, block_len: u32, n_blocks: u32, prob_bits: u32 }`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuParams {
    /// Symbols in the tensor.
    pub n_symbols: u32,
    /// Symbols per block (the last block may be shorter).
    pub block_len: u32,
    /// Number of blocks.
    pub n_blocks: u32,
    /// Probability precision `P`.
    pub prob_bits: u32,
}

/// Number of blocks of `block_len` covering `n_symbols`.
pub(super) fn n_blocks_for(n_symbols: u32, block_len: u32) -> usize {
    (n_symbols as usize).div_ceil(block_len as usize)
}

impl Encoded {
    /// Assembles a stream from its arrays (e.g. read from a file), checking that they fit
    /// together: `block_len >= 1`, `LANES * n_blocks` states, `n_blocks + 1` non-decreasing
    /// offsets starting at 0 and ending at `num_words`, and `ceil(num_words / 2)` packed words.
    pub fn from_parts(
        table: FreqTable,
        n_symbols: u32,
        block_len: u32,
        states: Vec<u32>,
        offsets: Vec<u32>,
        words: Vec<u32>,
        num_words: u32,
    ) -> Result<Self, RansError> {
        if block_len == 0 {
            return Err(RansError::ZeroBlockLen);
        }
        let n_blocks = n_blocks_for(n_symbols, block_len);
        let check = |what, expected: usize, actual: usize| {
            if expected == actual { Ok(()) } else { Err(RansError::Length { what, expected, actual }) }
        };
        check("states", n_blocks * LANES, states.len())?;
        check("offsets", n_blocks + 1, offsets.len())?;
        check("packed words", (num_words as usize).div_ceil(2), words.len())?;
        if offsets[0] != 0 {
            return Err(RansError::Offset { block: 0, offset: offsets[0], num_words });
        }
        for (b, w) in offsets.windows(2).enumerate() {
            if w[1] < w[0] || w[1] > num_words {
                return Err(RansError::Offset { block: b, offset: w[1], num_words });
            }
        }
        if offsets[n_blocks] != num_words {
            return Err(RansError::Offset { block: n_blocks.saturating_sub(1), offset: offsets[n_blocks], num_words });
        }
        Ok(Encoded { table, n_symbols, block_len, states, offsets, words, num_words })
    }

    /// The frequency table.
    pub fn table(&self) -> &FreqTable {
        &self.table
    }

    /// Number of coded symbols.
    pub fn n_symbols(&self) -> usize {
        self.n_symbols as usize
    }

    /// Symbols per block (the last block may be shorter).
    pub fn block_len(&self) -> usize {
        self.block_len as usize
    }

    /// Number of blocks, `ceil(n_symbols / block_len)`.
    pub fn n_blocks(&self) -> usize {
        n_blocks_for(self.n_symbols, self.block_len)
    }

    /// Symbol index range of block `b` (empty when `b` is past the end).
    pub fn block_symbols(&self, b: usize) -> Range<usize> {
        let n = self.n_symbols();
        let start = (b * self.block_len()).min(n);
        start..(start + self.block_len()).min(n)
    }

    /// Final encoder states, [`LANES`] per block: lane `l` of block `b` at `b * LANES + l`.
    pub fn states(&self) -> &[u32] {
        &self.states
    }

    /// Word offsets, `n_blocks + 1` entries: block `b` owns words `offsets[b]..offsets[b + 1]`.
    pub fn offsets(&self) -> &[u32] {
        &self.offsets
    }

    /// The 16-bit words of all blocks, packed little-endian two per u32 (word `2k` in the low
    /// half of `words[k]`); a final odd word leaves the high half zero.
    pub fn packed_words(&self) -> &[u32] {
        &self.words
    }

    /// Number of 16-bit words.
    pub fn num_words(&self) -> usize {
        self.num_words as usize
    }

    /// Word `i` of the stream, or `None` past the end.
    pub fn word(&self, i: usize) -> Option<u16> {
        (i < self.num_words()).then(|| (self.words[i >> 1] >> ((i & 1) * 16)) as u16)
    }

    /// Scalars for a GPU decoder's uniform buffer.
    pub fn gpu_params(&self) -> GpuParams {
        GpuParams {
            n_symbols: self.n_symbols,
            block_len: self.block_len,
            n_blocks: self.n_blocks() as u32,
            prob_bits: self.table.prob_bits(),
        }
    }

    /// Stored bytes by kind, as serialized by [`Encoded::to_bytes`].
    pub fn sizes(&self) -> CodedSize {
        CodedSize {
            words: self.words.len() * 4,
            states: self.states.len() * 4,
            offsets: self.offsets.len() * 4,
            table: super::format::table_bytes(self.table.alphabet_len()),
            header: super::format::HEADER_BYTES,
        }
    }
}
