//! Interleaved rANS coding of byte symbols, DietGPU-style: 32 lanes per block sharing one
//! stream of 16-bit words. This module knows nothing of GPUs; GPU decoders follow the format
//! below, which is normative, and [`Encoded::decode`] is their bit-exact reference.
//!
//! # Terms
//! - `P` ([`FreqTable::prob_bits`]), the probability precision, `10 <= P <= 12`; `M = 2^P`.
//! - `L = 2^16` ([`STATE_LOWER`]): states live in `[L, 2^32)` (32-bit states, 16-bit words).
//! - `LANES = 32` ([`LANES`]): interleaved rANS states per block, one per subgroup invocation.
//!
//! # Frequency table
//! A static table per tensor: symbols `0..A` with `A <= 256`, `freq[s] >= 0` summing to exactly
//! `M`, `cdf[s] = freq[0] + ... + freq[s-1]`. Symbols that occur have `freq >= 1`; a tensor of one
//! repeated symbol has `freq = M` for it, and then its states never change and it has no words.
//! [`FreqTable::from_histogram`] picks the frequencies that minimize the coded size.
//!
//! # Blocks and lanes
//! A tensor of `n` symbols is cut into `n_blocks = ceil(n / block_len)` blocks; block `b` holds
//! symbols `b * block_len .. min((b + 1) * block_len, n)` (only the last block may be shorter).
//! Within a block of `len` symbols, symbol `i` belongs to lane `i % 32` at step `i / 32`; there are
//! `ceil(len / 32)` steps, and in the last one lanes with `i >= len` are inactive. Blocks are
//! independent: each can be decoded alone.
//!
//! # Encoder (per block)
//! All 32 states start at `L`. Steps are visited in descending order, and within a step the
//! active lanes in descending order; for the symbol `s` of lane `l`, with `f = freq[s]`,
//! `c = cdf[s]`:
//! ```text
//! if (x[l] >> (32 - P)) >= f:  emit(x[l] & 0xffff); x[l] >>= 16   // x >= f * 2^(32-P); at most once
//! x[l] = ((x[l] / f) << P) + (x[l] % f) + c
//! ```
//! The emitted words are then reversed, so the decoder reads them forward. The final `x[l]` are
//! the block's stored states.
//!
//! # Decoder (per block) — what a GPU decoder implements
//! ```text
//! x[l] = states[b * 32 + l];  cur = offsets[b]
//! for t in 0 .. ceil(len / 32):
//!     active = t * 32 + l < len
//!     if active:                                    // 1. every active lane decodes
//!         slot = x & (M - 1)
//!         e    = table[slot]                        // packed decode table, below
//!         sym  = e & 0xff;  freq = ((e >> 8) & 0xfff) + 1;  cdf = e >> 20
//!         out[b * block_len + t * 32 + l] = sym
//!         x    = freq * (x >> P) + slot - cdf
//!     need   = active && x < 2^16                   // 2. then lanes that fell below L read,
//!     ballot = subgroupBallot(need)                 //    in ascending lane order
//!     if need:
//!         x = (x << 16) | word(cur + popcount(ballot & ((1 << l) - 1)))
//!     cur += popcount(ballot)
//! word(w) = (packed_words[w >> 1] >> (16 * (w & 1))) & 0xffff
//! ```
//! With `P <= 12` one word always lifts the state back to at least `2^20`, so no lane reads
//! twice in a step. A correct stream ends with every `x[l] == L` and `cur == offsets[b + 1]`;
//! the CPU decoder checks both (and that every stored state is `>= L`), a GPU decoder may skip
//! the checks. No arithmetic overflows u32 for any table whose frequencies sum to `M`. The lane
//! count is part of the format, not of the hardware: where subgroups are missing or not 32 wide
//! (8 on lavapipe, 64 on some AMD), the ballot becomes a 32-entry workgroup array of `need` flags
//! and a prefix count. Load the decode table into workgroup memory once per workgroup and let
//! the workgroup loop over many blocks, rather than once per block.
//!
//! # Arrays (what a GPU binds; all u32, little-endian)
//! - `states`: `32 * n_blocks` final encoder states, lane `l` of block `b` at `b * 32 + l`
//!   ([`Encoded::states`]).
//! - `offsets`: `n_blocks + 1` word offsets in 16-bit units; block `b` owns words
//!   `offsets[b] .. offsets[b + 1]`, `offsets[0] = 0`, `offsets[n_blocks] = num_words`
//!   ([`Encoded::offsets`]). Blocks follow each other without padding, so a block may start in
//!   the high half of a u32.
//! - `packed_words`: the 16-bit words of all blocks, two per u32, word `2k` in bits 0..16 and
//!   word `2k + 1` in bits 16..32 of `packed_words[k]`; when `num_words` is odd the high half of
//!   the last u32 is zero ([`Encoded::packed_words`]).
//! - `table`: the packed decode table, `M` entries, entry `slot` =
//!   `(cdf[s] << 20) | ((freq[s] - 1) << 8) | s` for the `s` with
//!   `cdf[s] <= slot < cdf[s] + freq[s]` ([`FreqTable::packed_decode_table`]). It takes
//!   `4 * M` bytes of workgroup memory: 16 KiB at `P = 12`, which is all of WebGPU's default
//!   `maxComputeWorkgroupStorageSize`. Where that is too much, use the compact pair
//!   [`FreqTable::slot_symbols_packed`] (the symbol of slot `k` in byte `k & 3` of u32 `k >> 2`,
//!   `M` bytes) and [`FreqTable::symbol_info`] (`(cdf[s] << 16) | freq[s]` per symbol, `4 * A`
//!   bytes), 5 KiB at `P = 12` with 256 symbols, at the cost of a second dependent lookup; or
//!   choose a smaller `P` ([`choose_prob_bits`]).
//! - scalars: [`GpuParams`] `{ n_symbols, block_len, n_blocks, prob_bits }`.
//!
//! # Serialized form ([`Encoded::to_bytes`])
//! Little-endian; every section starts at a multiple of 4 bytes.
//! ```text
//! offset size
//!  0     4   magic "RANS"
//!  4     2   version = 1
//!  6     1   P
//!  7     1   lanes = 32
//!  8     2   alphabet size A (1..=256)
//! 10     2   reserved = 0
//! 12     4   n_symbols
//! 16     4   block_len (>= 1)
//! 20     4   num_words
//! 24     8   checksum of all bytes with this field zeroed (see format.rs)
//! 32    2A   freq[0..A] as u16, then zero padding to a multiple of 4
//!  ..   4(n_blocks + 1)          offsets
//!  ..   4 * 32 * n_blocks        states
//!  ..   4 * ceil(num_words / 2)  packed_words
//! ```
//!
//! # Overhead
//! Each block costs [`BLOCK_OVERHEAD_BYTES`] = 132 bytes besides its words (32 states and one
//! offset); [`rows_per_block`] picks the fewest matrix rows per block that keep this under 1%
//! of the expected payload. Part of it is not waste: a final state holds on average about 8 bits
//! of payload that would otherwise be words. Measured on 16M symbols of a 3.70-bit source in
//! blocks of 7 rows of 4096: 3.728 bits/symbol with everything counted, 0.76% over entropy.
//! [`Encoded::sizes`] splits the coded bytes by kind.
//!
//! # Corruption
//! The decoder never panics, never reads out of bounds and always ends; a malformed stream gives
//! a [`RansError`] naming the block. rANS carries no redundancy besides the final-state and
//! word-count checks, so the decoder alone does not catch every corrupted word or state: a flip
//! that only moves a slot between two symbols of equal frequency decodes to wrong symbols. On a
//! skewed table (16-level Gaussian) random byte flips in words or states were all caught; on a
//! uniform 16-symbol table, where rANS degenerates to bit packing, almost no word flip was. The
//! serialized form's checksum catches any single corrupted byte.

mod decode;
mod encode;
mod entropy;
mod error;
mod format;
mod stream;
mod table;
#[cfg(test)]
mod tests;

pub use decode::BlockDecoder;
pub use encode::{MAX_BLOCK_OVERHEAD, encode, rows_per_block, rows_per_block_with};
pub use entropy::{entropy_bits, histogram};
pub use error::RansError;
pub use format::{HEADER_BYTES, checksum};
pub use stream::{BLOCK_OVERHEAD_BYTES, CodedSize, Encoded, GpuParams};
pub use table::{DEFAULT_PROB_BITS, FreqTable, choose_prob_bits};

/// Interleaved states per block (the subgroup width the format targets).
pub const LANES: usize = 32;
/// Lower bound of the state interval `[2^16, 2^32)`; every lane starts and ends here.
pub const STATE_LOWER: u32 = 1 << 16;
/// Bits per renormalization word.
pub const WORD_BITS: u32 = 16;
/// Smallest supported probability precision.
pub const MIN_PROB_BITS: u32 = 10;
/// Largest supported probability precision (the packed decode table has 12-bit fields).
pub const MAX_PROB_BITS: u32 = 12;
/// Largest alphabet.
pub const MAX_SYMBOLS: usize = 256;
