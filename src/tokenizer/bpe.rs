//! Byte-level BPE (GGUF tokenizer model `gpt2`): GPT-2, SmolLM2, Llama 3, Qwen2.
//!
//! Each piece of the pre-tokenizer is written in GPT-2's byte-level alphabet (one printable
//! character per byte) and starts as one symbol per byte; the adjacent pair of lowest merge rank is
//! merged (leftmost first among equals) until no merge applies. Symbols are vocabulary entries or,
//! where a merge list names text that is not in the vocabulary, extra symbols past its end, so
//! merges behave exactly as llama.cpp's, which merges texts: a symbol left over that is not a token
//! is spelled out byte by byte where single-character tokens exist and dropped otherwise.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::TokenId;
use super::hash::FastMap;
use super::pretokenize::{PreKind, Pretokenizer};
use crate::{Error, Result};

/// GPT-2's byte-to-character map: printable Latin-1 bytes stand for themselves, the other 68
/// bytes for the characters from U+0100 up, in byte order.
pub fn byte_chars() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        map[b as usize] = if printable {
            char::from(b)
        } else {
            next += 1;
            char::from_u32(next - 1).expect("below the surrogates")
        };
    }
    map
}

/// The inverse of [`byte_chars`], indexed by character (all below U+0144).
pub fn char_bytes() -> [Option<u8>; 0x144] {
    let mut map = [None; 0x144];
    for (b, c) in byte_chars().into_iter().enumerate() {
        map[c as usize] = Some(b as u8);
    }
    map
}

/// The merges and pre-tokenizer of a byte-level BPE vocabulary.
#[derive(Clone, Debug)]
pub struct Bpe {
    pre: Pretokenizer,
    ignore_merges: bool,
    /// The symbol of each byte.
    byte_sym: [u32; 256],
    /// (left, right) -> (rank, merged).
    merges: FastMap<(u32, u32), (u32, u32)>,
    /// Symbols below this are token ids.
    n_tokens: u32,
    /// Byte-level text of the extra symbols `n_tokens..`.
    extra: Vec<String>,
    /// The token whose text is the single ASCII character `c`, for spelling out extra symbols.
    ascii: [Option<TokenId>; 128],
    byte_chars: [char; 256],
}

/// Reused buffers for one encode call.
#[derive(Default)]
pub struct Work {
    syms: Vec<Sym>,
    heap: BinaryHeap<Reverse<(u32, u32, u32, u32)>>,
    word: String,
}

#[derive(Clone, Copy)]
struct Sym {
    id: u32,
    prev: u32,
    next: u32,
}

const NONE: u32 = u32::MAX;

impl Bpe {
    /// Builds the merge table. `ids` maps every vocabulary entry's stored text to its id.
    pub fn new(n_tokens: usize, ids: &FastMap<String, TokenId>, merges: &[String], pre: PreKind) -> Result<Self> {
        let n_tokens = n_tokens as u32;
        let mut extra_ids: FastMap<String, u32> = FastMap::default();
        let mut extra: Vec<String> = Vec::new();
        let mut sym = |text: &str| -> u32 {
            if let Some(&id) = ids.get(text) {
                return id;
            }
            if let Some(&id) = extra_ids.get(text) {
                return id;
            }
            let id = n_tokens + extra.len() as u32;
            extra.push(text.to_string());
            extra_ids.insert(text.to_string(), id);
            id
        };
        let byte_chars = byte_chars();
        let byte_sym = byte_chars.map(|c| sym(c.encode_utf8(&mut [0; 4])));
        let mut table = FastMap::with_capacity_and_hasher(merges.len(), Default::default());
        let mut joined = String::new();
        for (rank, m) in merges.iter().enumerate() {
            // llama.cpp splits at the first space after the first byte.
            let at = m.bytes().skip(1).position(|b| b == b' ').map(|i| i + 1).ok_or_else(|| {
                Error::InvalidArgument(format!("merge {rank} `{m}` is not two symbols separated by a space"))
            })?;
            let (l, r) = (&m[..at], &m[at + 1..]);
            joined.clear();
            joined.push_str(l);
            joined.push_str(r);
            let key = (sym(l), sym(r));
            let merged = sym(&joined);
            // The first (highest priority) of duplicate merges wins.
            table.entry(key).or_insert((rank as u32, merged));
        }
        let ascii = std::array::from_fn(|c| ids.get(char::from(c as u8).encode_utf8(&mut [0; 4]) as &str).copied());
        Ok(Bpe {
            pre: Pretokenizer::new(pre),
            ignore_merges: pre.ignores_merges(),
            byte_sym,
            merges: table,
            n_tokens,
            extra,
            ascii,
            byte_chars,
        })
    }

    /// The pre-tokenizer kind.
    pub fn pre(&self) -> PreKind {
        self.pre.kind()
    }

    /// Encodes ordinary text (no special tokens in it) onto `out`.
    pub fn encode(&self, text: &str, ids: &FastMap<String, TokenId>, work: &mut Work, out: &mut Vec<TokenId>) {
        for piece in self.pre.split(text) {
            if self.ignore_merges {
                work.word.clear();
                work.word.extend(piece.bytes().map(|b| self.byte_chars[b as usize]));
                if let Some(&id) = ids.get(work.word.as_str()) {
                    out.push(id);
                    continue;
                }
            }
            self.merge(piece.as_bytes(), work, out);
        }
    }

    fn merge(&self, piece: &[u8], work: &mut Work, out: &mut Vec<TokenId>) {
        let n = piece.len() as u32;
        let syms = &mut work.syms;
        syms.clear();
        syms.extend(piece.iter().enumerate().map(|(i, &b)| Sym {
            id: self.byte_sym[b as usize],
            prev: if i == 0 { NONE } else { i as u32 - 1 },
            next: if i as u32 + 1 == n { NONE } else { i as u32 + 1 },
        }));
        let heap = &mut work.heap;
        heap.clear();
        let pair = |syms: &[Sym], left: u32| -> Option<Reverse<(u32, u32, u32, u32)>> {
            let right = syms[left as usize].next;
            if right == NONE {
                return None;
            }
            let (l, r) = (syms[left as usize].id, syms[right as usize].id);
            self.merges.get(&(l, r)).map(|&(rank, _)| Reverse((rank, left, l, r)))
        };
        for i in 0..n.saturating_sub(1) {
            heap.extend(pair(syms, i));
        }
        while let Some(Reverse((_, left, l, r))) = heap.pop() {
            let right = syms[left as usize].next;
            // Stale: the left symbol was merged away or changed, or its neighbour did.
            if syms[left as usize].id != l || right == NONE || syms[right as usize].id != r {
                continue;
            }
            let merged = self.merges[&(l, r)].1;
            let after = syms[right as usize].next;
            syms[left as usize].id = merged;
            syms[left as usize].next = after;
            syms[right as usize].id = NONE;
            if after != NONE {
                syms[after as usize].prev = left;
            }
            let prev = syms[left as usize].prev;
            if prev != NONE {
                heap.extend(pair(syms, prev));
            }
            heap.extend(pair(syms, left));
        }
        let mut i = if n == 0 { NONE } else { 0 };
        while i != NONE {
            let id = syms[i as usize].id;
            if id < self.n_tokens {
                out.push(id);
            } else {
                // Not a token: llama.cpp looks each byte of the symbol's text up as a token.
                let text = &self.extra[(id - self.n_tokens) as usize];
                out.extend(text.bytes().filter(|b| b.is_ascii()).filter_map(|b| self.ascii[b as usize]));
            }
            i = syms[i as usize].next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_a_bijection_onto_printable_characters() {
        let chars = byte_chars();
        assert_eq!(chars[b'A' as usize], 'A');
        assert_eq!(chars[b' ' as usize], 'Ġ');
        assert_eq!(chars[b'\n' as usize], 'Ċ');
        assert_eq!(char_bytes().iter().flatten().count(), 256);
        assert!(chars.iter().all(|c| !c.is_whitespace() && !c.is_control()));
    }
}
