//! The shape of a Llama-architecture model, read from GGUF metadata and checked.

use serde::Serialize;

use crate::io::Gguf;
use crate::io::gguf::Metadata;
use crate::{Error, Result};

/// Hyper-parameters of a Llama-architecture decoder.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LlamaConfig {
    /// Transformer blocks (`llama.block_count`).
    pub n_layers: usize,
    /// Residual stream width (`llama.embedding_length`).
    pub d_model: usize,
    /// Hidden width of the SwiGLU MLP (`llama.feed_forward_length`).
    pub d_ffn: usize,
    /// Query heads (`llama.attention.head_count`).
    pub n_heads: usize,
    /// Key/value heads (`llama.attention.head_count_kv`; equal to `n_heads` without GQA).
    pub n_kv_heads: usize,
    /// Values per head (`llama.attention.key_length`, else `d_model / n_heads`).
    pub head_dim: usize,
    /// Vocabulary entries (`llama.vocab_size`, else the tokenizer's length).
    pub vocab_size: usize,
    /// Positions the model was trained for (`llama.context_length`).
    pub context_length: usize,
    /// RoPE base (`llama.rope.freq_base`, default 10000).
    pub rope_theta: f32,
    /// RMSNorm epsilon (`llama.attention.layer_norm_rms_epsilon`).
    pub rms_eps: f32,
}

impl LlamaConfig {
    /// Reads and validates the `llama.*` keys of a GGUF file.
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        Self::from_metadata(g.meta())
    }

    /// Reads and validates the `llama.*` keys of model metadata (a GGUF file's or a package's).
    pub fn from_metadata(g: &Metadata) -> Result<Self> {
        let arch = g.architecture()?;
        if arch != "llama" {
            return Err(Error::Unsupported(format!(
                "{}: architecture `{arch}` (the forward pass implements `llama`)",
                g.path().display()
            )));
        }
        let usize_key = |k: &str| g.get_u64(&format!("llama.{k}")).map(|v| v as usize);
        let n_heads = usize_key("attention.head_count")?;
        let d_model = usize_key("embedding_length")?;
        let opt = |k: &str| -> Result<Option<usize>> {
            if g.contains_key(&format!("llama.{k}")) { usize_key(k).map(Some) } else { Ok(None) }
        };
        let vocab_size = match opt("vocab_size")? {
            Some(v) => v,
            None => g.get_array("tokenizer.ggml.tokens")?.len(),
        };
        let rope_theta =
            if g.contains_key("llama.rope.freq_base") { g.get_f32("llama.rope.freq_base")? } else { 10000.0 };
        let head_dim = match opt("attention.key_length")? {
            Some(k) => k,
            None if n_heads > 0 => d_model / n_heads,
            None => 0,
        };
        let c = LlamaConfig {
            n_layers: usize_key("block_count")?,
            d_model,
            d_ffn: usize_key("feed_forward_length")?,
            n_heads,
            n_kv_heads: opt("attention.head_count_kv")?.unwrap_or(n_heads),
            head_dim,
            vocab_size,
            context_length: usize_key("context_length")?,
            rope_theta,
            rms_eps: g.get_f32("llama.attention.layer_norm_rms_epsilon")?,
        };
        if let Some(v) = opt("attention.value_length")?.filter(|&v| v != head_dim) {
            return Err(Error::Unsupported(format!("value head size {v} different from key head size {head_dim}")));
        }
        if let Some(r) = opt("rope.dimension_count")?.filter(|&r| r != head_dim) {
            return Err(Error::Unsupported(format!("partial RoPE over {r} of {head_dim} dims")));
        }
        if g.contains_key("llama.rope.scaling.type") {
            let t = g.get_str("llama.rope.scaling.type")?;
            if t != "none" {
                return Err(Error::Unsupported(format!("RoPE scaling `{t}`")));
            }
        }
        if g.contains_key("llama.expert_count") && g.get_u64("llama.expert_count")? > 0 {
            return Err(Error::Unsupported("mixture-of-experts Llama models".into()));
        }
        c.validate().map_err(|e| match e {
            Error::InvalidArgument(m) => Error::invalid_file(g.path(), m),
            e => e,
        })?;
        Ok(c)
    }

    /// Checks that the sizes are positive and consistent.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("model config: {m}")));
        for (name, v) in [
            ("layers", self.n_layers),
            ("d_model", self.d_model),
            ("d_ffn", self.d_ffn),
            ("heads", self.n_heads),
            ("kv heads", self.n_kv_heads),
            ("head_dim", self.head_dim),
            ("vocab_size", self.vocab_size),
            ("context_length", self.context_length),
        ] {
            if v == 0 || v > 1 << 24 {
                return bad(format!("{name} = {v} is out of range"));
            }
        }
        if self.n_heads % self.n_kv_heads != 0 {
            return bad(format!("{} heads do not share {} KV heads evenly", self.n_heads, self.n_kv_heads));
        }
        if self.head_dim % 2 != 0 {
            return bad(format!("head_dim {} is odd (RoPE rotates pairs)", self.head_dim));
        }
        if !(self.rms_eps.is_finite() && self.rms_eps >= 0.0) {
            return bad(format!("RMSNorm epsilon {} is not a finite non-negative number", self.rms_eps));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return bad(format!("RoPE base {} is not a finite number above 1", self.rope_theta));
        }
        Ok(())
    }

    /// Width of all query heads together.
    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }

    /// Width of all key (or value) heads together.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smollm2() -> LlamaConfig {
        crate::model::smollm2::config()
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(smollm2().validate().is_ok());
        let e = |c: LlamaConfig| c.validate().unwrap_err().to_string();
        assert!(e(LlamaConfig { n_kv_heads: 2, ..smollm2() }).contains("9 heads"));
        assert!(e(LlamaConfig { head_dim: 63, ..smollm2() }).contains("odd"));
        assert!(e(LlamaConfig { n_layers: 0, ..smollm2() }).contains("layers"));
        assert!(e(LlamaConfig { rms_eps: f32::NAN, ..smollm2() }).contains("epsilon"));
        assert_eq!((smollm2().q_dim(), smollm2().kv_dim()), (576, 192));
    }
}
