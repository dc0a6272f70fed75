//! A Llama-architecture decoder (RMSNorm, RoPE, grouped-query attention with a KV cache, SwiGLU
//! MLP, tied or separate output projection): configuration and weights from GGUF ([`config`],
//! [`weights`]), the CPU reference forward pass ([`cpu`]), the GPU forward pass ([`gpu`]),
//! sampling ([`sample`]) and the generation loop shared by both ([`generate`]).

pub mod config;
pub mod cpu;
pub mod gpu;
pub mod quality;
pub mod sample;
pub mod smollm2;
pub mod sparsity;
pub mod weights;

pub use config::LlamaConfig;
pub use cpu::{CpuModel, InputHook, KvCache};
pub use gpu::{GpuModel, GpuModelOptions, LinearIo, ResidentWeights, WeightSource};
pub use sample::{Sampler, Sampling};
pub use weights::{LayerWeights, LinearId, LlamaWeights, Proj};

use crate::Result;

/// A model that turns tokens into next-token logits, keeping its own KV cache.
pub trait Decoder {
    /// The model's shape.
    fn config(&self) -> &LlamaConfig;
    /// Tokens processed so far (the position of the next one).
    fn position(&self) -> usize;
    /// Positions the KV cache holds.
    fn capacity(&self) -> usize;
    /// Forgets every processed token.
    fn reset(&mut self);
    /// Runs `tokens` at the next positions and returns the logits after the last one.
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>>;
    /// Runs `tokens` and returns the most likely next token; a GPU model computes it without
    /// reading the logits back.
    fn forward_greedy(&mut self, tokens: &[u32]) -> Result<u32> {
        Ok(crate::cpu::argmax(&self.forward(tokens)?))
    }
}

/// What [`generate`] does.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// How tokens are chosen.
    pub sampling: Sampling,
    /// Tokens that end generation (not reported); usually the tokenizer's end of sequence.
    pub stop: Vec<u32>,
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// A stop token was produced.
    Stop,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The KV cache is full.
    ContextFull,
    /// The callback asked to stop.
    Callback,
}

/// Runs `prompt` (prefill), then generates up to `opts.max_tokens` tokens, calling `on_token`
/// with each one as soon as it is chosen; `on_token` returns `false` to stop. Returns the
/// generated tokens and why generation ended.
pub fn generate(
    model: &mut dyn Decoder,
    prompt: &[u32],
    opts: &GenerateOptions,
    mut on_token: impl FnMut(u32) -> Result<bool>,
) -> Result<(Vec<u32>, StopReason)> {
    let mut sampler = Sampler::new(opts.sampling)?;
    let greedy = opts.sampling == Sampling::Greedy;
    let mut step = |model: &mut dyn Decoder, tokens: &[u32]| -> Result<u32> {
        if greedy { model.forward_greedy(tokens) } else { Ok(sampler.sample(&model.forward(tokens)?)) }
    };
    let mut out = Vec::new();
    if opts.max_tokens == 0 {
        return Ok((out, StopReason::MaxTokens));
    }
    let mut next = step(model, prompt)?;
    loop {
        if opts.stop.contains(&next) {
            return Ok((out, StopReason::Stop));
        }
        out.push(next);
        if !on_token(next)? {
            return Ok((out, StopReason::Callback));
        }
        if out.len() >= opts.max_tokens {
            return Ok((out, StopReason::MaxTokens));
        }
        if model.position() >= model.capacity() {
            return Ok((out, StopReason::ContextFull));
        }
        next = step(model, &[next])?;
    }
}
