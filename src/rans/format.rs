//! Serialization of an [`Encoded`] stream to bytes and back (layout in the module docs).

use super::stream::{Encoded, n_blocks_for};
use super::{FreqTable, LANES, MAX_SYMBOLS, RansError};

/// Bytes of the fixed header.
pub const HEADER_BYTES: usize = 32;
const MAGIC: &[u8; 4] = b"RANS";
const VERSION: u16 = 1;
const CHECKSUM_AT: usize = 24;

/// Serialized bytes of a table of `alphabet_len` symbols: one u16 each, padded to 4 bytes.
pub(super) fn table_bytes(alphabet_len: usize) -> usize {
    (2 * alphabet_len).next_multiple_of(4)
}

impl Encoded {
    /// Serializes the stream (little-endian, every section 4-byte aligned, with a checksum).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.sizes().total());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.push(self.table.prob_bits() as u8);
        out.push(LANES as u8);
        out.extend_from_slice(&(self.table.alphabet_len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        for v in [self.n_symbols, self.block_len, self.num_words] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&0u64.to_le_bytes());
        for &f in self.table.freqs() {
            // Frequencies are at most 2^12.
            out.extend_from_slice(&(f as u16).to_le_bytes());
        }
        out.resize(HEADER_BYTES + table_bytes(self.table.alphabet_len()), 0);
        for v in self.offsets.iter().chain(&self.states).chain(&self.words) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let sum = checksum(&out);
        out[CHECKSUM_AT..CHECKSUM_AT + 8].copy_from_slice(&sum.to_le_bytes());
        out
    }

    /// Parses bytes written by [`Encoded::to_bytes`], checking the header, the exact length, the
    /// checksum, the table and the array shapes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RansError> {
        let fail = |offset, msg| Err(RansError::Format { offset, msg });
        if bytes.len() < HEADER_BYTES {
            return fail(bytes.len(), "truncated header");
        }
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        if &bytes[..4] != MAGIC {
            return fail(0, "bad magic");
        }
        if u16_at(4) != VERSION {
            return fail(4, "unsupported version");
        }
        let prob_bits = u32::from(bytes[6]);
        if usize::from(bytes[7]) != LANES {
            return fail(7, "lane count is not 32");
        }
        let alphabet_len = usize::from(u16_at(8));
        if alphabet_len == 0 || alphabet_len > MAX_SYMBOLS {
            return fail(8, "alphabet size outside 1..=256");
        }
        if u16_at(10) != 0 {
            return fail(10, "reserved field is not zero");
        }
        let (n_symbols, block_len, num_words) = (u32_at(12), u32_at(16), u32_at(20));
        if block_len == 0 {
            return fail(16, "block length is zero");
        }
        let n_blocks = n_blocks_for(n_symbols, block_len);
        let table_at = HEADER_BYTES;
        let offsets_at = table_at + table_bytes(alphabet_len);
        let states_at = offsets_at + 4 * (n_blocks + 1);
        let words_at = states_at + 4 * LANES * n_blocks;
        let end = words_at + 4 * (num_words as usize).div_ceil(2);
        if bytes.len() != end {
            return fail(bytes.len().min(end), "length does not match the header");
        }
        let stored = u64::from_le_bytes(bytes[CHECKSUM_AT..CHECKSUM_AT + 8].try_into().expect("8 bytes"));
        let mut zeroed = bytes[..HEADER_BYTES].to_vec();
        zeroed[CHECKSUM_AT..].fill(0);
        if checksum_parts(&zeroed, &bytes[HEADER_BYTES..]) != stored {
            return fail(CHECKSUM_AT, "checksum mismatch");
        }
        let freqs = (0..alphabet_len).map(|s| u32::from(u16_at(table_at + 2 * s))).collect();
        let table = FreqTable::new(prob_bits, freqs)?;
        let u32s = |from: usize, to: usize| (from..to).step_by(4).map(u32_at).collect::<Vec<_>>();
        Encoded::from_parts(
            table,
            n_symbols,
            block_len,
            u32s(states_at, words_at),
            u32s(offsets_at, states_at),
            u32s(words_at, end),
            num_words,
        )
    }
}

/// 64-bit checksum of the serialized bytes with the checksum field zeroed (not cryptographic).
///
/// The bytes, zero-padded to a multiple of 32, are read as little-endian u64 `v[i]`; four
/// accumulators `h[k]` start at `K * (k + 1)` and take `h[i % 4] = rotl((h[i % 4] ^ v[i]) * K, 29)`;
/// then `a = len`, and for `k` in 0..4, `a = rotl((a ^ h[k]) * K, 29)`; the result is
/// `a ^ (a >> 32)`, with `K = 0x9E3779B97F4A7C15` and wrapping multiplication. Every step is a
/// bijection of the accumulator, so any change confined to one accumulator's words (e.g. any
/// single corrupted byte) always changes the checksum.
pub fn checksum(bytes: &[u8]) -> u64 {
    checksum_parts(bytes, &[])
}

/// [`checksum`] of the concatenation `a ++ b`, where `a.len()` is a multiple of 32.
fn checksum_parts(a: &[u8], b: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    debug_assert!(a.len() % 32 == 0 || b.is_empty());
    let mut h: [u64; 4] = std::array::from_fn(|k| K.wrapping_mul(k as u64 + 1));
    let mut absorb = |chunk: &[u8]| {
        for (k, v) in chunk.chunks_exact(8).enumerate() {
            let v = u64::from_le_bytes(v.try_into().expect("8 bytes"));
            h[k] = (h[k] ^ v).wrapping_mul(K).rotate_left(29);
        }
    };
    for part in [a, b] {
        let mut chunks = part.chunks_exact(32);
        chunks.by_ref().for_each(&mut absorb);
        if !chunks.remainder().is_empty() {
            let mut last = [0u8; 32];
            last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
            absorb(&last);
        }
    }
    let mut acc = (a.len() + b.len()) as u64;
    for v in h {
        acc = (acc ^ v).wrapping_mul(K).rotate_left(29);
    }
    acc ^ (acc >> 32)
}
