//! The CPU reference forward pass on the real SmolLM2-135M-Instruct weights (lossless Q4_1 codes).
//! Needs the cached GGUF (`ecq fetch smollm2`); a missing file fails the test.

mod common;

use ecq::model::{CpuModel, Decoder, GenerateOptions, LlamaWeights, Sampling, StopReason, generate};
use ecq::tokenizer::Tokenizer;

#[test]
fn greedy_decode_knows_the_capital_of_france() {
    let g = common::smollm2_gguf();
    let tok = Tokenizer::from_gguf(&g).unwrap();
    let w = LlamaWeights::from_gguf(&g).unwrap();
    drop(g);
    let mut m = CpuModel::new(&w, 64).unwrap();
    let prompt = tok.encode_prompt("The capital of France is");
    assert_eq!(prompt, [504, 3575, 282, 4649, 314]);
    let opts = GenerateOptions { max_tokens: 4, sampling: Sampling::Greedy, stop: vec![2] };
    let (out, why) = generate(&mut m, &prompt, &opts, |_| Ok(true)).unwrap();
    let text = tok.decode(&out).unwrap();
    assert!(text.contains("Paris"), "greedy continuation: {text:?}");
    assert_eq!(why, StopReason::MaxTokens);
    assert_eq!(m.position(), prompt.len() + out.len() - 1);
}

#[test]
fn prefill_equals_token_by_token_decode() {
    let g = common::smollm2_gguf();
    let w = LlamaWeights::from_gguf(&g).unwrap();
    let tokens = [504u32, 3575, 282, 4649];
    let mut a = CpuModel::new(&w, 8).unwrap();
    let all = a.forward_all(&tokens).unwrap();
    let mut b = CpuModel::new(&w, 8).unwrap();
    let v = w.config.vocab_size;
    for (i, &t) in tokens.iter().enumerate() {
        let logits = b.forward(&[t]).unwrap();
        let e = ecq::cpu::rel_err(&logits, &all[i * v..(i + 1) * v]);
        // Same arithmetic except the order of the f64 attention sums: agreement to f32 rounding.
        assert!(e < 1e-5, "position {i}: rel err {e}");
    }
    assert_eq!(a.cache().keys(3), b.cache().keys(3));
    assert!(b.forward(&[1; 5]).is_err(), "8-position cache overflows");
}
