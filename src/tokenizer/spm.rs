//! The SentencePiece-style tokenizer (GGUF tokenizer model `llama`): Llama 2, Mistral, Gemma 1-3.
//!
//! llama.cpp's `llm_tokenizer_spm`: spaces are written `▁` (U+2581), the text starts as one symbol
//! per character, and the adjacent pair whose concatenation is the vocabulary entry of highest
//! score is merged (leftmost first among equals) until no concatenation is an entry. A character
//! that is not an entry falls back to its bytes' tokens (`<0x41>`).

use std::collections::BinaryHeap;

use super::TokenId;
use super::hash::FastMap;

/// SentencePiece's word-boundary mark, which stands for a space in vocabulary entries.
pub const SPACE: &str = "\u{2581}";

/// A score with a total order where llama.cpp compares with `<` (0.0 and -0.0 are equal).
#[derive(Clone, Copy)]
struct Score(f32);

impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0 + 0.0).total_cmp(&(other.0 + 0.0))
    }
}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Score {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Score {}

/// The byte fallback of a SentencePiece vocabulary.
#[derive(Clone, Debug)]
pub struct Spm {
    /// The token of each byte: `<0xNN>`, else the byte itself as an entry, else the unknown token.
    byte_token: [Option<TokenId>; 256],
}

/// Reused buffers for one encode call.
#[derive(Default)]
pub struct Work {
    syms: Vec<Sym>,
    heap: BinaryHeap<(Score, std::cmp::Reverse<u32>, u32)>,
}

#[derive(Clone, Copy)]
struct Sym {
    start: u32,
    len: u32,
    prev: u32,
    next: u32,
}

const NONE: u32 = u32::MAX;

impl Spm {
    /// The byte fallback of the vocabulary `ids`.
    pub fn new(ids: &FastMap<String, TokenId>, unk: Option<TokenId>) -> Self {
        let byte_token = std::array::from_fn(|b| {
            let raw = (1..0x80).contains(&b).then(|| char::from(b as u8).to_string());
            ids.get(&format!("<0x{b:02X}>")).or_else(|| raw.and_then(|r| ids.get(&r))).copied().or(unk)
        });
        Spm { byte_token }
    }

    /// Encodes `text`, already escaped (`▁` for spaces), onto `out`. `scores` and `ids`
    /// describe the vocabulary.
    pub fn encode(
        &self,
        text: &str,
        ids: &FastMap<String, TokenId>,
        scores: &[f32],
        work: &mut Work,
        out: &mut Vec<TokenId>,
    ) {
        let syms = &mut work.syms;
        syms.clear();
        for (i, (at, c)) in text.char_indices().enumerate() {
            let i = i as u32;
            syms.push(Sym { start: at as u32, len: c.len_utf8() as u32, prev: i.wrapping_sub(1), next: i + 1 });
        }
        let Some(last) = syms.last_mut() else { return };
        last.next = NONE;
        let heap = &mut work.heap;
        heap.clear();
        // The candidate merge of `left` and its right neighbour: (score, leftmost first, size).
        let bigram = |syms: &[Sym], left: u32| {
            let l = syms[left as usize];
            if l.next == NONE {
                return None;
            }
            let r = syms[l.next as usize];
            let joined = &text[l.start as usize..(r.start + r.len) as usize];
            ids.get(joined).map(|&id| (Score(scores[id as usize]), std::cmp::Reverse(left), l.len + r.len))
        };
        for i in 0..syms.len() as u32 {
            heap.extend(bigram(syms, i));
        }
        while let Some((_, std::cmp::Reverse(left), size)) = heap.pop() {
            let l = syms[left as usize];
            // Stale: either side changed since the candidate was made.
            if l.len == 0 || l.next == NONE || l.len + syms[l.next as usize].len != size {
                continue;
            }
            let right = l.next;
            let after = syms[right as usize].next;
            syms[left as usize].len = size;
            syms[left as usize].next = after;
            syms[right as usize].len = 0;
            if after != NONE {
                syms[after as usize].prev = left;
            }
            if l.prev != NONE {
                heap.extend(bigram(syms, l.prev));
            }
            heap.extend(bigram(syms, left));
        }
        let mut i = 0;
        while i != NONE {
            let s = syms[i as usize];
            let piece = &text[s.start as usize..(s.start + s.len) as usize];
            match ids.get(piece) {
                Some(&id) => out.push(id),
                None => out.extend(piece.bytes().filter_map(|b| self.byte_token[b as usize])),
            }
            i = s.next;
        }
    }
}
