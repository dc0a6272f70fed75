//! Tokenizers built from a model's GGUF metadata, token for token as llama.cpp tokenizes:
//! - byte-level BPE (tokenizer model `gpt2`) with the pre-tokenizers of GPT-2, SmolLM2
//!   (`smollm`), Llama 3 (`llama-bpe`) and Qwen2 (`qwen2`), see [`pretokenize`];
//! - SentencePiece (tokenizer model `llama`: Llama 2, Mistral, Gemma 1-3): scores, `▁` for
//!   spaces, byte fallback (`<0x41>`), `add_space_prefix`.
//!
//! Encoding: special tokens written in the text are found first ([`special`]: control and unknown
//! tokens when asked, user-defined ones always); the text between them is tokenized by the model.
//! Decoding maps ids back to bytes; [`StreamDecoder`] turns a stream of ids into text without ever
//! splitting a UTF-8 character. Chat prompts are in [`chat`].
//!
//! Pure Rust (no regex engine in the tokenizers), so it builds for `wasm32-unknown-unknown`.

mod bpe;
pub mod chat;
mod hash;
pub mod pretokenize;
pub mod special;
mod spm;
pub mod unicode;

pub use chat::{ChatTemplate, Message};
use hash::FastMap;
pub use pretokenize::{PreKind, Pretokenizer};
use special::{Fragment, Specials};

use crate::io::Gguf;
use crate::io::gguf::Metadata;
use crate::io::gguf::metadata::{Array, Value};
use crate::{Error, Result};

/// A token id.
pub type TokenId = u32;

/// What a vocabulary entry is (GGUF `tokenizer.ggml.token_type`, llama.cpp's numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// An ordinary token.
    Normal,
    /// The unknown token.
    Unknown,
    /// A control token such as `<|im_start|>`: matched in text only when asked, hidden when
    /// decoding for display.
    Control,
    /// A token added by the user: always matched in text, decodes to its own text.
    UserDefined,
    /// Reserved: decodes to nothing.
    Unused,
    /// A raw byte (`<0x41>`, SentencePiece byte fallback).
    Byte,
}

impl TokenType {
    fn from_gguf(v: i32) -> Option<Self> {
        Some(match v {
            // Undefined: llama.cpp gives it no attribute, so it behaves as unused.
            0 | 5 => TokenType::Unused,
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            6 => TokenType::Byte,
            _ => return None,
        })
    }

    /// Control, user-defined and unknown tokens are recognized in text.
    pub fn is_special(self) -> bool {
        matches!(self, TokenType::Control | TokenType::UserDefined | TokenType::Unknown)
    }

    /// Control and unknown tokens are shown only when special tokens are rendered.
    fn is_hidden(self) -> bool {
        matches!(self, TokenType::Control | TokenType::Unknown)
    }
}

/// Token texts that end generation wherever they appear in a vocabulary (llama.cpp's
/// `special_eog_ids` rule, which also makes them control tokens if the file says otherwise).
const END_OF_GENERATION: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// End-of-turn texts, in the order [`Tokenizer::eot`] prefers them when the file names none.
const END_OF_TURN: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<end_of_turn>",
    "<|end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];

/// Fill-in-the-middle texts by kind (prefix, suffix, middle, pad, repository, file separator):
/// where the file names no token of a kind, the first of these found is one, made a control
/// token; the last three end generation.
const FIM: [&[&str]; 6] = [
    &[
        "<|fim_prefix|>",
        "<fim-prefix>",
        "<fim_prefix>",
        "<｜fim▁begin｜>",
        "<PRE>",
        "▁<PRE>",
        "<|code_prefix|>",
        "<|prefix|>",
    ],
    &[
        "<|fim_suffix|>",
        "<fim-suffix>",
        "<fim_suffix>",
        "<｜fim▁hole｜>",
        "<SUF>",
        "▁<SUF>",
        "<|code_suffix|>",
        "<|suffix|>",
    ],
    &[
        "<|fim_middle|>",
        "<fim-middle>",
        "<fim_middle>",
        "<｜fim▁end｜>",
        "<MID>",
        "▁<MID>",
        "<|code_middle|>",
        "<|middle|>",
    ],
    &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
    &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"],
    &["<|file_sep|>"],
];

/// GGUF keys of the fill-in-the-middle tokens, in [`FIM`]'s order.
const FIM_KEYS: [&str; 6] = [
    "tokenizer.ggml.fim_pre_token_id",
    "tokenizer.ggml.fim_suf_token_id",
    "tokenizer.ggml.fim_mid_token_id",
    "tokenizer.ggml.fim_pad_token_id",
    "tokenizer.ggml.fim_rep_token_id",
    "tokenizer.ggml.fim_sep_token_id",
];

/// The tokenization algorithm of a vocabulary and what it needs.
#[derive(Clone, Debug)]
pub enum ModelSpec<'a> {
    /// Byte-level BPE (GGUF `tokenizer.ggml.model` = `gpt2`).
    Bpe {
        /// Merges `"left right"`, highest priority first.
        merges: &'a [String],
        /// Pre-tokenizer.
        pre: PreKind,
    },
    /// SentencePiece (GGUF `llama`).
    Spm {
        /// Score of each entry: the pair whose concatenation scores highest merges first.
        scores: &'a [f32],
    },
}

/// Everything a tokenizer is built from, as stored in a GGUF file.
#[derive(Clone, Debug)]
pub struct TokenizerSpec<'a> {
    /// Vocabulary entries as stored (`Ġthe` in byte-level BPE, `▁the` in SentencePiece);
    /// special tokens as plain text.
    pub tokens: &'a [String],
    /// Type of each entry.
    pub types: Vec<TokenType>,
    /// The algorithm.
    pub model: ModelSpec<'a>,
    /// Beginning-of-sequence token.
    pub bos: Option<TokenId>,
    /// End-of-sequence token.
    pub eos: Option<TokenId>,
    /// End-of-turn token (`<|eot_id|>`, `<end_of_turn>`); found by its text when `None`.
    pub eot: Option<TokenId>,
    /// End-of-message token (Llama 3.1's `<|eom_id|>`); found by its text when `None`.
    pub eom: Option<TokenId>,
    /// Unknown token.
    pub unk: Option<TokenId>,
    /// Fill-in-the-middle tokens: prefix, suffix, middle, pad, repository, file separator;
    /// found by their text when `None`.
    pub fim: [Option<TokenId>; 6],
    /// Whether prompts start with `bos`.
    pub add_bos: bool,
    /// Whether prompts end with `eos`.
    pub add_eos: bool,
    /// SentencePiece: a space is put before the text (and before text that follows a special
    /// token); decoding removes the first token's leading space.
    pub add_space_prefix: bool,
}

#[derive(Clone, Debug)]
enum Model {
    Bpe(Box<bpe::Bpe>),
    Spm(Box<spm::Spm>),
}

/// A tokenizer: vocabulary, algorithm and special tokens.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    model: Model,
    /// Vocabulary entries as stored.
    texts: Vec<String>,
    /// What each token decodes to (special tokens as their text).
    pieces: Vec<Vec<u8>>,
    types: Vec<TokenType>,
    /// SentencePiece scores (empty for BPE).
    scores: Vec<f32>,
    ids: FastMap<String, TokenId>,
    specials: Specials,
    bos: Option<TokenId>,
    eos: Option<TokenId>,
    eot: Option<TokenId>,
    eom: Option<TokenId>,
    unk: Option<TokenId>,
    /// Every token that ends generation, sorted.
    eog: Vec<TokenId>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
}

/// Reads `key` as a token id, if present.
fn opt_id(g: &Metadata, key: &str) -> Result<Option<TokenId>> {
    if g.contains_key(key) { g.get_u32(key).map(Some) } else { Ok(None) }
}

/// Reads `key` as a bool, if present.
fn opt_bool(g: &Metadata, key: &str) -> Result<Option<bool>> {
    if g.contains_key(key) { g.get_bool(key).map(Some) } else { Ok(None) }
}

impl Tokenizer {
    /// Reads the tokenizer of a GGUF file; see [`Tokenizer::from_metadata`].
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        Self::from_metadata(g.meta())
    }

    /// Reads the tokenizer from model metadata (a GGUF file's or a package's):
    /// `tokenizer.ggml.{model, pre, tokens, token_type, merges, scores}`, the special token ids
    /// (`bos`, `eos`, `eot`, `eom`, `unknown`) and `add_bos_token`, `add_eos_token`,
    /// `add_space_prefix`, with llama.cpp's defaults where a key is missing.
    pub fn from_metadata(g: &Metadata) -> Result<Self> {
        let bad = |msg: String| Error::invalid_file(g.path(), msg);
        let kind = g.get_str("tokenizer.ggml.model")?;
        let tokens = g.get_str_array("tokenizer.ggml.tokens")?;
        let types = if g.contains_key("tokenizer.ggml.token_type") {
            let raw = g.get_i32_array("tokenizer.ggml.token_type")?;
            if raw.len() < tokens.len() {
                return Err(bad(format!("{} token types for {} tokens", raw.len(), tokens.len())));
            }
            raw.iter()
                .take(tokens.len())
                .enumerate()
                .map(|(i, &t)| TokenType::from_gguf(t).ok_or_else(|| bad(format!("token {i}: unknown token type {t}"))))
                .collect::<Result<_>>()?
        } else {
            vec![TokenType::Normal; tokens.len()]
        };
        let scores: Vec<f32>;
        let (model, add_bos, mut bos, mut eos, mut unk, add_space_prefix) = match kind {
            "gpt2" => {
                let pre = match g.get("tokenizer.ggml.pre") {
                    Some(_) => PreKind::from_gguf(g.get_str("tokenizer.ggml.pre")?)?,
                    None => {
                        return Err(Error::Unsupported(format!(
                            "{}: byte-level BPE without `tokenizer.ggml.pre` (llama.cpp falls back to a \
                             degraded pre-tokenizer; convert the model again with a current llama.cpp)",
                            g.path().display()
                        )));
                    }
                };
                let merges = g.get_str_array("tokenizer.ggml.merges")?;
                (ModelSpec::Bpe { merges, pre }, pre.adds_bos_by_default(), None, None, None, false)
            }
            "llama" => {
                scores = match g.get("tokenizer.ggml.scores") {
                    None => vec![0.0; tokens.len()],
                    Some(Value::Array(Array::F32(v))) => v.clone(),
                    Some(_) => g.get_i32_array("tokenizer.ggml.scores")?.into_iter().map(|x| x as f32).collect(),
                };
                if scores.len() < tokens.len() {
                    return Err(bad(format!("{} scores for {} tokens", scores.len(), tokens.len())));
                }
                // llama.cpp's defaults for SentencePiece vocabularies.
                (ModelSpec::Spm { scores: &scores[..tokens.len()] }, true, Some(1), Some(2), Some(0), true)
            }
            _ => {
                return Err(Error::Unsupported(format!(
                    "tokenizer model `{kind}` in {} (supported: `gpt2`, byte-level BPE; `llama`, SentencePiece)",
                    g.path().display()
                )));
            }
        };
        let n = tokens.len();
        // A default id beyond the vocabulary is dropped, as llama.cpp does.
        for id in [&mut bos, &mut eos, &mut unk] {
            *id = id.filter(|&i| (i as usize) < n);
        }
        let ids = |key: &str, default: Option<TokenId>| Ok::<_, Error>(opt_id(g, key)?.or(default));
        let mut fim = [None; 6];
        for (i, slot) in fim.iter_mut().enumerate() {
            // The first three also under their old names.
            let old =
                ["tokenizer.ggml.prefix_token_id", "tokenizer.ggml.suffix_token_id", "tokenizer.ggml.middle_token_id"];
            *slot = match opt_id(g, FIM_KEYS[i])? {
                None if i < 3 => opt_id(g, old[i])?,
                id => id,
            };
        }
        let spec = TokenizerSpec {
            tokens,
            types,
            model,
            bos: ids("tokenizer.ggml.bos_token_id", bos)?,
            eos: ids("tokenizer.ggml.eos_token_id", eos)?,
            eot: ids("tokenizer.ggml.eot_token_id", None)?,
            eom: ids("tokenizer.ggml.eom_token_id", None)?,
            unk: ids("tokenizer.ggml.unknown_token_id", unk)?,
            fim,
            add_bos: opt_bool(g, "tokenizer.ggml.add_bos_token")?.unwrap_or(add_bos),
            add_eos: opt_bool(g, "tokenizer.ggml.add_eos_token")?.unwrap_or(false),
            add_space_prefix: opt_bool(g, "tokenizer.ggml.add_space_prefix")?.unwrap_or(add_space_prefix),
        };
        Self::new(&spec).map_err(|e| match e {
            Error::InvalidArgument(m) => bad(m),
            e => e,
        })
    }

    /// Builds a tokenizer, checking that the special ids are in range and that byte tokens are
    /// `<0xNN>`.
    pub fn new(spec: &TokenizerSpec<'_>) -> Result<Self> {
        let n = spec.tokens.len();
        if n == 0 || n >= u32::MAX as usize || spec.types.len() != n {
            return Err(Error::InvalidArgument(format!("{n} tokens with {} types", spec.types.len())));
        }
        let named = [("bos", spec.bos), ("eos", spec.eos), ("eot", spec.eot), ("eom", spec.eom), ("unknown", spec.unk)];
        for (what, id) in named.into_iter().chain(spec.fim.map(|id| ("fill-in-the-middle", id))) {
            if let Some(id) = id.filter(|&id| id as usize >= n) {
                return Err(Error::InvalidArgument(format!("{what} token {id} is beyond the {n}-token vocabulary")));
            }
        }
        // llama.cpp names an empty entry `[EMPTY_<id>]`.
        let texts: Vec<String> = spec
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| if t.is_empty() { format!("[EMPTY_{i}]") } else { t.clone() })
            .collect();
        let mut ids = FastMap::with_capacity_and_hasher(n, Default::default());
        for (i, t) in texts.iter().enumerate() {
            ids.entry(t.clone()).or_insert(i as TokenId);
        }
        let Ends { types, eot, eom, eog } = end_of_generation(spec, &texts, &ids);

        let is_spm = matches!(spec.model, ModelSpec::Spm { .. });
        let unmap = bpe::char_bytes();
        let pieces = texts
            .iter()
            .zip(&types)
            .enumerate()
            .map(|(i, (t, &ty))| piece(i, t, ty, is_spm, &unmap))
            .collect::<Result<Vec<_>>>()?;
        let specials = Specials::new(
            texts
                .iter()
                .zip(&types)
                .enumerate()
                .filter(|(_, (_, ty))| ty.is_special())
                .map(|(i, (t, ty))| (i as TokenId, t.as_str(), ty.is_hidden())),
        );
        let (model, scores) = match &spec.model {
            ModelSpec::Bpe { merges, pre } => (Model::Bpe(Box::new(bpe::Bpe::new(n, &ids, merges, *pre)?)), Vec::new()),
            ModelSpec::Spm { scores } => {
                if scores.len() != n {
                    return Err(Error::InvalidArgument(format!("{} scores for {n} tokens", scores.len())));
                }
                (Model::Spm(Box::new(spm::Spm::new(&ids, spec.unk))), scores.to_vec())
            }
        };
        Ok(Tokenizer {
            model,
            texts,
            pieces,
            types,
            scores,
            ids,
            specials,
            bos: spec.bos,
            eos: spec.eos,
            eot,
            eom,
            unk: spec.unk,
            eog,
            add_bos: spec.add_bos,
            add_eos: spec.add_eos,
            add_space_prefix: spec.add_space_prefix,
        })
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.texts.len()
    }

    /// `gpt2` (byte-level BPE) or `llama` (SentencePiece), as GGUF names the algorithm.
    pub fn model_name(&self) -> &'static str {
        match self.model {
            Model::Bpe(_) => "gpt2",
            Model::Spm(_) => "llama",
        }
    }

    /// The pre-tokenizer of a byte-level BPE vocabulary.
    pub fn pre(&self) -> Option<PreKind> {
        match &self.model {
            Model::Bpe(b) => Some(b.pre()),
            Model::Spm(_) => None,
        }
    }

    /// Beginning-of-sequence token, if the vocabulary has one.
    pub fn bos(&self) -> Option<TokenId> {
        self.bos
    }

    /// End-of-sequence token, if the vocabulary has one.
    pub fn eos(&self) -> Option<TokenId> {
        self.eos
    }

    /// End-of-turn token (`<|eot_id|>`, `<|im_end|>`, `<end_of_turn>`), if any.
    pub fn eot(&self) -> Option<TokenId> {
        self.eot
    }

    /// End-of-message token (`<|eom_id|>`), if any.
    pub fn eom(&self) -> Option<TokenId> {
        self.eom
    }

    /// Unknown token, if any.
    pub fn unk(&self) -> Option<TokenId> {
        self.unk
    }

    /// Every token that ends generation, sorted: end of sequence, of turn and of message, and the
    /// tokens llama.cpp stops on by their text (`<|im_end|>`, `<|endoftext|>`, `<|fim_pad|>`, ...).
    pub fn end_of_generation(&self) -> &[TokenId] {
        &self.eog
    }

    /// Whether prompts should start with [`Tokenizer::bos`] (GGUF `add_bos_token`).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether prompts should end with [`Tokenizer::eos`] (GGUF `add_eos_token`).
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// The type of token `id` (control for the end-of-generation and fill-in-the-middle tokens
    /// whatever the file says, as in llama.cpp).
    pub fn token_type(&self, id: TokenId) -> Option<TokenType> {
        self.types.get(id as usize).copied()
    }

    /// The vocabulary entry of `id` as stored (`Ġthe`, `▁the`, `<|im_end|>`).
    pub fn token_text(&self, id: TokenId) -> Option<&str> {
        self.texts.get(id as usize).map(String::as_str)
    }

    /// The SentencePiece score of `id` (`None` for BPE vocabularies).
    pub fn token_score(&self, id: TokenId) -> Option<f32> {
        self.scores.get(id as usize).copied()
    }

    /// The id of a vocabulary entry as stored (`Ġthe`, `▁the`, `<|im_end|>`).
    pub fn token_id(&self, entry: &str) -> Option<TokenId> {
        self.ids.get(entry).copied()
    }

    /// The bytes token `id` decodes to, special tokens as their text (llama.cpp's
    /// `token_to_piece` with `special`).
    pub fn token_bytes(&self, id: TokenId) -> Result<&[u8]> {
        self.pieces.get(id as usize).map(Vec::as_slice).ok_or_else(|| {
            Error::InvalidArgument(format!("token id {id} is beyond the {}-token vocabulary", self.pieces.len()))
        })
    }

    /// The bytes token `id` decodes to for display: control and unknown tokens decode to nothing.
    pub fn token_display_bytes(&self, id: TokenId) -> Result<&[u8]> {
        let b = self.token_bytes(id)?;
        Ok(if self.types[id as usize].is_hidden() { &[] } else { b })
    }

    /// llama.cpp's `llama_tokenize`: with `add_special`, BOS first and EOS last where the model
    /// wants them; with `parse_special`, control tokens written in the text are recognized
    /// (user-defined ones always are).
    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<TokenId> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        let fragments = self.specials.split(text, parse_special);
        match &self.model {
            Model::Bpe(bpe) => {
                let mut work = bpe::Work::default();
                for f in fragments {
                    match f {
                        Fragment::Text(t) => bpe.encode(t, &self.ids, &mut work, &mut out),
                        Fragment::Token(id) => out.push(id),
                    }
                }
            }
            Model::Spm(spm) => {
                let mut work = spm::Work::default();
                let mut escaped = String::new();
                // A space goes before the text and before text that follows a special token.
                let mut after_special = true;
                for f in fragments {
                    match f {
                        Fragment::Text(t) => {
                            escaped.clear();
                            if self.add_space_prefix && after_special {
                                escaped.push_str(spm::SPACE);
                            }
                            for (i, part) in t.split(' ').enumerate() {
                                if i > 0 {
                                    escaped.push_str(spm::SPACE);
                                }
                                escaped.push_str(part);
                            }
                            spm.encode(&escaped, &self.ids, &self.scores, &mut work, &mut out);
                            after_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(id);
                            after_special = true;
                        }
                    }
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        out
    }

    /// Encodes `text`, recognizing special tokens (`<|im_start|>`, ...) written in it; no BOS.
    pub fn encode(&self, text: &str) -> Vec<TokenId> {
        self.tokenize(text, false, true)
    }

    /// Encodes `text` treating control-token text as ordinary characters (user-defined tokens
    /// are still recognized, as in llama.cpp and Hugging Face `tokenizers`).
    pub fn encode_ordinary(&self, text: &str) -> Vec<TokenId> {
        self.tokenize(text, false, false)
    }

    /// A prompt: [`Tokenizer::bos`] first when the model wants it, then [`Tokenizer::encode`].
    pub fn encode_prompt(&self, text: &str) -> Vec<TokenId> {
        self.tokenize(text, true, true)
    }

    /// The bytes of `ids` concatenated, special tokens as their text. With `add_space_prefix`
    /// (SentencePiece) the first token's leading space is dropped, so that decoding gives back
    /// the encoded text. Exact: unlike llama.cpp's `llama_detokenize`, no clean-up of spaces
    /// before punctuation (which some BPE vocabularies ask for and which loses text).
    pub fn decode_bytes(&self, ids: &[TokenId]) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            let b = self.token_bytes(id)?;
            v.extend_from_slice(if i == 0 && self.add_space_prefix { b.strip_prefix(b" ").unwrap_or(b) } else { b });
        }
        Ok(v)
    }

    /// Decodes `ids` to text (see [`Tokenizer::decode_bytes`]); byte sequences that are not UTF-8
    /// become U+FFFD.
    pub fn decode(&self, ids: &[TokenId]) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.decode_bytes(ids)?).into_owned())
    }

    /// A decoder for a stream of generated ids.
    pub fn stream(&self) -> StreamDecoder<'_> {
        StreamDecoder { tok: self, pending: Vec::new(), hide_control: false }
    }
}

/// The token types after llama.cpp's corrections, the end-of-turn and end-of-message tokens, and
/// the sorted end-of-generation set (`llama_vocab::impl::load`): tokens that end generation by
/// their text or by a fill-in-the-middle role become control tokens, except two exceptions that
/// keep `<|end|>` (gpt-oss, Solar) and `</s>` (Gemma 4, PLaMo) ordinary.
fn end_of_generation(spec: &TokenizerSpec<'_>, texts: &[String], ids: &FastMap<String, TokenId>) -> Ends {
    let mut types = spec.types.clone();
    let find = |names: &[&str]| names.iter().find_map(|t| ids.get(*t).copied());
    let found = |id: Option<TokenId>, names: &[&str]| id.or_else(|| find(names));
    let eot = found(spec.eot, END_OF_TURN);
    let eom = found(spec.eom, &["<|eom_id|>"]);
    let mut control: Vec<TokenId> = Vec::new();
    let mut fim = [None; 6];
    for (i, names) in FIM.iter().enumerate() {
        fim[i] = spec.fim[i].or_else(|| {
            let id = find(names);
            control.extend(id);
            id
        });
    }
    if spec.eot.is_none() {
        control.extend(eot);
    }
    if spec.eom.is_none() {
        control.extend(eom);
    }
    let mut eog: Vec<TokenId> = END_OF_GENERATION.iter().filter_map(|t| ids.get(*t).copied()).collect();
    control.extend(&eog);
    eog.extend(fim[3..].iter().flatten());
    eog.extend(spec.eos.iter().chain(&eot).chain(&eom));
    for &id in &control {
        types[id as usize] = TokenType::Control;
    }
    let text = |id: TokenId| texts[id as usize].as_str();
    let has = |eog: &[TokenId], t: &str| eog.iter().any(|&id| text(id) == t);
    let call = has(&eog, "<|call|>") || has(&eog, "<|calls|>");
    if has(&eog, "<|end|>") && call && (has(&eog, "<|return|>") || has(&eog, "<|flush|>")) {
        let end = ids["<|end|>"];
        eog.retain(|&id| id != end);
        types[end as usize] = TokenType::UserDefined;
    }
    if has(&eog, "</s>") && (has(&eog, "<|tool_response>") || has(&eog, "<|plamo:eos|>")) {
        let s = ids["</s>"];
        eog.retain(|&id| id != s);
        types[s as usize] = TokenType::Normal;
    }
    eog.sort_unstable();
    eog.dedup();
    Ends { types, eot, eom, eog }
}

/// What [`end_of_generation`] finds.
struct Ends {
    types: Vec<TokenType>,
    eot: Option<TokenId>,
    eom: Option<TokenId>,
    eog: Vec<TokenId>,
}

/// What token `i` of type `ty` with stored text `t` decodes to, as llama.cpp's `token_to_piece`
/// (with special tokens rendered).
fn piece(i: usize, t: &str, ty: TokenType, spm: bool, unmap: &[Option<u8>]) -> Result<Vec<u8>> {
    Ok(match ty {
        TokenType::Control | TokenType::Unknown | TokenType::UserDefined => t.as_bytes().to_vec(),
        TokenType::Unused => Vec::new(),
        TokenType::Byte => {
            let hex = t.strip_prefix("<0x").and_then(|h| h.strip_suffix('>')).filter(|h| h.len() == 2);
            vec![
                hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| {
                    Error::InvalidArgument(format!("token {i} `{t}` is a byte token but not `<0xNN>`"))
                })?,
            ]
        }
        TokenType::Normal if spm => t.replace(spm::SPACE, " ").into_bytes(),
        TokenType::Normal => {
            let mut v = Vec::with_capacity(t.len());
            for c in t.chars() {
                match unmap.get(c as usize).copied().flatten() {
                    Some(b) => v.push(b),
                    // llama.cpp's marker for a character outside GPT-2's byte alphabet.
                    None => {
                        v.extend_from_slice(b"[UNK_BYTE_0x");
                        for b in c.encode_utf8(&mut [0; 4]).bytes() {
                            v.extend_from_slice(format!("{b:02x}").as_bytes());
                        }
                        v.extend_from_slice(t.as_bytes());
                        v.push(b']');
                    }
                }
            }
            v
        }
    })
}

/// Turns generated ids into text as they arrive. A character split across tokens (common for
/// CJK and emoji) is held back until its last byte arrives.
#[derive(Debug)]
pub struct StreamDecoder<'a> {
    tok: &'a Tokenizer,
    pending: Vec<u8>,
    hide_control: bool,
}

impl StreamDecoder<'_> {
    /// Control and unknown tokens decode to nothing (as llama.cpp shows generated text).
    pub fn hide_control(mut self) -> Self {
        self.hide_control = true;
        self
    }

    /// Adds one token and returns the text it completes (possibly empty).
    pub fn push(&mut self, id: TokenId) -> Result<String> {
        let bytes = if self.hide_control { self.tok.token_display_bytes(id)? } else { self.tok.token_bytes(id)? };
        self.pending.extend_from_slice(bytes);
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

#[cfg(test)]
mod tests;
