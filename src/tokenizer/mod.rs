//! Byte-level BPE (GPT-2 style) built from a GGUF file's vocabulary, merges and token types.
//!
//! Encoding: special tokens (control and user-defined) are found in the text first, leftmost and
//! longest; the text between them is cut by the pre-tokenizer ([`pretokenize`]); each piece's
//! UTF-8 bytes start as single-byte tokens and the adjacent pair of lowest merge rank is merged
//! until no merge applies. Decoding maps ids back to bytes; [`StreamDecoder`] turns a stream of ids
//! into text without ever splitting a UTF-8 character.
//!
//! Pure Rust with the `regex` crate only (no look-around, linear time), so it builds for
//! `wasm32-unknown-unknown`.

pub mod chat;
pub mod pretokenize;

use std::collections::HashMap;

use regex::Regex;

pub use chat::{ChatTemplate, Message};
pub use pretokenize::{PreKind, Pretokenizer};

use crate::io::Gguf;
use crate::io::gguf::Metadata;
use crate::{Error, Result};

/// A token id.
pub type TokenId = u32;

/// What a vocabulary entry is (GGUF `tokenizer.ggml.token_type`, llama.cpp's numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// An ordinary BPE token (byte-level text).
    Normal,
    /// The unknown token.
    Unknown,
    /// A control token such as `<|im_start|>`: matched in text, never produced by merges.
    Control,
    /// A token added by the user: matched in text like a control token.
    UserDefined,
    /// Reserved, never produced.
    Unused,
    /// A raw byte token (`<0x41>`, SentencePiece style).
    Byte,
}

impl TokenType {
    fn from_gguf(v: i32) -> Option<Self> {
        Some(match v {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => return None,
        })
    }

    /// Control and user-defined tokens are recognized in text and decode to their own text.
    pub fn is_special(self) -> bool {
        matches!(self, TokenType::Control | TokenType::UserDefined)
    }
}

/// A byte-level BPE tokenizer.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    /// Bytes each token decodes to.
    bytes: Vec<Vec<u8>>,
    types: Vec<TokenType>,
    /// Vocabulary entries as stored (byte-level text), for [`Tokenizer::token_id`].
    ids: HashMap<String, TokenId>,
    /// The token of each single byte; `None` for bytes the vocabulary lacks (SmolLM2 has no
    /// token for 21 bytes that UTF-8 never uses or that are rare controls).
    byte_token: [Option<TokenId>; 256],
    /// (left, right) -> (rank, merged).
    merges: HashMap<(TokenId, TokenId), (u32, TokenId)>,
    specials: Option<Regex>,
    pre: Pretokenizer,
    bos: Option<TokenId>,
    eos: Option<TokenId>,
    add_bos: bool,
}

/// Everything a tokenizer is built from, as stored in a GGUF file.
#[derive(Clone, Debug)]
pub struct TokenizerSpec<'a> {
    /// Vocabulary entries in byte-level form (`Ġthe` for ` the`); specials as plain text.
    pub tokens: &'a [String],
    /// Type of each entry (all [`TokenType::Normal`] when the file has none).
    pub types: Vec<TokenType>,
    /// Merges `"left right"`, highest priority first.
    pub merges: &'a [String],
    /// Pre-tokenizer.
    pub pre: PreKind,
    /// Beginning-of-sequence token.
    pub bos: Option<TokenId>,
    /// End-of-sequence token (generation stops on it).
    pub eos: Option<TokenId>,
    /// Whether prompts start with `bos`.
    pub add_bos: bool,
}

impl Tokenizer {
    /// Reads the tokenizer of a GGUF file: `tokenizer.ggml.{model, pre, tokens, token_type,
    /// merges, bos_token_id, eos_token_id, add_bos_token}`. Only `gpt2` (byte-level BPE) models.
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        Self::from_metadata(g.meta())
    }

    /// Reads the tokenizer from model metadata (a GGUF file's or a package's); see
    /// [`Tokenizer::from_gguf`].
    pub fn from_metadata(g: &Metadata) -> Result<Self> {
        let bad = |msg: String| Error::invalid_file(g.path(), msg);
        let model = g.get_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(Error::Unsupported(format!(
                "tokenizer model `{model}` in {} (only byte-level BPE, `gpt2`)",
                g.path().display()
            )));
        }
        let pre = match g.get("tokenizer.ggml.pre") {
            Some(_) => PreKind::from_gguf(g.get_str("tokenizer.ggml.pre")?)?,
            None => PreKind::Gpt2,
        };
        let tokens = g.get_str_array("tokenizer.ggml.tokens")?;
        let types = if g.contains_key("tokenizer.ggml.token_type") {
            let raw = g.get_i32_array("tokenizer.ggml.token_type")?;
            if raw.len() != tokens.len() {
                return Err(bad(format!("{} token types for {} tokens", raw.len(), tokens.len())));
            }
            raw.iter()
                .enumerate()
                .map(|(i, &t)| TokenType::from_gguf(t).ok_or_else(|| bad(format!("token {i}: unknown token type {t}"))))
                .collect::<Result<_>>()?
        } else {
            vec![TokenType::Normal; tokens.len()]
        };
        let opt_id = |key: &str| -> Result<Option<TokenId>> {
            if g.contains_key(key) { g.get_u32(key).map(Some) } else { Ok(None) }
        };
        let spec = TokenizerSpec {
            tokens,
            types,
            merges: g.get_str_array("tokenizer.ggml.merges")?,
            pre,
            bos: opt_id("tokenizer.ggml.bos_token_id")?,
            eos: opt_id("tokenizer.ggml.eos_token_id")?,
            add_bos: g.contains_key("tokenizer.ggml.add_bos_token") && g.get_bool("tokenizer.ggml.add_bos_token")?,
        };
        Self::new(&spec).map_err(|e| match e {
            Error::InvalidArgument(m) => bad(m),
            e => e,
        })
    }

    /// Builds a tokenizer, checking that every byte has a token, every merge names existing
    /// tokens and every special id is in range.
    pub fn new(spec: &TokenizerSpec<'_>) -> Result<Self> {
        let n = spec.tokens.len();
        if n == 0 || n > u32::MAX as usize || spec.types.len() != n {
            return Err(Error::InvalidArgument(format!("{n} tokens with {} types", spec.types.len())));
        }
        let unmap = byte_level_decoder();
        let mut bytes = Vec::with_capacity(n);
        let mut ids = HashMap::with_capacity(n);
        let mut byte_token = [None; 256];
        let mut specials = Vec::new();
        for (i, (t, &ty)) in spec.tokens.iter().zip(&spec.types).enumerate() {
            let b = if ty.is_special() {
                specials.push(t.as_str());
                t.as_bytes().to_vec()
            } else {
                t.chars()
                    .map(|c| unmap.get(&c).copied())
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(|| Error::InvalidArgument(format!("token {i} `{t}` is not byte-level text")))?
            };
            if ty == TokenType::Normal && b.len() == 1 && byte_token[b[0] as usize].is_none() {
                byte_token[b[0] as usize] = Some(i as TokenId);
            }
            bytes.push(b);
            // The first of duplicate entries wins, as in llama.cpp.
            ids.entry(t.clone()).or_insert(i as TokenId);
        }
        // Every printable ASCII character has a token in any byte-level vocabulary.
        if let Some(b) = (b'!'..=b'~').find(|&b| byte_token[b as usize].is_none()) {
            return Err(Error::InvalidArgument(format!("no token for byte {b:#04x}: not a byte-level vocabulary")));
        }
        let mut merges = HashMap::with_capacity(spec.merges.len());
        for (rank, m) in spec.merges.iter().enumerate() {
            let bad = |why: &str| Error::InvalidArgument(format!("merge {rank} `{m}`: {why}"));
            let (l, r) = m.split_once(' ').ok_or_else(|| bad("not two tokens separated by a space"))?;
            let id = |s: &str| ids.get(s).copied().ok_or_else(|| bad(&format!("`{s}` is not in the vocabulary")));
            let (li, ri, mi) = (id(l)?, id(r)?, id(&format!("{l}{r}"))?);
            merges.entry((li, ri)).or_insert((rank as u32, mi));
        }
        for (what, id) in [("bos", spec.bos), ("eos", spec.eos)] {
            if let Some(id) = id.filter(|&id| id as usize >= n) {
                return Err(Error::InvalidArgument(format!("{what} token {id} is beyond the {n}-token vocabulary")));
            }
        }
        Ok(Tokenizer {
            bytes,
            types: spec.types.clone(),
            ids,
            byte_token,
            merges,
            specials: special_matcher(&specials),
            pre: Pretokenizer::new(spec.pre),
            bos: spec.bos,
            eos: spec.eos,
            add_bos: spec.add_bos,
        })
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.bytes.len()
    }

    /// Beginning-of-sequence token, if the vocabulary has one.
    pub fn bos(&self) -> Option<TokenId> {
        self.bos
    }

    /// End-of-sequence token, if the vocabulary has one.
    pub fn eos(&self) -> Option<TokenId> {
        self.eos
    }

    /// Whether prompts should start with [`Tokenizer::bos`] (GGUF `add_bos_token`).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// The type of token `id`.
    pub fn token_type(&self, id: TokenId) -> Option<TokenType> {
        self.types.get(id as usize).copied()
    }

    /// The id of a vocabulary entry as stored (`Ġthe`, `<|im_end|>`).
    pub fn token_id(&self, entry: &str) -> Option<TokenId> {
        self.ids.get(entry).copied()
    }

    /// The bytes token `id` decodes to.
    pub fn token_bytes(&self, id: TokenId) -> Result<&[u8]> {
        self.bytes.get(id as usize).map(Vec::as_slice).ok_or_else(|| {
            Error::InvalidArgument(format!("token id {id} is beyond the {}-token vocabulary", self.bytes.len()))
        })
    }

    /// Encodes `text`, recognizing special tokens (`<|im_start|>`, ...) written in it.
    pub fn encode(&self, text: &str) -> Vec<TokenId> {
        let mut out = Vec::new();
        let mut pos = 0;
        if let Some(re) = &self.specials {
            for m in re.find_iter(text) {
                self.encode_ordinary_into(&text[pos..m.start()], &mut out);
                out.push(self.ids[m.as_str()]);
                pos = m.end();
            }
        }
        self.encode_ordinary_into(&text[pos..], &mut out);
        out
    }

    /// Encodes `text` treating special-token text as ordinary characters.
    pub fn encode_ordinary(&self, text: &str) -> Vec<TokenId> {
        let mut out = Vec::new();
        self.encode_ordinary_into(text, &mut out);
        out
    }

    /// A prompt: [`Tokenizer::bos`] first when the model wants it, then [`Tokenizer::encode`].
    pub fn encode_prompt(&self, text: &str) -> Vec<TokenId> {
        let mut v: Vec<TokenId> = self.bos.filter(|_| self.add_bos).into_iter().collect();
        v.extend(self.encode(text));
        v
    }

    fn encode_ordinary_into(&self, text: &str, out: &mut Vec<TokenId>) {
        for piece in self.pre.split(text) {
            self.bpe(piece.as_bytes(), out);
        }
    }

    /// Merges the bytes of one piece. Quadratic in the piece length, which pre-tokenization keeps
    /// short (a word, a number's digit, a run of punctuation or spaces). Bytes without a token
    /// are dropped, as Hugging Face's BPE without an unknown token and llama.cpp do.
    fn bpe(&self, piece: &[u8], out: &mut Vec<TokenId>) {
        let mut syms: Vec<TokenId> = piece.iter().filter_map(|&b| self.byte_token[b as usize]).collect();
        loop {
            let best = syms
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| self.merges.get(&(w[0], w[1])).map(|&(rank, id)| (rank, i, id)))
                .min();
            let Some((_, at, id)) = best else { break };
            // Merge every occurrence of this pair, left to right.
            let (l, r) = (syms[at], syms[at + 1]);
            let mut merged = Vec::with_capacity(syms.len());
            let mut i = 0;
            while i < syms.len() {
                if i + 1 < syms.len() && syms[i] == l && syms[i + 1] == r {
                    merged.push(id);
                    i += 2;
                } else {
                    merged.push(syms[i]);
                    i += 1;
                }
            }
            syms = merged;
        }
        out.extend(syms);
    }

    /// The bytes of `ids` concatenated (special tokens as their text).
    pub fn decode_bytes(&self, ids: &[TokenId]) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        for &id in ids {
            v.extend_from_slice(self.token_bytes(id)?);
        }
        Ok(v)
    }

    /// Decodes `ids` to text; byte sequences that are not UTF-8 become U+FFFD.
    pub fn decode(&self, ids: &[TokenId]) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.decode_bytes(ids)?).into_owned())
    }

    /// A decoder for a stream of generated ids.
    pub fn stream(&self) -> StreamDecoder<'_> {
        StreamDecoder { tok: self, pending: Vec::new() }
    }
}

/// Turns generated ids into text as they arrive. A character split across tokens (common for
/// CJK and emoji in byte-level BPE) is held back until its last byte arrives.
#[derive(Debug)]
pub struct StreamDecoder<'a> {
    tok: &'a Tokenizer,
    pending: Vec<u8>,
}

impl StreamDecoder<'_> {
    /// Adds one token and returns the text it completes (possibly empty).
    pub fn push(&mut self, id: TokenId) -> Result<String> {
        self.pending.extend_from_slice(self.tok.token_bytes(id)?);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&self.pending[..valid]).expect("valid prefix"));
                    match e.error_len() {
                        // Incomplete character at the end: wait for more bytes.
                        None => {
                            self.pending.drain(..valid);
                            break;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Flushes bytes still held back (an incomplete character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

/// GPT-2's byte-to-character map, inverted: printable Latin-1 bytes stand for themselves, the
/// other 68 bytes for the characters from U+0100 up, in byte order.
fn byte_level_decoder() -> HashMap<char, u8> {
    let mut map = HashMap::with_capacity(256);
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let c = if printable {
            char::from(b)
        } else {
            next += 1;
            char::from_u32(next - 1).expect("below the surrogates")
        };
        map.insert(c, b);
    }
    map
}

/// One regex matching any special token, longest first so that the leftmost match is also the
/// longest (a literal alternation in the `regex` crate prefers earlier alternatives).
fn special_matcher(specials: &[&str]) -> Option<Regex> {
    let mut v: Vec<&str> = specials.iter().copied().filter(|s| !s.is_empty()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    v.dedup();
    let pattern = v.iter().map(|s| regex::escape(s)).collect::<Vec<_>>().join("|");
    Some(Regex::new(&pattern).expect("escaped literals compile"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy vocabulary: all 256 bytes, then merges building ` the` and `ab`.
    fn toy() -> Tokenizer {
        let enc: HashMap<u8, char> = byte_level_decoder().into_iter().map(|(c, b)| (b, c)).collect();
        let mut tokens: Vec<String> = (0..=255u8).map(|b| enc[&b].to_string()).collect();
        tokens.extend(["Ġt", "he", "Ġthe", "ab", "<|end|>"].map(String::from));
        let mut types = vec![TokenType::Normal; tokens.len()];
        *types.last_mut().unwrap() = TokenType::Control;
        let merges: Vec<String> = ["Ġ t", "h e", "Ġt he", "a b"].map(String::from).to_vec();
        Tokenizer::new(&TokenizerSpec {
            tokens: &tokens,
            types,
            merges: &merges,
            pre: PreKind::Gpt2,
            bos: None,
            eos: Some(260),
            add_bos: false,
        })
        .unwrap()
    }

    #[test]
    fn merges_apply_by_rank() {
        let t = toy();
        assert_eq!(t.encode(" the"), [258]);
        assert_eq!(t.encode("abab"), [259, 259]);
        assert_eq!(t.encode("aab"), [b'a' as u32, 259]);
        assert_eq!(t.decode(&t.encode("x the abab!")).unwrap(), "x the abab!");
    }

    #[test]
    fn specials_are_matched_in_text_only_when_asked() {
        let t = toy();
        assert_eq!(t.encode("ab<|end|>ab"), [259, 260, 259]);
        assert_eq!(t.encode_ordinary("<|end|>").len(), 7);
        assert_eq!(t.decode(&[260]).unwrap(), "<|end|>");
    }

    #[test]
    fn stream_holds_back_split_characters() {
        let t = toy();
        let ids = t.encode("é🦀!");
        assert_eq!(ids.len(), 2 + 4 + 1, "one token per byte in the toy vocabulary");
        let mut s = t.stream();
        let parts: Vec<String> = ids.iter().map(|&id| s.push(id).unwrap()).collect();
        assert_eq!(parts, ["", "é", "", "", "", "🦀", "!"]);
        assert_eq!(s.finish(), "");
        // A lone continuation byte is invalid: replaced, and the stream goes on.
        let mut s = t.stream();
        assert_eq!(s.push(0x80).unwrap(), "\u{FFFD}");
        assert_eq!(s.push(b'a' as u32).unwrap(), "a");
        // An unfinished character at the end is flushed as U+FFFD.
        assert_eq!(s.push(0xE6).unwrap(), "");
        assert_eq!(s.finish(), "\u{FFFD}");
        assert!(s.push(9999).is_err());
    }

    #[test]
    fn bad_vocabularies_are_errors() {
        let tokens: Vec<String> = vec!["a".into()];
        let spec = TokenizerSpec {
            tokens: &tokens,
            types: vec![TokenType::Normal],
            merges: &[],
            pre: PreKind::Gpt2,
            bos: None,
            eos: None,
            add_bos: false,
        };
        assert!(Tokenizer::new(&spec).unwrap_err().to_string().contains("no token for byte"));
        let enc: HashMap<u8, char> = byte_level_decoder().into_iter().map(|(c, b)| (b, c)).collect();
        let tokens: Vec<String> = (0..=255u8).map(|b| enc[&b].to_string()).collect();
        let merges = vec!["Ġ zz".to_string()];
        let spec = TokenizerSpec { tokens: &tokens, types: vec![TokenType::Normal; 256], merges: &merges, ..spec };
        assert!(Tokenizer::new(&spec).unwrap_err().to_string().contains("merge 0 `Ġ zz`"));
        let spec = TokenizerSpec { merges: &[], eos: Some(256), ..spec };
        assert!(Tokenizer::new(&spec).unwrap_err().to_string().contains("eos"));
        assert!(toy().token_bytes(100_000).is_err());
    }
}
