//! The CPU reference forward pass: f32 activations, an f32 KV cache, every step built from the
//! kernel references in [`crate::cpu::transformer`].

use super::{Decoder, LinearId, LlamaConfig, LlamaWeights, Proj};
use crate::cpu::{self, AttentionShape};
use crate::{Error, Result};

/// Keys and values of past positions, one `[pos][kv_dim]` array per layer.
#[derive(Clone, Debug)]
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    kv_dim: usize,
    capacity: usize,
    len: usize,
}

impl KvCache {
    /// An empty cache for `capacity` positions.
    pub fn new(c: &LlamaConfig, capacity: usize) -> Self {
        let per_layer = vec![0f32; capacity * c.kv_dim()];
        KvCache {
            k: vec![per_layer.clone(); c.n_layers],
            v: vec![per_layer; c.n_layers],
            kv_dim: c.kv_dim(),
            capacity,
            len: 0,
        }
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first token.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keys of `layer` for positions `0..len`.
    pub fn keys(&self, layer: usize) -> &[f32] {
        &self.k[layer][..self.len * self.kv_dim]
    }

    /// Values of `layer` for positions `0..len`.
    pub fn values(&self, layer: usize) -> &[f32] {
        &self.v[layer][..self.len * self.kv_dim]
    }
}

/// Sees (and may change) the input of every linear layer before it is multiplied: activation
/// statistics, or inputs zeroed below a threshold to measure what a sparse GEMV would cost in
/// quality. Called with the layer and its `batch x cols` inputs.
pub type InputHook<'h> = Box<dyn FnMut(LinearId, &mut [f32]) + Send + 'h>;

/// A Llama model running on the CPU.
pub struct CpuModel<'w> {
    w: &'w LlamaWeights,
    cache: KvCache,
    rope: Vec<[f32; 2]>,
    hook: Option<InputHook<'w>>,
}

impl std::fmt::Debug for CpuModel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuModel").field("cache", &self.cache).field("hook", &self.hook.is_some()).finish()
    }
}

impl<'w> CpuModel<'w> {
    /// A model over `weights` with room for `max_seq` positions (at most the context length).
    pub fn new(weights: &'w LlamaWeights, max_seq: usize) -> Result<Self> {
        let c = &weights.config;
        if max_seq == 0 || max_seq > c.context_length {
            return Err(Error::InvalidArgument(format!(
                "max_seq {max_seq}: the model takes 1..={} positions",
                c.context_length
            )));
        }
        Ok(CpuModel {
            w: weights,
            cache: KvCache::new(c, max_seq),
            rope: cpu::rope_table(c.rope_theta, c.head_dim, max_seq),
            hook: None,
        })
    }

    /// Calls `hook` on the input of every linear layer of the blocks (not the output head).
    pub fn with_input_hook(mut self, hook: InputHook<'w>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// The KV cache.
    pub fn cache(&self) -> &KvCache {
        &self.cache
    }

    /// Runs `tokens` at the next positions and returns the final hidden states after the output
    /// norm (`tokens.len() x d_model`).
    fn hidden(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        let (w, c) = (self.w, &self.w.config);
        let (n, pos0) = (tokens.len(), self.cache.len);
        check_room(pos0, n, self.cache.capacity)?;
        let (d, qd, kvd) = (c.d_model, c.q_dim(), c.kv_dim());
        let shape = AttentionShape { n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: c.head_dim };
        let mut h = cpu::embed(&w.embedding, tokens)?;
        for (l, lw) in w.layers.iter().enumerate() {
            let mut hook = self.hook.take();
            let mut lin = |p: Proj, x: &[f32]| match hook.as_mut() {
                Some(h) => {
                    let mut x = x.to_vec();
                    h(LinearId::Block { layer: l, proj: p }, &mut x);
                    cpu::linear(lw.get(p), &x, n)
                }
                None => cpu::linear(lw.get(p), x, n),
            };
            let xn = cpu::rmsnorm(&h, &lw.attn_norm, c.rms_eps);
            let mut q = lin(Proj::Q, &xn)?;
            let mut k = lin(Proj::K, &xn)?;
            let v = lin(Proj::V, &xn)?;
            cpu::rope(&mut q, c.n_heads, c.head_dim, pos0, &self.rope);
            cpu::rope(&mut k, c.n_kv_heads, c.head_dim, pos0, &self.rope);
            self.cache.k[l][pos0 * kvd..(pos0 + n) * kvd].copy_from_slice(&k);
            self.cache.v[l][pos0 * kvd..(pos0 + n) * kvd].copy_from_slice(&v);
            let end = (pos0 + n) * kvd;
            let att = cpu::attention(&q, &self.cache.k[l][..end], &self.cache.v[l][..end], pos0, shape);
            debug_assert_eq!(att.len(), n * qd);
            cpu::add(&mut h, &lin(Proj::O, &att)?);
            let xn = cpu::rmsnorm(&h, &lw.ffn_norm, c.rms_eps);
            let act = cpu::swiglu(&lin(Proj::Gate, &xn)?, &lin(Proj::Up, &xn)?);
            cpu::add(&mut h, &lin(Proj::Down, &act)?);
            self.hook = hook;
        }
        self.cache.len = pos0 + n;
        debug_assert_eq!(h.len(), n * d);
        Ok(cpu::rmsnorm(&h, &w.output_norm, c.rms_eps))
    }

    /// Runs `tokens` and returns the logits of every one of them (`tokens.len() x vocab_size`).
    pub fn forward_all(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        let h = self.hidden(tokens)?;
        cpu::linear(self.w.linear(LinearId::LmHead), &h, tokens.len())
    }
}

impl Decoder for CpuModel<'_> {
    fn config(&self) -> &LlamaConfig {
        &self.w.config
    }

    fn position(&self) -> usize {
        self.cache.len
    }

    fn capacity(&self) -> usize {
        self.cache.capacity
    }

    fn reset(&mut self) {
        self.cache.len = 0;
    }

    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        let h = self.hidden(tokens)?;
        let d = self.w.config.d_model;
        cpu::linear(self.w.linear(LinearId::LmHead), &h[h.len() - d..], 1)
    }
}

/// Fails unless `n >= 1` tokens fit after `pos0` in a cache of `capacity` positions.
pub(crate) fn check_room(pos0: usize, n: usize, capacity: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::InvalidArgument("forward pass over zero tokens".into()));
    }
    if pos0 + n > capacity {
        return Err(Error::InvalidArgument(format!(
            "{n} more tokens after {pos0} exceed the {capacity}-position KV cache"
        )));
    }
    Ok(())
}
