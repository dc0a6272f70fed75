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

/// The lossless format of `eval-model`/`generate --format rans` goes through the `.ecq` writer and
/// reader and returns every linear layer exactly, smaller; a lossy format changes them and the
/// CPU model's perplexity scoring sees it.
#[test]
fn rans_format_restores_every_layer_exactly_and_lossy_formats_do_not() {
    use ecq::model::quality::{ModelFormat, restore, score};
    let g = common::smollm2_gguf();
    let tok = ecq::tokenizer::Tokenizer::from_gguf(&g).unwrap();
    let w = LlamaWeights::from_gguf(&g).unwrap();
    drop(g);
    let r = restore(&w, ModelFormat::Rans).unwrap();
    for (a, b) in r.weights.layers.iter().zip(&w.layers) {
        assert!(a.proj == b.proj, "rANS round trip changed a layer");
    }
    assert!(r.linear_bits_per_weight > 4.8 && r.linear_bits_per_weight < 4.95, "{}", r.linear_bits_per_weight);

    let q3 = restore(&w, "q3g64".parse().unwrap()).unwrap();
    assert!((q3.linear_bits_per_weight - 3.5).abs() < 1e-9);
    assert!(q3.weights.layers[0].proj != w.layers[0].proj);
    let tokens: Vec<u32> = tok.encode(ecq::model::quality::EVAL_TEXT)[..6].to_vec();
    let (exact, reference) = score(&mut CpuModel::new(&w, 8).unwrap(), &tokens, None, |_| {}).unwrap();
    let (same, _) = score(&mut CpuModel::new(&r.weights, 8).unwrap(), &tokens, Some(&reference), |_| {}).unwrap();
    assert!(same.identical_logits && same.kl_mean == 0.0 && same.perplexity == exact.perplexity);
    let (lossy, _) = score(&mut CpuModel::new(&q3.weights, 8).unwrap(), &tokens, Some(&reference), |_| {}).unwrap();
    assert!(!lossy.identical_logits && lossy.kl_mean > 0.0);
}
