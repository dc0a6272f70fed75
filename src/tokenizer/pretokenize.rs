//! Pre-tokenization: the text is cut into pieces before BPE, and merges never cross a cut.
//!
//! GPT-2's pattern is `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
//! Its one look-ahead, `\s+(?!\S)`, makes a run of whitespace followed by a word leave its last
//! character to that word (`"a   b"` -> `a`, `"  "`, `" b"`). The `regex` crate has no look-around
//! (it guarantees linear time instead), so the pattern runs without it and a whitespace match of
//! more than one character that is followed by a non-space gives its last character back, as
//! llama.cpp's hand-written GPT-2 splitter does.

use regex::Regex;

use crate::{Error, Result};

/// GPT-2's pattern without the `\s+(?!\S)` alternative (emulated in [`Pretokenizer::split`]).
const GPT2_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+";

/// How a byte-level BPE vocabulary cuts text into pieces (GGUF `tokenizer.ggml.pre`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreKind {
    /// GPT-2's pattern (`gpt2`, `default`).
    Gpt2,
    /// Every digit is a piece of its own, then GPT-2's pattern: SmolLM2 (`smollm`), StarCoder and
    /// the other pre-types llama.cpp gives the same two expressions.
    DigitsThenGpt2,
}

impl PreKind {
    /// The kind for a GGUF `tokenizer.ggml.pre` value.
    pub fn from_gguf(pre: &str) -> Result<Self> {
        match pre {
            "gpt2" | "default" | "gpt-2" | "mpt" | "olmo" | "jais" => Ok(PreKind::Gpt2),
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" => {
                Ok(PreKind::DigitsThenGpt2)
            }
            _ => Err(Error::Unsupported(format!(
                "tokenizer pre-type `{pre}` (supported: gpt2 and the smollm/starcoder family)"
            ))),
        }
    }
}

/// Cuts text into the pieces BPE merges within.
#[derive(Clone, Debug)]
pub struct Pretokenizer {
    kind: PreKind,
    re: Regex,
}

impl Pretokenizer {
    /// Compiles the pattern of `kind`.
    pub fn new(kind: PreKind) -> Self {
        Pretokenizer { kind, re: Regex::new(GPT2_PATTERN).expect("the GPT-2 pattern compiles") }
    }

    /// Which pattern this is.
    pub fn kind(&self) -> PreKind {
        self.kind
    }

    /// The pieces of `text`, in order; concatenated they give `text` back.
    pub fn split<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let mut out = Vec::new();
        match self.kind {
            PreKind::Gpt2 => self.gpt2(text, &mut out),
            PreKind::DigitsThenGpt2 => {
                let mut start = 0;
                for (i, c) in text.char_indices() {
                    if c.is_numeric() {
                        self.gpt2(&text[start..i], &mut out);
                        out.push(&text[i..i + c.len_utf8()]);
                        start = i + c.len_utf8();
                    }
                }
                self.gpt2(&text[start..], &mut out);
            }
        }
        out
    }

    fn gpt2<'t>(&self, text: &'t str, out: &mut Vec<&'t str>) {
        let mut pos = 0;
        while pos < text.len() {
            // Every character matches some alternative, so matches are contiguous.
            let Some(m) = self.re.find_at(text, pos) else {
                out.push(&text[pos..]);
                return;
            };
            if m.start() > pos {
                out.push(&text[pos..m.start()]);
            }
            let mut end = m.end();
            let piece = m.as_str();
            if piece.starts_with(char::is_whitespace)
                && text[end..].starts_with(|c: char| !c.is_whitespace())
                && piece.chars().nth(1).is_some()
                && piece.chars().all(char::is_whitespace)
            {
                // `\s+(?!\S)`: leave the last whitespace character to the next piece.
                end -= piece.chars().next_back().map_or(0, char::len_utf8);
            }
            out.push(&text[m.start()..end]);
            pos = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(kind: PreKind, s: &str) -> Vec<&str> {
        let p = Pretokenizer::new(kind);
        let v = p.split(s);
        assert_eq!(v.concat(), s, "pieces must cover the text");
        v
    }

    #[test]
    fn gpt2_pattern_with_lookahead() {
        let g = PreKind::Gpt2;
        assert_eq!(split(g, "Hello world"), ["Hello", " world"]);
        assert_eq!(split(g, "a   b"), ["a", "  ", " b"]);
        assert_eq!(split(g, "a \n b"), ["a", " \n", " b"]);
        assert_eq!(split(g, "trailing   "), ["trailing", "   "]);
        assert_eq!(split(g, "x\ny"), ["x", "\n", "y"]);
        assert_eq!(split(g, "don't I'll"), ["don", "'t", " I", "'ll"]);
        assert_eq!(split(g, "3.14!!"), ["3", ".", "14", "!!"]);
        assert_eq!(split(g, "  "), ["  "]);
        assert!(split(g, "").is_empty());
    }

    #[test]
    fn digits_are_split_individually_first() {
        let d = PreKind::DigitsThenGpt2;
        assert_eq!(split(d, "in 2024!"), ["in", " ", "2", "0", "2", "4", "!"]);
        assert_eq!(split(d, "x١٢"), ["x", "١", "٢"]);
        assert_eq!(split(d, "a  7"), ["a", "  ", "7"]);
    }

    #[test]
    fn pre_types() {
        assert_eq!(PreKind::from_gguf("smollm").unwrap(), PreKind::DigitsThenGpt2);
        assert_eq!(PreKind::from_gguf("gpt2").unwrap(), PreKind::Gpt2);
        assert!(PreKind::from_gguf("llama3").unwrap_err().to_string().contains("llama3"));
    }
}
