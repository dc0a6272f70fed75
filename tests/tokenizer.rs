//! The SmolLM2 tokenizer, built from the GGUF, against token ids produced by Hugging Face
//! `tokenizers` (tools/tokenizer-ref.py). Needs the cached GGUF (`ecq fetch smollm2`).

mod common;

use ecq::tokenizer::{ChatTemplate, Message, Tokenizer};

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    /// False where the text has bytes without a token (dropped, so decoding cannot restore them).
    lossless: bool,
}

fn cases() -> Vec<Case> {
    serde_json::from_str(include_str!("data/smollm2-tokens.json")).expect("reference ids parse")
}

#[test]
fn encode_matches_huggingface_tokenizers() {
    let g = common::smollm2_gguf();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!((tok.bos(), tok.eos(), tok.add_bos()), (Some(1), Some(2), false));
    let mut failures = vec![];
    for c in cases() {
        let got = tok.encode(&c.text);
        if got != c.ids {
            failures.push(format!("{:?}\n  want {:?}\n  got  {:?}", c.text, c.ids, got));
        }
        if c.lossless {
            assert_eq!(tok.decode(&c.ids).unwrap(), c.text, "decode of {:?}", c.text);
        }
    }
    assert!(failures.is_empty(), "{} cases differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn streaming_decode_equals_whole_decode() {
    let g = common::smollm2_gguf();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    for c in cases().into_iter().filter(|c| c.lossless) {
        let mut s = tok.stream();
        let mut text = String::new();
        for &id in &c.ids {
            let part = s.push(id).unwrap();
            assert!(!part.contains('\u{FFFD}'), "{:?}: a character was split", c.text);
            text.push_str(&part);
        }
        text.push_str(&s.finish());
        assert_eq!(text, c.text);
    }
}

#[test]
fn chat_prompt_uses_control_tokens() {
    let g = common::smollm2_gguf();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    let chat = ChatTemplate::from_gguf(&g).unwrap();
    let ids = tok.encode(&chat.render(&[Message::new("user", "Hi")], true).unwrap());
    assert_eq!(ids[0], 1, "<|im_start|>");
    assert_eq!(ids.iter().filter(|&&i| i == 1).count(), 3);
    assert_eq!(ids.iter().filter(|&&i| i == 2).count(), 2);
    assert_eq!(&ids[ids.len() - 3..], &[520, 9531, 198], "ends with `assistant\\n`");
}
