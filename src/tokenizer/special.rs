//! Special tokens written in text (`<|im_start|>`, `<start_of_turn>`, `<s>`), found before the
//! ordinary text is tokenized.
//!
//! llama.cpp's rule (`tokenizer_st_partition`): the special tokens are taken one after another,
//! longest text first, and each one splits every stretch of text that no earlier token claimed, at
//! its leftmost occurrences. So where two specials overlap in the text, the longer one wins even if
//! it starts later. Control and unknown tokens are only recognized when asked (`parse_special`);
//! user-defined tokens always are.
//!
//! Rather than scanning the text once per special token (Gemma's vocabulary has thousands), every
//! occurrence of every special token is found in one pass over a byte trie, then the occurrences
//! are accepted in the order above.

use std::collections::BTreeMap;

use super::TokenId;

/// A piece of the input: text to tokenize, or a special token found in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fragment<'t> {
    /// Ordinary text.
    Text(&'t str),
    /// A special token written in the text.
    Token(TokenId),
}

#[derive(Clone, Debug)]
struct Entry {
    id: TokenId,
    len: usize,
    /// Control and unknown tokens: recognized only with `parse_special`.
    only_when_parsing: bool,
}

#[derive(Clone, Debug, Default)]
struct Node {
    /// (byte, child), sorted by byte.
    children: Vec<(u8, u32)>,
    /// The entry whose text ends here.
    entry: Option<u32>,
}

/// The special tokens of a vocabulary, ready to be found in text.
#[derive(Clone, Debug, Default)]
pub struct Specials {
    /// In llama.cpp's order: longest text first (ties: lower id first).
    entries: Vec<Entry>,
    nodes: Vec<Node>,
}

impl Specials {
    /// The specials `(id, text, only_when_parsing)`; empty texts are skipped, and of two tokens
    /// with the same text the first one in priority order is kept.
    pub fn new<'a>(specials: impl IntoIterator<Item = (TokenId, &'a str, bool)>) -> Self {
        let mut v: Vec<(TokenId, &str, bool)> = specials.into_iter().filter(|s| !s.1.is_empty()).collect();
        v.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        let mut s = Specials { entries: Vec::with_capacity(v.len()), nodes: vec![Node::default()] };
        for (id, text, only_when_parsing) in v {
            let mut node = 0usize;
            for &b in text.as_bytes() {
                node = match s.nodes[node].children.binary_search_by_key(&b, |c| c.0) {
                    Ok(i) => s.nodes[node].children[i].1 as usize,
                    Err(i) => {
                        let child = s.nodes.len();
                        s.nodes[node].children.insert(i, (b, child as u32));
                        s.nodes.push(Node::default());
                        child
                    }
                };
            }
            if s.nodes[node].entry.is_none() {
                s.nodes[node].entry = Some(s.entries.len() as u32);
                s.entries.push(Entry { id, len: text.len(), only_when_parsing });
            }
        }
        s
    }

    /// Number of special tokens.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the vocabulary has no special tokens.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every occurrence `(entry, start)` of a special token in `text`, overlapping ones included.
    fn occurrences(&self, text: &str, parse_special: bool) -> Vec<(u32, usize)> {
        let bytes = text.as_bytes();
        let mut found = Vec::new();
        if self.entries.is_empty() {
            return found;
        }
        for start in 0..bytes.len() {
            let mut node = 0usize;
            for &b in &bytes[start..] {
                let children = &self.nodes[node].children;
                match children.binary_search_by_key(&b, |c| c.0) {
                    Ok(i) => node = children[i].1 as usize,
                    Err(_) => break,
                }
                if let Some(e) = self.nodes[node].entry {
                    if parse_special || !self.entries[e as usize].only_when_parsing {
                        found.push((e, start));
                    }
                }
            }
        }
        found
    }

    /// Splits `text` into ordinary text and the special tokens written in it.
    pub fn split<'t>(&self, text: &'t str, parse_special: bool) -> Vec<Fragment<'t>> {
        if text.is_empty() {
            return Vec::new();
        }
        let mut occurrences = self.occurrences(text, parse_special);
        if occurrences.is_empty() {
            return vec![Fragment::Text(text)];
        }
        // Priority order, then left to right.
        occurrences.sort_unstable();
        // Unclaimed stretches [start, end) of the text, by start; claimed ones hold a token.
        let mut free: BTreeMap<usize, usize> = BTreeMap::from([(0, text.len())]);
        let mut tokens: BTreeMap<usize, (usize, TokenId)> = BTreeMap::new();
        for (e, start) in occurrences {
            let Entry { id, len, .. } = self.entries[e as usize];
            let Some((&from, &to)) = free.range(..=start).next_back() else { continue };
            if start + len > to {
                continue;
            }
            free.remove(&from);
            if from < start {
                free.insert(from, start);
            }
            if start + len < to {
                free.insert(start + len, to);
            }
            tokens.insert(start, (start + len, id));
        }
        let mut out: Vec<(usize, Fragment<'t>)> = free
            .into_iter()
            .map(|(a, b)| (a, Fragment::Text(&text[a..b])))
            .chain(tokens.into_iter().map(|(a, (_, id))| (a, Fragment::Token(id))))
            .collect();
        out.sort_unstable_by_key(|f| f.0);
        out.into_iter().map(|f| f.1).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Fragment::{Text, Token};
    use super::*;

    #[test]
    fn specials_split_text() {
        let s = Specials::new([(1, "<|im_start|>", true), (2, "<|im_end|>", true), (3, "<tool>", false)]);
        assert_eq!(s.split("<|im_start|>user\nhi<|im_end|>", true), [Token(1), Text("user\nhi"), Token(2)]);
        assert_eq!(s.split("a<|im_end|>", false), [Text("a<|im_end|>")]);
        // User-defined tokens are found even when control tokens are not.
        assert_eq!(s.split("x<tool>y<|im_end|>", false), [Text("x"), Token(3), Text("y<|im_end|>")]);
        assert!(s.split("", true).is_empty());
        assert_eq!(s.split("<|im_start", true), [Text("<|im_start")]);
    }

    #[test]
    fn longer_tokens_win_even_when_they_start_later() {
        // llama.cpp takes `bcd` first (longest), so `ab` no longer fits.
        let s = Specials::new([(1, "ab", true), (2, "bcd", true)]);
        assert_eq!(s.split("abcd", true), [Text("a"), Token(2)]);
        // Repeated and overlapping occurrences of one token: leftmost first, no overlap.
        let s = Specials::new([(7, "aa", true)]);
        assert_eq!(s.split("aaaaa", true), [Token(7), Token(7), Text("a")]);
    }
}
