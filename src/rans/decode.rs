//! The reference CPU decoder: exactly the steps a GPU decoder performs, with every check.

use rayon::prelude::*;

use super::stream::Encoded;
use super::{LANES, RansError, STATE_LOWER, WORD_BITS};

/// Decodes blocks of one [`Encoded`] stream; holds the packed decode table so that decoding many
/// blocks one by one builds it once.
pub struct BlockDecoder<'a> {
    enc: &'a Encoded,
    /// [`super::FreqTable::packed_decode_table`] padded to 4096 entries, so that indexing with a
    /// 12-bit slot needs no bounds check.
    table: Box<[u32; 4096]>,
}

impl Encoded {
    /// Decodes all symbols (blocks in parallel).
    pub fn decode(&self) -> Result<Vec<u8>, RansError> {
        let mut out = vec![0; self.n_symbols()];
        self.decode_into(&mut out)?;
        Ok(out)
    }

    /// Decodes all symbols into `out`, which must hold exactly `n_symbols()` bytes (blocks in
    /// parallel). On error, `out` holds partial results and the error names one failing block.
    pub fn decode_into(&self, out: &mut [u8]) -> Result<(), RansError> {
        if out.len() != self.n_symbols() {
            return Err(RansError::Length { what: "output", expected: self.n_symbols(), actual: out.len() });
        }
        let dec = self.block_decoder();
        out.par_chunks_mut(self.block_len()).enumerate().try_for_each(|(b, o)| dec.decode_block(b, o))
    }

    /// Decodes block `b` into `out`, which must hold exactly `block_symbols(b).len()` bytes.
    pub fn decode_block(&self, b: usize, out: &mut [u8]) -> Result<(), RansError> {
        self.block_decoder().decode_block(b, out)
    }

    /// A decoder for decoding blocks one at a time.
    pub fn block_decoder(&self) -> BlockDecoder<'_> {
        let mut table = Box::new([0u32; 4096]);
        let packed = self.table.packed_decode_table();
        table[..packed.len()].copy_from_slice(&packed);
        BlockDecoder { enc: self, table }
    }
}

impl BlockDecoder<'_> {
    /// Decodes block `b` into `out`, which must hold exactly `block_symbols(b).len()` bytes.
    ///
    /// Checks that the stored states lie in `[2^16, 2^32)`, that no read runs past the block's
    /// words, that all words are consumed and that every lane ends in the state `2^16` the
    /// encoder started from.
    pub fn decode_block(&self, b: usize, out: &mut [u8]) -> Result<(), RansError> {
        let enc = self.enc;
        let n_blocks = enc.n_blocks();
        if b >= n_blocks {
            return Err(RansError::BlockIndex { block: b, n_blocks });
        }
        let len = enc.block_symbols(b).len();
        if out.len() != len {
            return Err(RansError::Length { what: "block output", expected: len, actual: out.len() });
        }
        let mut x: [u32; LANES] = enc.states[b * LANES..(b + 1) * LANES].try_into().expect("LANES states per block");
        if let Some((lane, &state)) = x.iter().enumerate().find(|(_, s)| **s < STATE_LOWER) {
            return Err(RansError::InitialState { block: b, lane, state });
        }
        let (start, end) = (enc.offsets[b], enc.offsets[b + 1]);
        let words = &enc.words;
        let p = enc.table.prob_bits();
        let mask = (1u32 << p) - 1;
        let mut cur = start;
        for (t, step) in out.chunks_mut(LANES).enumerate() {
            if step.len() == LANES && end - cur >= LANES as u32 {
                // Fast path: even if every lane reads, the words are there; decode and read
                // fused per lane (still ascending lane order), without branches on the data.
                for (o, xl) in step.iter_mut().zip(x.iter_mut()) {
                    let (sym, next) = self.decode_one(*xl, p, mask);
                    *o = sym;
                    // Arithmetic rather than `if`: LLVM would turn a select into a branch,
                    // and whether a lane reads is close to random.
                    let need = u32::from(next < STATE_LOWER);
                    let w = (words[(cur >> 1) as usize] >> ((cur & 1) * 16)) & 0xffff;
                    *xl = (next << (need * WORD_BITS)) | (w & need.wrapping_neg());
                    cur += need;
                }
                continue;
            }
            for (o, xl) in step.iter_mut().zip(x.iter_mut()) {
                (*o, *xl) = self.decode_one(*xl, p, mask);
            }
            // Lanes that fell below 2^16 read the next words, in ascending lane order.
            for (lane, xl) in x[..step.len()].iter_mut().enumerate() {
                if *xl < STATE_LOWER {
                    if cur >= end {
                        return Err(RansError::WordsExhausted { block: b, step: t, lane, offset: cur });
                    }
                    let w = (words[(cur >> 1) as usize] >> ((cur & 1) * 16)) & 0xffff;
                    *xl = (*xl << WORD_BITS) | w;
                    cur += 1;
                }
            }
        }
        if cur != end {
            return Err(RansError::LeftoverWords { block: b, used: cur - start, count: end - start });
        }
        if let Some((lane, &state)) = x.iter().enumerate().find(|(_, s)| **s != STATE_LOWER) {
            return Err(RansError::FinalState { block: b, lane, state });
        }
        Ok(())
    }

    /// One decode step of one lane: the symbol and the state before renormalization.
    #[inline(always)]
    fn decode_one(&self, x: u32, p: u32, mask: u32) -> (u8, u32) {
        let slot = x & mask;
        let e = self.table[(slot & 0xfff) as usize];
        let freq = ((e >> 8) & 0xfff) + 1;
        (e as u8, freq * (x >> p) + (slot - (e >> 20)))
    }
}
