//! The interleaved encoder (parallel over blocks) and the choice of block length.

use rayon::prelude::*;

use super::stream::{BLOCK_OVERHEAD_BYTES, Encoded};
use super::{FreqTable, LANES, RansError, STATE_LOWER, WORD_BITS};

/// Largest fixed per-block overhead, relative to the expected payload, that
/// [`rows_per_block`] accepts.
pub const MAX_BLOCK_OVERHEAD: f64 = 0.01;

/// Encodes `symbols` in blocks of `block_len` symbols (the last may be shorter), all blocks in
/// parallel. Every symbol must have a non-zero frequency in `table`.
///
/// Errors: `block_len == 0`, more than `u32::MAX` symbols or a longer block, or a symbol the
/// table cannot code (reported with its index).
pub fn encode(symbols: &[u8], table: &FreqTable, block_len: usize) -> Result<Encoded, RansError> {
    if block_len == 0 {
        return Err(RansError::ZeroBlockLen);
    }
    let n_symbols = u32::try_from(symbols.len()).map_err(|_| RansError::TooLarge(symbols.len()))?;
    let block_len_u32 = u32::try_from(block_len).map_err(|_| RansError::TooLarge(block_len))?;
    let coder = EncSymbols::new(table);
    let blocks: Vec<([u32; LANES], Vec<u16>)> = symbols
        .par_chunks(block_len)
        .enumerate()
        .map_init(Vec::new, |scratch, (b, chunk)| {
            let (states, words) = coder.encode_block(chunk, b * block_len, scratch)?;
            Ok((states, words.to_vec()))
        })
        .collect::<Result<_, RansError>>()?;

    let mut states = Vec::with_capacity(blocks.len() * LANES);
    let mut offsets = Vec::with_capacity(blocks.len() + 1);
    let mut all_words = Vec::with_capacity(blocks.iter().map(|b| b.1.len()).sum());
    offsets.push(0u32);
    for (s, w) in &blocks {
        states.extend_from_slice(s);
        all_words.extend_from_slice(w);
        // At most one word per symbol, so the count fits in u32 like the symbol count.
        offsets.push(all_words.len() as u32);
    }
    let num_words = all_words.len() as u32;
    let words =
        all_words.par_chunks(2).map(|c| u32::from(c[0]) | c.get(1).map_or(0, |&h| u32::from(h) << 16)).collect();
    Ok(Encoded { table: table.clone(), n_symbols, block_len: block_len_u32, states, offsets, words, num_words })
}

/// Per-symbol encoder constants, indexed by any byte (zero frequency outside the alphabet).
struct EncSymbols {
    sym: [EncSymbol; 256],
    prob_bits: u32,
}

/// Division-free encoding of one symbol: `x / f` is `mulhi64(x, rcp)` (exact for every 32-bit
/// `x` and `f >= 2` with `rcp = ceil(2^64 / f)`), and the coded state
/// `(x / f) * 2^P + x % f + cdf` is rewritten as `x + bias + (x / f) * (2^P - f)`. For `f = 1`
/// `rcp = 2^64 - 1` yields `x - 1`, which `bias = cdf + 2^P - 1` compensates.
#[derive(Clone, Copy, Default)]
struct EncSymbol {
    freq: u32,
    bias: u32,
    cmpl_freq: u32,
    rcp: u64,
}

impl EncSymbols {
    fn new(table: &FreqTable) -> Self {
        let m = 1u32 << table.prob_bits();
        let mut sym = [EncSymbol::default(); 256];
        for (e, (&f, &c)) in sym.iter_mut().zip(table.freqs().iter().zip(table.cdf())) {
            *e = match f {
                0 => EncSymbol::default(),
                1 => EncSymbol { freq: 1, bias: c + m - 1, cmpl_freq: m - 1, rcp: u64::MAX },
                _ => EncSymbol { freq: f, bias: c, cmpl_freq: m - f, rcp: u64::MAX / u64::from(f) + 1 },
            };
        }
        EncSymbols { sym, prob_bits: table.prob_bits() }
    }

    /// Encodes one block: steps descending, lanes descending within a step, so that the
    /// decoder runs forward. Returns the final states and the block's words in decoder
    /// (forward) order, as a slice of `scratch`.
    fn encode_block<'s>(
        &self,
        block: &[u8],
        first_index: usize,
        scratch: &'s mut Vec<u16>,
    ) -> Result<([u32; LANES], &'s [u16]), RansError> {
        // At most one word per symbol. Words are emitted in reverse, so they are written from
        // the end of the scratch buffer down and come out in forward order.
        scratch.resize(block.len(), 0);
        let mut n = 0;
        let p = self.prob_bits;
        let mut x = [STATE_LOWER; LANES];
        let steps = block.len().div_ceil(LANES);
        for t in (0..steps).rev() {
            let step = &block[t * LANES..block.len().min((t + 1) * LANES)];
            for (l, &s) in step.iter().enumerate().rev() {
                let e = self.sym[s as usize];
                if e.freq == 0 {
                    return Err(RansError::SymbolNotInTable { index: first_index + t * LANES + l, symbol: s });
                }
                let xl = x[l];
                // Renormalize so that the coded state stays below 2^32: x < f * 2^(32-P).
                // With f = 2^P (a single symbol) this never fires and the state never changes.
                // The word is stored unconditionally and kept by advancing `n`: no branch.
                let emit = (xl >> (32 - p)) >= e.freq;
                scratch[block.len() - 1 - n.min(block.len() - 1)] = xl as u16;
                n += usize::from(emit);
                let xl = if emit { xl >> WORD_BITS } else { xl };
                let q = ((u128::from(xl) * u128::from(e.rcp)) >> 64) as u32;
                x[l] = xl + e.bias + q * e.cmpl_freq;
            }
        }
        Ok((x, &scratch[block.len() - n..]))
    }
}

/// Smallest whole number of rows of `row_len` symbols per block such that the fixed per-block
/// overhead ([`BLOCK_OVERHEAD_BYTES`]) is under [`MAX_BLOCK_OVERHEAD`] of the block's expected
/// payload at the table's entropy. Capped at `n_rows` (one block for the whole tensor), which is
/// also the answer when the entropy is zero.
pub fn rows_per_block(table: &FreqTable, row_len: usize, n_rows: usize) -> usize {
    rows_per_block_with(table, row_len, n_rows, MAX_BLOCK_OVERHEAD)
}

/// [`rows_per_block`] with an explicit overhead limit (e.g. `0.005` for 0.5%).
pub fn rows_per_block_with(table: &FreqTable, row_len: usize, n_rows: usize, max_overhead: f64) -> usize {
    let n_rows = n_rows.max(1);
    let row_payload = row_len as f64 * table.entropy_bits() / 8.0;
    if row_payload <= 0.0 || max_overhead <= 0.0 {
        return n_rows;
    }
    // The overhead fraction is OVERHEAD / (r * row_payload); the smallest r strictly above
    // OVERHEAD / (max_overhead * row_payload) keeps it under the limit.
    let bound = BLOCK_OVERHEAD_BYTES as f64 / (max_overhead * row_payload);
    if bound >= n_rows as f64 {
        return n_rows;
    }
    (bound.floor() as usize + 1).min(n_rows)
}
