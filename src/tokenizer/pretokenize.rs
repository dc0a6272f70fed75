//! Pre-tokenization: the text is cut into pieces before BPE, and merges never cross a cut.
//!
//! Each kind is the regular expression of its model's `tokenizer.json`, for example Llama 3's
//!
//! ```text
//! (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//! ```
//!
//! They use a look-ahead (`\s+(?!\S)`: a run of spaces before a word leaves its last space to the
//! word) that linear-time engines such as the `regex` crate do not have. Like llama.cpp
//! (`unicode_regex_split_custom_*` in `unicode.cpp`), each pattern is written out as a scanner over
//! the characters and their classes ([`super::unicode`]), alternative by alternative in the
//! pattern's order; the scanners below follow llama.cpp's step for step, including what it does at
//! the end of a fragment (the look-ahead sees no character there) and its contractions, which are
//! case-insensitive for ASCII letters only.

use super::unicode::{Class, class};
use crate::{Error, Result};

/// How a byte-level BPE vocabulary cuts text into pieces (GGUF `tokenizer.ggml.pre`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreKind {
    /// GPT-2's `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    /// (pre-types `gpt-2`, `phi-2`, `mpt`, `olmo`, `jais`, ...).
    Gpt2,
    /// Every number character is a piece of its own (`\p{N}`), then GPT-2's pattern between them:
    /// SmolLM2 (`smollm`), StarCoder and the other pre-types llama.cpp gives these two expressions.
    DigitsThenGpt2,
    /// Llama 3's pattern above (`llama-bpe`, `llama3`, ...): letters with one leading non-letter,
    /// numbers in groups of up to three digits, punctuation with its trailing newlines.
    Llama3,
    /// Qwen2's pattern: Llama 3's with single digits (`\p{N}` for `\p{N}{1,3}`) (`qwen2`,
    /// `deepseek-r1-qwen`).
    Qwen2,
}

impl PreKind {
    /// The kind for a GGUF `tokenizer.ggml.pre` value, with llama.cpp's names.
    pub fn from_gguf(pre: &str) -> Result<Self> {
        Ok(match pre {
            "gpt-2" | "phi-2" | "mpt" | "olmo" | "jais" | "trillion" | "granite-docling" | "gigachat" | "a.x-4.0"
            | "mellum" | "exaone4" => PreKind::Gpt2,
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => {
                PreKind::DigitsThenGpt2
            }
            "llama-bpe" | "llama3" | "llama-v3" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2" => {
                PreKind::Llama3
            }
            "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" => PreKind::Qwen2,
            _ => {
                return Err(Error::Unsupported(format!(
                    "tokenizer pre-type `{pre}` (supported: gpt-2, smollm and the starcoder family, \
                     llama-bpe (Llama 3), qwen2)"
                )));
            }
        })
    }

    /// llama.cpp's `ignore_merges` for the pre-type: a piece that is a whole vocabulary entry is
    /// that token, whatever the merges would make of it (Llama 3's tokenizer.json says so).
    pub fn ignores_merges(self) -> bool {
        self == PreKind::Llama3
    }

    /// Whether prompts start with the BOS token when the file does not say
    /// (`tokenizer.ggml.add_bos_token`); llama.cpp's default for Llama 3.
    pub fn adds_bos_by_default(self) -> bool {
        self == PreKind::Llama3
    }
}

/// Cuts text into the pieces BPE merges within.
#[derive(Clone, Copy, Debug)]
pub struct Pretokenizer {
    kind: PreKind,
}

/// One character of the text: its byte offset, itself and its class.
#[derive(Clone, Copy)]
struct Cp {
    at: usize,
    c: char,
    class: Class,
}

/// The characters of one fragment and the pieces found so far.
struct Scan<'t, 'o> {
    text: &'t str,
    cps: &'o [Cp],
    /// Byte offset where the fragment ends.
    end: usize,
    /// Index of the first character not yet in a piece.
    done: usize,
    out: &'o mut Vec<&'t str>,
}

impl Scan<'_, '_> {
    fn class(&self, i: usize) -> Option<Class> {
        self.cps.get(i).map(|c| c.class)
    }

    fn char(&self, i: usize) -> Option<char> {
        self.cps.get(i).map(|c| c.c)
    }

    fn offset(&self, i: usize) -> usize {
        self.cps.get(i).map_or(self.end, |c| c.at)
    }

    /// Ends a piece before character `i` (nothing when empty).
    fn cut(&mut self, i: usize) {
        if i > self.done {
            self.out.push(&self.text[self.offset(self.done)..self.offset(i)]);
            self.done = i;
        }
    }

    /// The length of a contraction (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`) starting at
    /// the apostrophe at `i`; `fold` makes the letters ASCII case-insensitive.
    fn contraction(&self, i: usize, fold: bool) -> Option<usize> {
        let low = |c: Option<char>| c.map(|c| if fold { c.to_ascii_lowercase() } else { c });
        match (low(self.char(i + 1)), low(self.char(i + 2))) {
            (Some('s' | 't' | 'm' | 'd'), _) => Some(2),
            (Some('r' | 'v'), Some('e')) | (Some('l'), Some('l')) => Some(3),
            _ => None,
        }
    }

    /// Counts the white space starting at `i`.
    fn spaces(&self, i: usize) -> usize {
        self.cps[i..].iter().take_while(|c| c.class == Class::Space).count()
    }

    /// GPT-2's pattern over the whole fragment.
    fn gpt2(&mut self) {
        let n = self.cps.len();
        let mut pos = 0;
        while pos < n {
            let c = self.cps[pos].c;
            if c == '\'' {
                if let Some(len) = self.contraction(pos, false) {
                    pos += len;
                    self.cut(pos);
                    continue;
                }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: one leading space, then a run.
            let run = if c == ' ' { self.class(pos + 1) } else { self.class(pos) };
            if let Some(run @ (Class::Letter | Class::Number | Class::Other)) = run {
                pos += usize::from(c == ' ');
                while self.class(pos) == Some(run) {
                    pos += 1;
                }
                self.cut(pos);
                continue;
            }
            pos = self.whitespace(pos, false);
            self.cut(pos);
        }
    }

    /// Llama 3's pattern (`digits` = 3) or Qwen2's (`digits` = 1) over the whole fragment.
    fn llama3(&mut self, digits: usize) {
        let n = self.cps.len();
        let mut pos = 0;
        while pos < n {
            let Cp { c, class, .. } = self.cps[pos];
            if c == '\'' {
                if let Some(len) = self.contraction(pos, true) {
                    pos += len;
                    self.cut(pos);
                    continue;
                }
            }
            // `[^\r\n\p{L}\p{N}]?\p{L}+`
            if !(c == '\r' || c == '\n' || class == Class::Number)
                && (class == Class::Letter || self.class(pos + 1) == Some(Class::Letter))
            {
                pos += 1;
                while self.class(pos) == Some(Class::Letter) {
                    pos += 1;
                }
                self.cut(pos);
                continue;
            }
            // `\p{N}{1,digits}`, repeatedly.
            if class == Class::Number {
                let mut start = pos;
                while self.class(pos) == Some(Class::Number) {
                    pos += 1;
                    if pos - start >= digits {
                        self.cut(pos);
                        start = pos;
                    }
                }
                self.cut(pos);
                continue;
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`; a space at the very end also ends up here, alone.
            let next = if c == ' ' { self.class(pos + 1) } else { Some(class) };
            if !matches!(next, Some(Class::Space | Class::Letter | Class::Number)) {
                pos += usize::from(c == ' ');
                while self.class(pos) == Some(Class::Other) {
                    pos += 1;
                }
                while matches!(self.char(pos), Some('\r' | '\n')) {
                    pos += 1;
                }
                self.cut(pos);
                continue;
            }
            pos = self.whitespace(pos, true);
            self.cut(pos);
        }
    }

    /// The white space alternatives at `pos`; returns where the piece ends. With `newlines`,
    /// `\s*[\r\n]+` comes first: a run containing line breaks ends after its last one.
    fn whitespace(&self, pos: usize, newlines: bool) -> usize {
        let n = self.spaces(pos);
        if newlines {
            if let Some(last) = self.cps[pos..pos + n].iter().rposition(|c| matches!(c.c, '\r' | '\n')) {
                return pos + last + 1;
            }
        }
        if n > 1 && pos + n < self.cps.len() {
            // `\s+(?!\S)`: the last space goes with what follows.
            pos + n - 1
        } else if n > 0 {
            pos + n
        } else {
            // No alternative matches (not reached by these patterns): one character.
            pos + 1
        }
    }
}

/// Cuts the fragment `cps` (ending at byte `end` of `text`) with the pattern of `kind`.
fn scan<'t>(text: &'t str, cps: &[Cp], end: usize, kind: PreKind, out: &mut Vec<&'t str>) {
    let mut s = Scan { text, cps, end, done: 0, out };
    match kind {
        PreKind::Gpt2 | PreKind::DigitsThenGpt2 => s.gpt2(),
        PreKind::Llama3 => s.llama3(3),
        PreKind::Qwen2 => s.llama3(1),
    }
}

impl Pretokenizer {
    /// The pre-tokenizer of `kind`.
    pub fn new(kind: PreKind) -> Self {
        Pretokenizer { kind }
    }

    /// Which pattern this is.
    pub fn kind(&self) -> PreKind {
        self.kind
    }

    /// The pieces of `text`, in order; concatenated they give `text` back.
    pub fn split<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let cps: Vec<Cp> = text.char_indices().map(|(at, c)| Cp { at, c, class: class(c) }).collect();
        let mut out = Vec::with_capacity(cps.len() / 3 + 1);
        if self.kind == PreKind::DigitsThenGpt2 {
            // `\p{N}` first: each number character is a piece, GPT-2's pattern runs on the
            // fragments between them (and sees nothing beyond a fragment's end).
            let mut start = 0;
            for (i, cp) in cps.iter().enumerate() {
                if cp.class == Class::Number {
                    scan(text, &cps[start..i], cp.at, self.kind, &mut out);
                    out.push(&text[cp.at..cp.at + cp.c.len_utf8()]);
                    start = i + 1;
                }
            }
            scan(text, &cps[start..], text.len(), self.kind, &mut out);
        } else {
            scan(text, &cps, text.len(), self.kind, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(kind: PreKind, s: &str) -> Vec<&str> {
        let v = Pretokenizer::new(kind).split(s);
        assert_eq!(v.concat(), s, "pieces must cover the text");
        assert!(v.iter().all(|p| !p.is_empty()), "no empty pieces: {v:?}");
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
        assert_eq!(split(g, "don't I'll DON'T"), ["don", "'t", " I", "'ll", " DON", "'", "T"]);
        assert_eq!(split(g, "3.14!!"), ["3", ".", "14", "!!"]);
        assert_eq!(split(g, "  "), ["  "]);
        assert_eq!(split(g, "a \tb"), ["a", " ", "\t", "b"]);
        assert!(split(g, "").is_empty());
    }

    #[test]
    fn digits_are_split_individually_first() {
        let d = PreKind::DigitsThenGpt2;
        assert_eq!(split(d, "in 2024!"), ["in", " ", "2", "0", "2", "4", "!"]);
        assert_eq!(split(d, "x١٢"), ["x", "١", "٢"]);
        // The look-ahead does not see past the fragment before a digit.
        assert_eq!(split(d, "a  7"), ["a", "  ", "7"]);
    }

    #[test]
    fn llama3_pattern() {
        let l = PreKind::Llama3;
        assert_eq!(split(l, "Hello world"), ["Hello", " world"]);
        assert_eq!(split(l, "1234567"), ["123", "456", "7"]);
        assert_eq!(split(l, "x=12345;"), ["x", "=", "123", "45", ";"]);
        // Case-insensitive contractions; a non-letter joins the following letters.
        assert_eq!(split(l, "DON'T we'Ll"), ["DON", "'T", " we", "'Ll"]);
        assert_eq!(split(l, "(foo)\tbar"), ["(foo", ")", "\tbar"]);
        // Punctuation keeps its line breaks; a run of spaces ending in a line break is one piece.
        assert_eq!(split(l, "end.\n\nNext"), ["end", ".\n\n", "Next"]);
        assert_eq!(split(l, "a  \n  b"), ["a", "  \n", " ", " b"]);
        assert_eq!(split(l, "a   b"), ["a", "  ", " b"]);
        assert_eq!(split(l, "x \r\n"), ["x", " \r\n"]);
        assert_eq!(split(l, "trail "), ["trail", " "]);
        assert_eq!(split(l, " !"), [" !"]);
        assert_eq!(split(l, "\n7"), ["\n", "7"]);
    }

    #[test]
    fn qwen2_pattern_has_single_digits() {
        let q = PreKind::Qwen2;
        assert_eq!(split(q, "12345 apples"), ["1", "2", "3", "4", "5", " apples"]);
        assert_eq!(split(q, "中文字符。"), ["中文字符", "。"]);
    }

    #[test]
    fn pre_types() {
        assert_eq!(PreKind::from_gguf("smollm").unwrap(), PreKind::DigitsThenGpt2);
        assert_eq!(PreKind::from_gguf("gpt-2").unwrap(), PreKind::Gpt2);
        assert_eq!(PreKind::from_gguf("llama-bpe").unwrap(), PreKind::Llama3);
        assert_eq!(PreKind::from_gguf("qwen2").unwrap(), PreKind::Qwen2);
        assert!(PreKind::from_gguf("tekken").unwrap_err().to_string().contains("tekken"));
        assert!(PreKind::Llama3.ignores_merges() && !PreKind::Qwen2.ignores_merges());
    }
}
