//! CPU speed of the tokenizers: building one from a GGUF's metadata (vocabularies of 32k to
//! 152k entries, 50k to 280k merges) and encoding 100 KB of mixed text (English prose, code,
//! numbers, CJK, emoji, whitespace runs) with special-token parsing on. Throughput: input bytes/s.
//!
//! Data: the vocabularies of tests/data/tokenizer (GPT-2, Llama 3, Qwen2, Llama SentencePiece).
//!
//! `cargo bench --bench tokenizer`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ecq::io::Gguf;
use ecq::tokenizer::Tokenizer;

/// About 100 KB of text that exercises every branch of the pre-tokenizers.
fn text() -> String {
    let block = [
        ecq::model::quality::EVAL_TEXT,
        "fn main() {\n    let v: Vec<u64> = (0..1_000_000).map(|x| x * x % 97).collect();\n\tprintln!(\"{}\", v[42]);\n}\n",
        "Totals: 1234567.89 EUR, 2024-12-05, +41 22 333 44 55, 0xDEADBEEF, 3.14159265358979\n",
        "日本語のテキストと中文的句子。한국어 문장도 있습니다. Ελληνικά και русский текст. مرحبا بالعالم\n",
        "emoji 🦀🚀👍🏽 — «quotes» and “curly” ones; naïve café résumé\n",
        "    indented\n\n\n        deeper   \t trailing   \n",
    ]
    .concat();
    let mut s = String::new();
    while s.len() < 100_000 {
        s.push_str(&block);
    }
    let cut = (0..=100_000).rev().find(|&i| s.is_char_boundary(i)).unwrap();
    s.truncate(cut);
    s
}

fn bench(c: &mut Criterion) {
    let text = text();
    // llama.cpp's vocabulary test files, fetched by `tools/fetch-weights.sh vocabs`.
    let dir = ecq::model::smollm2::cache_dir().join("vocab");
    let mut g = c.benchmark_group("tokenizer");
    g.sample_size(10);
    for name in ["gpt-2", "llama-bpe", "qwen2", "llama-spm"] {
        let gguf = Gguf::open(dir.join(format!("ggml-vocab-{name}.gguf"))).unwrap();
        let tok = Tokenizer::from_gguf(&gguf).unwrap();
        let n = tok.encode(&text).len();
        eprintln!(
            "{name}: {} entries, 100 KB -> {n} tokens ({:.2} bytes/token)",
            tok.vocab_size(),
            text.len() as f64 / n as f64
        );
        g.throughput(Throughput::Elements(tok.vocab_size() as u64));
        g.bench_function(format!("load/{name}"), |b| b.iter(|| black_box(Tokenizer::from_gguf(&gguf).unwrap())));
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(format!("encode 100 KB/{name}"), |b| b.iter(|| black_box(tok.encode(&text))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
