//! The GPU forward pass: every step of a token (or of a prefill chunk of up to
//! [`MAX_CHUNK`] tokens) is recorded into one command encoder and one compute pass, with bind
//! groups made once and the per-pass values (position, token count, tokens) written with
//! `queue.write_buffer`. No buffer or bind group is created per token.
//!
//! Linear layers are delegated to a [`WeightSource`]: the model says which layer and which
//! activation buffers, the source records `y = W x` however it keeps the weights. The default
//! source, [`ResidentWeights`], keeps every matrix resident in its stored format and runs the
//! GEMV kernel; decode strategies (fused decode, decode once, LRU, double-buffered) plug in here.

use std::collections::HashMap;
use std::sync::Arc;

use super::cpu::check_room;
use super::{LinearId, LlamaConfig, LlamaWeights, Proj};
use crate::cpu::AttentionShape;
use crate::gpu::{Capabilities, GpuContext, KernelPath};
use crate::kernels::add::{Add, AddPlan};
use crate::kernels::argmax::{Argmax, ArgmaxPlan};
use crate::kernels::attention::{Attention, AttentionPlan};
use crate::kernels::embed::{Embed, EmbedPlan};
use crate::kernels::gemv::{Gemv, GemvKey, GemvPlan, MAX_BATCH, Vectors};
use crate::kernels::rmsnorm::{RmsNorm, RmsNormPlan, RmsNormShape};
use crate::kernels::rope::{Rope, RopeBuffers, RopePlan, RopeShape};
use crate::kernels::swiglu::{SwiGlu, SwiGluPlan};
use crate::kernels::{GpuMatrix, Step, StepUniform};
use crate::{Error, Result};

/// Most tokens one forward pass processes; longer prompts are split into chunks of this size.
pub const MAX_CHUNK: usize = MAX_BATCH as usize;

/// Where a linear layer reads its inputs and writes its outputs: `batch` vectors in each buffer.
/// For a given layer and batch the model always passes the same buffers, so a source may
/// prepare bind groups once and reuse them.
#[derive(Clone, Copy, Debug)]
pub struct LinearIo<'a> {
    /// Vectors in this pass (1 for decode, up to [`MAX_CHUNK`] in prefill).
    pub batch: u32,
    /// Inputs: `batch` vectors of `cols` floats, `x.stride` apart.
    pub x: Vectors<'a>,
    /// Outputs: `batch` vectors of `rows` floats, `y.stride` apart.
    pub y: Vectors<'a>,
}

/// Provides the linear layers of the GPU forward pass.
///
/// The model calls [`WeightSource::begin_pass`] before each forward pass's compute pass opens
/// (the place for copies, uploads and queue writes), then [`WeightSource::encode_linear`] for
/// every linear layer in forward order ([`LinearId::all`]) while the pass records.
pub trait WeightSource {
    /// Prepares a forward pass (default: nothing).
    fn begin_pass(&mut self, _encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        Ok(())
    }

    /// Records `y = W x` for layer `id` into `pass`.
    fn encode_linear(&mut self, pass: &mut wgpu::ComputePass<'_>, id: LinearId, io: &LinearIo<'_>) -> Result<()>;

    /// A short name for reports (`resident q4g32`, ...).
    fn describe(&self) -> String;

    /// GPU memory held for the weights, in bytes.
    fn gpu_bytes(&self) -> u64;
}

/// Every linear layer resident on the GPU in its stored format, multiplied by the GEMV kernel.
#[derive(Debug)]
pub struct ResidentWeights {
    gemv: Gemv,
    caps: Capabilities,
    matrices: HashMap<LinearId, Arc<GpuMatrix>>,
    path: Option<KernelPath>,
    plans: HashMap<(LinearId, u32), (GemvPlan, wgpu::Buffer, wgpu::Buffer)>,
}

impl ResidentWeights {
    /// Uploads every linear layer of `w`. The output projection of a tied model is `embedding`
    /// (the table the model gathers from), so it is stored once. `path` forces a kernel path
    /// (default: the best the device has).
    pub fn upload(
        ctx: &GpuContext,
        w: &LlamaWeights,
        embedding: Arc<GpuMatrix>,
        path: Option<KernelPath>,
    ) -> Result<Self> {
        let mut matrices = HashMap::new();
        for id in LinearId::all(w.config.n_layers) {
            let m = match (id, &w.lm_head) {
                (LinearId::LmHead, None) => embedding.clone(),
                _ => Arc::new(GpuMatrix::upload(ctx, &id.to_string(), w.linear(id))?),
            };
            matrices.insert(id, m);
        }
        Ok(ResidentWeights { gemv: Gemv::new(ctx), caps: ctx.caps.clone(), matrices, path, plans: HashMap::new() })
    }

    /// GPU memory held by the linear layers, in bytes (a tied output projection counted once).
    pub fn gpu_bytes(&self) -> u64 {
        let mut seen: Vec<*const GpuMatrix> = Vec::new();
        self.matrices
            .values()
            .filter(|m| {
                let p = Arc::as_ptr(m);
                !seen.contains(&p) && {
                    seen.push(p);
                    true
                }
            })
            .map(|m| m.gpu_bytes())
            .sum()
    }
}

impl WeightSource for ResidentWeights {
    fn encode_linear(&mut self, pass: &mut wgpu::ComputePass<'_>, id: LinearId, io: &LinearIo<'_>) -> Result<()> {
        let m = self.matrices.get(&id).ok_or_else(|| Error::InvalidArgument(format!("no weights for {id}")))?;
        let cached = self.plans.get(&(id, io.batch)).is_some_and(|(_, x, y)| x == io.x.buffer && y == io.y.buffer);
        if !cached {
            let key = GemvKey::tuned(m.format, io.batch, m.rows, m.cols, &self.caps, self.path)?;
            let plan = self.gemv.plan(&key, m, io.x, io.y)?;
            self.plans.insert((id, io.batch), (plan, io.x.buffer.clone(), io.y.buffer.clone()));
        }
        self.plans[&(id, io.batch)].0.encode(pass);
        Ok(())
    }

    fn describe(&self) -> String {
        let mut formats: Vec<String> = self.matrices.values().map(|m| m.format.to_string()).collect();
        formats.sort();
        formats.dedup();
        format!("resident {}", formats.join("+"))
    }

    fn gpu_bytes(&self) -> u64 {
        ResidentWeights::gpu_bytes(self)
    }
}

/// How a [`GpuModel`] is sized.
#[derive(Clone, Debug)]
pub struct GpuModelOptions {
    /// Positions the KV cache holds (at most the model's context length).
    pub max_seq: usize,
}

impl Default for GpuModelOptions {
    fn default() -> Self {
        GpuModelOptions { max_seq: 2048 }
    }
}

/// Activation buffers: `MAX_CHUNK` vectors each, rows packed.
#[derive(Debug)]
struct Activations {
    tokens: wgpu::Buffer,
    h: wgpu::Buffer,
    xn: wgpu::Buffer,
    q: wgpu::Buffer,
    k: wgpu::Buffer,
    v: wgpu::Buffer,
    att: wgpu::Buffer,
    proj: wgpu::Buffer,
    gate: wgpu::Buffer,
    up: wgpu::Buffer,
    act: wgpu::Buffer,
    last: wgpu::Buffer,
    logits: wgpu::Buffer,
    next: wgpu::Buffer,
}

#[derive(Debug)]
struct LayerPlans {
    attn_norm: RmsNormPlan,
    rope: RopePlan,
    attention: AttentionPlan,
    ffn_norm: RmsNormPlan,
    // Kept alive: bound by the plans above.
    _buffers: [wgpu::Buffer; 4],
}

/// A Llama model on the GPU with its KV cache.
pub struct GpuModel<S: WeightSource = ResidentWeights> {
    ctx: GpuContext,
    config: LlamaConfig,
    source: S,
    step: StepUniform,
    act: Activations,
    layers: Vec<LayerPlans>,
    embed: EmbedPlan,
    add: AddPlan,
    swiglu: SwiGluPlan,
    final_norm: RmsNormPlan,
    argmax: ArgmaxPlan,
    staging_logits: wgpu::Buffer,
    staging_token: wgpu::Buffer,
    _kept: Vec<wgpu::Buffer>,
    _embedding: Arc<GpuMatrix>,
    capacity: usize,
    len: usize,
}

impl<S: WeightSource> std::fmt::Debug for GpuModel<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuModel")
            .field("config", &self.config)
            .field("source", &self.source.describe())
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl GpuModel<ResidentWeights> {
    /// Uploads `w` with every linear layer resident in its stored format (the lossless
    /// Q4_1/Q8_0 codes for SmolLM2). `path` forces the GEMV kernel path.
    pub fn resident(
        ctx: &GpuContext,
        w: &LlamaWeights,
        path: Option<KernelPath>,
        opts: &GpuModelOptions,
    ) -> Result<Self> {
        let embedding = Arc::new(GpuMatrix::upload(ctx, "token_embd", &w.embedding)?);
        let source = ResidentWeights::upload(ctx, w, embedding.clone(), path)?;
        GpuModel::new(ctx, w, embedding, source, opts)
    }
}

impl<S: WeightSource> GpuModel<S> {
    /// Builds the model around `source`, with `embedding` (the uploaded
    /// [`LlamaWeights::embedding`]) as the lookup table. Uploads the norms, allocates the
    /// activations and the KV cache, and makes every bind group of the non-linear kernels.
    pub fn new(
        ctx: &GpuContext,
        w: &LlamaWeights,
        embedding: Arc<GpuMatrix>,
        source: S,
        opts: &GpuModelOptions,
    ) -> Result<Self> {
        let c = w.config.clone();
        if opts.max_seq == 0 || opts.max_seq > c.context_length {
            return Err(Error::InvalidArgument(format!(
                "max_seq {}: the model takes 1..={} positions",
                opts.max_seq, c.context_length
            )));
        }
        if (embedding.rows, embedding.cols) != (c.vocab_size, c.d_model) {
            return Err(Error::InvalidArgument(format!(
                "embedding table is {}x{}, the model needs {}x{}",
                embedding.rows, embedding.cols, c.vocab_size, c.d_model
            )));
        }
        for (name, v) in [("d_model", c.d_model), ("q_dim", c.q_dim()), ("kv_dim", c.kv_dim()), ("d_ffn", c.d_ffn)] {
            if v % 4 != 0 {
                return Err(Error::Unsupported(format!("{name} = {v}: the GPU path needs multiples of 4")));
            }
        }
        let (d, qd, kvd, ffn, b) = (c.d_model, c.q_dim(), c.kv_dim(), c.d_ffn, MAX_CHUNK);
        let buf = |label: &str, floats: usize| ctx.storage_buffer_empty(label, floats as u64 * 4);
        let act = Activations {
            tokens: buf("ecq tokens", b),
            h: buf("ecq h", b * d),
            xn: buf("ecq xn", b * d),
            q: buf("ecq q", b * qd),
            k: buf("ecq k", b * kvd),
            v: buf("ecq v", b * kvd),
            att: buf("ecq att", b * qd),
            proj: buf("ecq proj", b * d),
            gate: buf("ecq gate", b * ffn),
            up: buf("ecq up", b * ffn),
            act: buf("ecq act", b * ffn),
            last: buf("ecq last", d),
            logits: buf("ecq logits", c.vocab_size),
            next: buf("ecq next", 1),
        };
        let step = StepUniform::new(ctx);
        let (rms, rope, attn) = (RmsNorm::new(ctx), Rope::new(ctx), Attention::new(ctx));
        let table = rope.table(c.rope_theta, c.head_dim, opts.max_seq);
        let upload = |label: &str, v: &[f32]| ctx.storage_buffer(label, bytemuck::cast_slice(v));
        let norm = |last_only| RmsNormShape { dim: d, eps: c.rms_eps, last_only };
        let rshape = RopeShape { n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: c.head_dim };
        let ashape = AttentionShape { n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: c.head_dim };
        let layers = w
            .layers
            .iter()
            .enumerate()
            .map(|(l, lw)| {
                let attn_w = upload(&format!("blk.{l}.attn_norm"), &lw.attn_norm);
                let ffn_w = upload(&format!("blk.{l}.ffn_norm"), &lw.ffn_norm);
                let kc = buf(&format!("blk.{l} k cache"), opts.max_seq * kvd);
                let vc = buf(&format!("blk.{l} v cache"), opts.max_seq * kvd);
                let rb = RopeBuffers { table: &table, q: &act.q, k: &act.k, v: &act.v, k_cache: &kc, v_cache: &vc };
                Ok(LayerPlans {
                    attn_norm: rms.plan(&step, &act.h, &attn_w, &act.xn, norm(false))?,
                    rope: rope.plan(&step, rshape, rb)?,
                    attention: attn.plan(&step, ashape, &act.q, &kc, &vc, &act.att)?,
                    ffn_norm: rms.plan(&step, &act.h, &ffn_w, &act.xn, norm(false))?,
                    _buffers: [attn_w, ffn_w, kc, vc],
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let out_w = upload("output_norm", &w.output_norm);
        let final_norm = rms.plan(&step, &act.h, &out_w, &act.last, norm(true))?;
        let embed = Embed::new(ctx).plan(&act.tokens, &embedding, &act.h)?;
        let add = Add::new(ctx).plan(&act.proj, &act.h, d)?;
        let swiglu = SwiGlu::new(ctx).plan(&act.gate, &act.up, &act.act, ffn)?;
        let argmax = Argmax::new(ctx).plan(&act.logits, &act.next, c.vocab_size)?;
        let staging = |label: &str, size: u64| {
            ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        Ok(GpuModel {
            ctx: ctx.clone(),
            staging_logits: staging("ecq logits readback", c.vocab_size as u64 * 4),
            staging_token: staging("ecq token readback", 4),
            config: c,
            source,
            step,
            act,
            layers,
            embed,
            add,
            swiglu,
            final_norm,
            argmax,
            _kept: vec![table, out_w],
            _embedding: embedding,
            capacity: opts.max_seq,
            len: 0,
        })
    }

    /// The weight source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The device.
    pub fn ctx(&self) -> &GpuContext {
        &self.ctx
    }

    /// Records one forward pass over `n` tokens (already written) into `enc`; `head` adds the
    /// final norm, the output projection and the argmax of the last token.
    fn encode(&mut self, enc: &mut wgpu::CommandEncoder, n: u32, head: bool) -> Result<()> {
        self.source.begin_pass(enc)?;
        let c = &self.config;
        let a = &self.act;
        let (d, qd, kvd, ffn) = (c.d_model as u32, c.q_dim() as u32, c.kv_dim() as u32, c.d_ffn as u32);
        let v = |buffer, stride| Vectors { buffer, stride };
        let io = |x, xs, y, ys| LinearIo { batch: n, x: v(x, xs), y: v(y, ys) };
        let mut pass =
            enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("ecq forward"), ..Default::default() });
        self.embed.encode(&mut pass, n);
        for (layer, lp) in self.layers.iter().enumerate() {
            let id = |proj| LinearId::Block { layer, proj };
            lp.attn_norm.encode(&mut pass, n);
            self.source.encode_linear(&mut pass, id(Proj::Q), &io(&a.xn, d, &a.q, qd))?;
            self.source.encode_linear(&mut pass, id(Proj::K), &io(&a.xn, d, &a.k, kvd))?;
            self.source.encode_linear(&mut pass, id(Proj::V), &io(&a.xn, d, &a.v, kvd))?;
            lp.rope.encode(&mut pass, n);
            lp.attention.encode(&mut pass, n);
            self.source.encode_linear(&mut pass, id(Proj::O), &io(&a.att, qd, &a.proj, d))?;
            self.add.encode(&mut pass, n);
            lp.ffn_norm.encode(&mut pass, n);
            self.source.encode_linear(&mut pass, id(Proj::Gate), &io(&a.xn, d, &a.gate, ffn))?;
            self.source.encode_linear(&mut pass, id(Proj::Up), &io(&a.xn, d, &a.up, ffn))?;
            self.swiglu.encode(&mut pass, n);
            self.source.encode_linear(&mut pass, id(Proj::Down), &io(&a.act, ffn, &a.proj, d))?;
            self.add.encode(&mut pass, n);
        }
        if head {
            self.final_norm.encode(&mut pass, n);
            let lm = LinearIo { batch: 1, x: v(&a.last, d), y: v(&a.logits, c.vocab_size as u32) };
            self.source.encode_linear(&mut pass, LinearId::LmHead, &lm)?;
            self.argmax.encode(&mut pass, 1);
        }
        Ok(())
    }

    /// Compiles every pipeline and makes every bind group a pass of `n_tokens` tokens needs, by
    /// recording such a pass and dropping it unsubmitted, so that the first real pass of that
    /// size runs at full speed.
    pub fn prepare(&mut self, n_tokens: usize) -> Result<()> {
        if !(1..=MAX_CHUNK).contains(&n_tokens) {
            return Err(Error::InvalidArgument(format!("a pass holds 1..={MAX_CHUNK} tokens, not {n_tokens}")));
        }
        let mut enc =
            self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ecq prepare") });
        self.encode(&mut enc, n_tokens as u32, true)?;
        drop(enc);
        self.ctx.check_errors()
    }

    /// Runs `tokens` at the next positions and returns the logits after the last one.
    pub async fn forward_async(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        Ok(bytemuck::pod_collect_to_vec(&self.run(tokens, true).await?))
    }

    /// Runs `tokens` and returns the most likely next token, computed on the GPU (4 bytes are
    /// read back instead of the logits).
    pub async fn forward_greedy_async(&mut self, tokens: &[u32]) -> Result<u32> {
        let b = self.run(tokens, false).await?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Runs `tokens` in chunks of up to [`MAX_CHUNK`]; the last chunk's commands also copy
    /// either the logits (`want_logits`) or the argmax into a staging buffer, which is read.
    async fn run(&mut self, tokens: &[u32], want_logits: bool) -> Result<Vec<u8>> {
        check_room(self.len, tokens.len(), self.capacity)?;
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= self.config.vocab_size) {
            return Err(Error::InvalidArgument(format!(
                "token {t} is beyond the {}-token vocabulary",
                self.config.vocab_size
            )));
        }
        let chunks: Vec<&[u32]> = tokens.chunks(MAX_CHUNK).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let n = chunk.len() as u32;
            self.step.write(&self.ctx.queue, Step::new(self.len as u32, n));
            self.ctx.queue.write_buffer(&self.act.tokens, 0, bytemuck::cast_slice(chunk));
            let mut enc =
                self.ctx.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("ecq forward") });
            self.encode(&mut enc, n, last)?;
            if last {
                let (src, dst) = if want_logits {
                    (&self.act.logits, &self.staging_logits)
                } else {
                    (&self.act.next, &self.staging_token)
                };
                enc.copy_buffer_to_buffer(src, 0, dst, 0, dst.size());
            }
            self.ctx.queue.submit([enc.finish()]);
            self.len += chunk.len();
        }
        let staging = if want_logits { &self.staging_logits } else { &self.staging_token };
        let bytes = map_read(&self.ctx, staging).await?;
        self.ctx.check_errors()?;
        Ok(bytes)
    }
}

/// Maps a staging buffer whose copy was submitted and returns its bytes.
async fn map_read(ctx: &GpuContext, staging: &wgpu::Buffer) -> Result<Vec<u8>> {
    let (tx, rx) = futures_channel::oneshot::channel();
    staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    // Natively the device must be polled; in the browser the event loop resolves the mapping.
    #[cfg(not(target_arch = "wasm32"))]
    ctx.wait_idle()?;
    #[cfg(target_arch = "wasm32")]
    let _ = ctx;
    rx.await
        .map_err(|_| Error::Gpu("readback was cancelled".into()))?
        .map_err(|e| Error::Gpu(format!("readback failed: {e}")))?;
    let bytes = staging.get_mapped_range(..).map_err(|e| Error::Gpu(format!("readback: {e:?}")))?.to_vec();
    staging.unmap();
    Ok(bytes)
}

/// Blocking forward passes (native; in the browser use [`GpuModel::forward_async`]).
#[cfg(not(target_arch = "wasm32"))]
impl<S: WeightSource> super::Decoder for GpuModel<S> {
    fn config(&self) -> &LlamaConfig {
        &self.config
    }

    fn position(&self) -> usize {
        self.len
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn reset(&mut self) {
        self.len = 0;
    }

    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        pollster::block_on(self.forward_async(tokens))
    }

    fn forward_greedy(&mut self, tokens: &[u32]) -> Result<u32> {
        pollster::block_on(self.forward_greedy_async(tokens))
    }
}
