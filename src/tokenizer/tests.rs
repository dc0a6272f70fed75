use super::*;

fn spec<'a>(tokens: &'a [String], types: Vec<TokenType>, model: ModelSpec<'a>) -> TokenizerSpec<'a> {
    TokenizerSpec {
        tokens,
        types,
        model,
        bos: None,
        eos: None,
        eot: None,
        eom: None,
        unk: None,
        fim: [None; 6],
        add_bos: false,
        add_eos: false,
        add_space_prefix: false,
    }
}

/// A byte-level toy: all 256 bytes, then merges building ` the` and `ab`, and a control token.
fn toy() -> Tokenizer {
    let enc = bpe::byte_chars();
    let mut tokens: Vec<String> = enc.iter().map(char::to_string).collect();
    tokens.extend(["Ġt", "he", "Ġthe", "ab", "<|end|>"].map(String::from));
    let mut types = vec![TokenType::Normal; tokens.len()];
    *types.last_mut().unwrap() = TokenType::Control;
    let merges: Vec<String> = ["Ġ t", "h e", "Ġt he", "a b"].map(String::from).to_vec();
    let mut s = spec(&tokens, types, ModelSpec::Bpe { merges: &merges, pre: PreKind::Gpt2 });
    s.eos = Some(260);
    Tokenizer::new(&s).unwrap()
}

/// The toys list the 256 byte-level characters first, in byte order.
fn byte(b: u8) -> TokenId {
    TokenId::from(b)
}

#[test]
fn merges_apply_by_rank() {
    let t = toy();
    assert_eq!(t.encode(" the"), [258]);
    assert_eq!(t.encode("abab"), [259, 259]);
    assert_eq!(t.encode("aab"), [byte(b'a'), 259]);
    assert_eq!(t.decode(&t.encode("x the abab!")).unwrap(), "x the abab!");
}

#[test]
fn merges_may_name_text_outside_the_vocabulary() {
    // `x y` makes `xy`, which is no token; `xy z` makes `xyz`, which is. llama.cpp merges texts,
    // so both apply; a leftover `xy` is spelled out as `x`, `y`.
    let enc = bpe::byte_chars();
    let mut tokens: Vec<String> = enc.iter().map(char::to_string).collect();
    tokens.push("xyz".into());
    let merges: Vec<String> = ["x y", "xy z"].map(String::from).to_vec();
    let t = Tokenizer::new(&spec(
        &tokens,
        vec![TokenType::Normal; 257],
        ModelSpec::Bpe { merges: &merges, pre: PreKind::Gpt2 },
    ))
    .unwrap();
    assert_eq!(t.encode("xyz"), [256]);
    assert_eq!(t.encode("xy"), [byte(b'x'), byte(b'y')]);
}

#[test]
fn specials_are_matched_in_text_only_when_asked() {
    let t = toy();
    assert_eq!(t.encode("ab<|end|>ab"), [259, 260, 259]);
    assert_eq!(t.encode_ordinary("<|end|>").len(), 7);
    assert_eq!(t.decode(&[260]).unwrap(), "<|end|>");
    assert_eq!(t.token_display_bytes(260).unwrap(), b"");
    // `<|end|>` ends generation by its text, beside the end of sequence.
    assert_eq!(t.end_of_generation(), [260]);
    assert_eq!(t.eot(), Some(260));
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
    assert_eq!(s.push(byte(0x80)).unwrap(), "\u{FFFD}");
    assert_eq!(s.push(byte(b'a')).unwrap(), "a");
    // An unfinished character at the end is flushed as U+FFFD.
    assert_eq!(s.push(byte(0xE6)).unwrap(), "");
    assert_eq!(s.finish(), "\u{FFFD}");
    assert!(s.push(9999).is_err());
    // Control tokens can be hidden.
    let mut s = t.stream().hide_control();
    assert_eq!(s.push(260).unwrap(), "");
    assert_eq!(s.push(259).unwrap(), "ab");
}

#[test]
fn bad_vocabularies_are_errors() {
    let enc = bpe::byte_chars();
    let tokens: Vec<String> = enc.iter().map(char::to_string).collect();
    let merges = vec!["Ġt".to_string()];
    let s = spec(&tokens, vec![TokenType::Normal; 256], ModelSpec::Bpe { merges: &merges, pre: PreKind::Gpt2 });
    assert!(Tokenizer::new(&s).unwrap_err().to_string().contains("merge 0 `Ġt`"));
    let s = TokenizerSpec { model: ModelSpec::Bpe { merges: &[], pre: PreKind::Gpt2 }, eos: Some(256), ..s };
    assert!(Tokenizer::new(&s).unwrap_err().to_string().contains("eos"));
    let mut types = vec![TokenType::Normal; 256];
    types[65] = TokenType::Byte;
    let s = TokenizerSpec { eos: None, types, ..s };
    assert!(Tokenizer::new(&s).unwrap_err().to_string().contains("`A` is a byte token"));
    assert!(toy().token_bytes(100_000).is_err());
}

/// A SentencePiece toy: `<unk>`, `<s>`, `</s>`, the 256 byte tokens, then scored pieces.
fn spm_toy(add_space_prefix: bool) -> Tokenizer {
    let mut tokens: Vec<String> = ["<unk>", "<s>", "</s>"].map(String::from).to_vec();
    let mut types = vec![TokenType::Unknown, TokenType::Control, TokenType::Control];
    tokens.extend((0..=255).map(|b| format!("<0x{b:02X}>")));
    types.extend([TokenType::Byte; 256]);
    let pieces = [("▁", -1.0), ("h", -2.0), ("e", -2.0), ("l", -2.0), ("o", -2.0), ("▁h", -3.0), ("ll", -4.0)];
    let more = [("▁he", -5.0), ("llo", -6.0), ("he", -8.0)];
    let mut scores = vec![0.0; tokens.len()];
    for (t, s) in pieces.iter().chain(&more) {
        tokens.push(t.to_string());
        types.push(TokenType::Normal);
        scores.push(*s);
    }
    let mut s = spec(&tokens, types, ModelSpec::Spm { scores: &scores });
    (s.bos, s.eos, s.unk, s.add_bos, s.add_space_prefix) = (Some(1), Some(2), Some(0), true, add_space_prefix);
    Tokenizer::new(&s).unwrap()
}

#[test]
fn sentencepiece_merges_by_score_with_byte_fallback() {
    let t = spm_toy(true);
    let id = |s: &str| t.token_id(s).unwrap();
    // `▁h` (-3) merges first, then `ll` (-4), `▁he` (-5), `llo` (-6); `he` (-8) comes too late.
    assert_eq!(t.encode("hello"), [id("▁he"), id("llo")]);
    assert_eq!(t.encode_prompt("hello"), [1, id("▁he"), id("llo")]);
    // Characters without an entry fall back to their bytes; `é` is two.
    assert_eq!(t.encode("hé"), [id("▁h"), 3 + 0xC3, 3 + 0xA9]);
    assert_eq!(t.decode(&t.encode("hé")).unwrap(), "hé");
    // A space is added after a special token too; decoding drops only the first one.
    assert_eq!(t.encode("he</s>he"), [id("▁he"), 2, id("▁he")]);
    assert_eq!(t.decode(&t.encode("he</s>he")).unwrap(), "he</s> he");
    assert!(t.encode("").is_empty());
    assert_eq!(t.encode_prompt(""), [1]);
    let plain = spm_toy(false);
    assert_eq!(plain.encode("hello"), [plain.token_id("he").unwrap(), plain.token_id("llo").unwrap()]);
    assert_eq!(plain.decode(&plain.encode(" hello")).unwrap(), " hello");
}
