//! The [`Scheduler`]: owns the coded layers on the GPU and records `y = W x` for any of them
//! under one strategy. It knows layers and buffers; the kernels know the shaders.
//!
//! Everything a strategy does for one layer is recorded into the compute pass it is given
//! (decodes and GEMVs are dispatches; wgpu orders a write by one dispatch before a read by a
//! later one, and a read before a later overwrite, with barriers it inserts itself). Only
//! `prefetch-cpu` needs the queue: its uploads are `queue.write_buffer` calls, which take effect
//! before the next submission.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rayon::prelude::*;

use super::auto;
use super::layer::{CodedTensor, Layer, LayerWeights};
use super::strategy::Strategy;
use crate::gpu::{GpuContext, KernelPath, PipelineKey};
use crate::kernels::gemv::{Gemv, GemvKey, GemvPlan, Vectors};
use crate::kernels::gemv_fused::{FusedKey, FusedPlan, GemvFused, GpuCodedMatrix};
use crate::kernels::rans_decode::{RansDecode, RansDecodePlan, check_status, key_for, status_buffer};
use crate::kernels::{GpuMatrix, MatrixPart};
use crate::model::LinearId;
use crate::model::gpu::{LinearIo, WeightSource};
use crate::{Error, Result};

/// Counters of what the scheduler did since it was made (or [`Scheduler::reset_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Layer uses that found their codes decoded (LRU hits, async prefetch hits).
    pub hits: u64,
    /// Layer uses that had to decode first.
    pub misses: u64,
    /// Decoded layers dropped to stay within the LRU budget.
    pub evictions: u64,
    /// GPU decodes recorded.
    pub gpu_decodes: u64,
    /// Layers decoded on the CPU and uploaded.
    pub uploads: u64,
    /// Fused decode + GEMV dispatches recorded.
    pub fused: u64,
}

/// Options of a [`Scheduler`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SchedOptions {
    /// Force a kernel path (default: the best the device has).
    pub path: Option<KernelPath>,
    /// Staging buffers of `prefetch-cpu` when driven layer by layer (default 3).
    pub ring: Option<usize>,
}

/// How one layer lives on the GPU.
#[derive(Debug)]
enum Held {
    /// Decoded (or stored uncoded) and resident: plain GEMV.
    Resident(GpuMatrix),
    /// The rANS stream and scales resident; codes decoded when used.
    Coded(GpuCodedMatrix),
    /// Only the scales resident (`prefetch-cpu`): codes come from the CPU.
    Staged { scale_bias: wgpu::Buffer },
}

#[derive(Debug)]
struct LayerGpu {
    name: String,
    host: Option<Arc<CodedTensor>>,
    held: Held,
}

/// A buffer of decoded codes and the id its plans are cached under.
#[derive(Debug)]
struct Slot {
    id: u64,
    buffer: wgpu::Buffer,
    holds: Option<usize>,
}

enum Plan {
    Gemv(GemvPlan),
    Fused(FusedPlan),
}

impl Plan {
    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        match self {
            Plan::Gemv(p) => p.encode(pass),
            Plan::Fused(p) => p.encode(pass),
        }
    }
}

/// Owns the layers of a model or layer stack on the GPU under one [`Strategy`] and records
/// their products. Implements [`WeightSource`] so a `GpuModel` can run any strategy (map model
/// layers to scheduler layers with [`Scheduler::map_linear`]).
pub struct Scheduler {
    ctx: GpuContext,
    strategy: Strategy,
    why: String,
    opts: SchedOptions,
    layers: Vec<LayerGpu>,
    gemv: Gemv,
    fused: GemvFused,
    decoder: RansDecode,
    status: wgpu::Buffer,
    /// LRU: resident decoded layers, least recently used first.
    lru: VecDeque<Slot>,
    /// Async: the two ping-pong slots; prefetch-cpu: the staging ring.
    slots: Vec<Slot>,
    next_slot: usize,
    next_id: u64,
    max_decoded: u64,
    plans: HashMap<(usize, u64, u32), (Plan, wgpu::Buffer, wgpu::Buffer)>,
    decodes: HashMap<(usize, u64), RansDecodePlan>,
    ids: HashMap<LinearId, usize>,
    stats: Stats,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("strategy", &self.strategy)
            .field("layers", &self.layers.len())
            .field("gpu_bytes", &self.gpu_bytes())
            .field("stats", &self.stats)
            .finish()
    }
}

/// Buffer ids of resident matrices (0) and of slots (from 1).
const RESIDENT: u64 = 0;

impl Scheduler {
    /// Uploads `layers` for `strategy` (`auto` is resolved first: see [`Scheduler::explain`]).
    /// `decode-once` decodes every coded layer on the GPU here and checks the decoder's status.
    pub fn new(ctx: &GpuContext, layers: Vec<Layer>, strategy: Strategy, opts: SchedOptions) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::InvalidArgument("a scheduler needs at least one layer".into()));
        }
        let (strategy, why) = match strategy {
            Strategy::Auto { budget } => auto::choose(ctx, &layers, budget, opts.path)?,
            s => (s, format!("{s} as asked")),
        };
        let mut s = Scheduler {
            ctx: ctx.clone(),
            strategy,
            why,
            opts,
            layers: Vec::with_capacity(layers.len()),
            gemv: Gemv::new(ctx),
            fused: GemvFused::new(ctx),
            decoder: RansDecode::new(ctx),
            status: status_buffer(ctx),
            lru: VecDeque::new(),
            slots: Vec::new(),
            next_slot: 0,
            next_id: RESIDENT + 1,
            max_decoded: 0,
            plans: HashMap::new(),
            decodes: HashMap::new(),
            ids: HashMap::new(),
            stats: Stats::default(),
        };
        let mut to_decode = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let held = match &l.weights {
                LayerWeights::Plain(m) => Held::Resident(GpuMatrix::upload(ctx, &l.name, m)?),
                LayerWeights::Coded(t) => {
                    s.max_decoded = s.max_decoded.max(t.decoded_bytes());
                    s.check_binding(&l.name, t)?;
                    match strategy {
                        Strategy::PrefetchCpu => {
                            let sb = crate::kernels::pack_scale_bias(&t.scales, &t.biases);
                            Held::Staged {
                                scale_bias: ctx
                                    .storage_buffer(&format!("{} scales", l.name), bytemuck::cast_slice(&sb)),
                            }
                        }
                        _ => {
                            let g = GpuCodedMatrix::upload(ctx, &l.name, t.as_coded())?;
                            // Decoded once: asked for, or codes the decoder cannot rewrite in place.
                            let once = strategy == Strategy::DecodeOnce
                                || !t.gpu_rewritable()
                                || (strategy == Strategy::Fused && !s.fusable(&g));
                            if once {
                                to_decode.push(i);
                            }
                            Held::Coded(g)
                        }
                    }
                }
            };
            s.layers.push(LayerGpu {
                name: l.name.clone(),
                host: match &l.weights {
                    LayerWeights::Coded(t) => Some(t.clone()),
                    LayerWeights::Plain(_) => None,
                },
                held,
            });
        }
        s.decode_resident(&to_decode)?;
        if strategy == Strategy::Async {
            for _ in 0..2 {
                s.add_slot("ecq async slot");
            }
        }
        ctx.check_errors()?;
        Ok(s)
    }

    /// The strategy in use (never `auto`).
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Why this strategy runs (for `auto`: what it measured and compared).
    pub fn explain(&self) -> &str {
        &self.why
    }

    /// Layers held.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether no layer is held (never: a scheduler has at least one).
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// What happened so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Zeroes the counters.
    pub fn reset_stats(&mut self) {
        self.stats = Stats::default();
    }

    /// Makes model layer `id` use scheduler layer `index` (for [`WeightSource`]).
    pub fn map_linear(&mut self, id: LinearId, index: usize) -> Result<()> {
        if index >= self.layers.len() {
            return Err(Error::InvalidArgument(format!("{id}: layer {index} of {}", self.layers.len())));
        }
        self.ids.insert(id, index);
        Ok(())
    }

    /// Maps every model layer whose name (`blk.0.attn_q`, `lm_head`) starts a layer's name.
    pub fn map_by_name(&mut self, ids: impl IntoIterator<Item = LinearId>) -> Result<()> {
        for id in ids {
            let n = id.to_string();
            let i = self
                .layers
                .iter()
                .position(|l| l.name == n || l.name.starts_with(&format!("{n}.")))
                .ok_or_else(|| Error::InvalidArgument(format!("no layer named {n}")))?;
            self.ids.insert(id, i);
        }
        Ok(())
    }

    /// GPU memory this scheduler holds for weights, in bytes: resident matrices, coded streams
    /// and scales, decode slots or staging ring, LRU-resident layers.
    pub fn gpu_bytes(&self) -> u64 {
        let layers: u64 = self
            .layers
            .iter()
            .map(|l| match &l.held {
                Held::Resident(m) => m.gpu_bytes(),
                Held::Coded(c) => c.gpu_bytes(),
                Held::Staged { scale_bias } => scale_bias.size(),
            })
            .sum();
        let slots: u64 = self.slots.iter().chain(&self.lru).map(|s| s.buffer.size()).sum();
        layers + slots + self.status.size()
    }

    /// One line: strategy, layers, bytes held.
    pub fn description(&self) -> String {
        format!(
            "{} ({} layers, {:.1} MiB on the GPU)",
            self.strategy,
            self.layers.len(),
            self.gpu_bytes() as f64 / 1048576.0
        )
    }

    /// Reads the decoders' status: an error naming the bad blocks if any coded stream was corrupt.
    pub async fn check(&self) -> Result<()> {
        check_status(&self.ctx, "scheduler", &self.status).await
    }

    /// Shape of layer `i`.
    pub fn shape(&self, i: usize) -> Result<(usize, usize)> {
        let l = self.layers.get(i).ok_or_else(|| Error::InvalidArgument(format!("no layer {i}")))?;
        Ok(match (&l.held, &l.host) {
            (Held::Resident(m), _) => (m.rows, m.cols),
            (Held::Coded(c), _) => (c.rows, c.cols),
            (_, Some(t)) => (t.rows, t.cols),
            _ => return Err(Error::InvalidArgument(format!("layer {i} has no shape"))),
        })
    }

    fn check_binding(&self, name: &str, t: &CodedTensor) -> Result<()> {
        let limit = self.ctx.caps.max_storage_binding.min(self.ctx.caps.max_buffer_size);
        if t.decoded_bytes() > limit {
            return Err(Error::tensor(
                name,
                format!("{} decoded bytes exceed the {limit}-byte binding limit", t.decoded_bytes()),
            ));
        }
        Ok(())
    }

    fn gemv_key(
        &self,
        m_rows: usize,
        m_cols: usize,
        format: crate::weights::WeightFormat,
        batch: u32,
    ) -> Result<GemvKey> {
        GemvKey::tuned(format, batch, m_rows, m_cols, &self.ctx.caps, self.opts.path)
    }

    fn fusable(&self, g: &GpuCodedMatrix) -> bool {
        self.gemv_key(g.rows, g.cols, g.format(), 1).and_then(|k| FusedKey::for_matrix(&self.ctx.caps, &k, g)).is_ok()
    }

    fn add_slot(&mut self, label: &str) -> usize {
        let buffer = self.ctx.storage_buffer_empty(label, self.max_decoded.max(4));
        self.slots.push(Slot { id: self.next_id, buffer, holds: None });
        self.next_id += 1;
        self.slots.len() - 1
    }

    /// Decodes layers `idx` on the GPU into their own buffers (one submission) and keeps them.
    fn decode_resident(&mut self, idx: &[usize]) -> Result<()> {
        if idx.is_empty() {
            return Ok(());
        }
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        let mut done = Vec::new();
        for &i in idx {
            let (Held::Coded(g), Some(t)) = (&self.layers[i].held, &self.layers[i].host) else {
                continue;
            };
            let layout = t.layout();
            let key = key_for(&self.ctx.caps, &t.stream, &layout);
            let out = self.ctx.storage_buffer_empty(&format!("{} codes", self.layers[i].name), t.decoded_bytes());
            // The any-layout decoder ORs codes in: the buffer starts zeroed (wgpu zero-initializes).
            let plan = self.decoder.plan(&key, &g.stream, &layout, &out, &self.status)?;
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                plan.encode(&mut pass);
            }
            self.stats.gpu_decodes += 1;
            done.push((i, out, plan));
        }
        self.ctx.queue.submit([enc.finish()]);
        pollster::block_on(check_status(&self.ctx, "decode at load", &self.status))?;
        for (i, out, _plan) in done {
            let Held::Coded(g) = &self.layers[i].held else { continue };
            let m = GpuMatrix {
                format: g.format(),
                rows: g.rows,
                cols: g.cols,
                parts: vec![MatrixPart { row0: 0, rows: g.rows, weights: out, scale_bias: g.scale_bias.clone() }],
            };
            self.layers[i].held = Held::Resident(m);
        }
        Ok(())
    }

    /// A GEMV plan of layer `i` reading its codes from `buffer` (`id`), cached.
    fn gemv_from(&mut self, i: usize, id: u64, buffer: Option<&wgpu::Buffer>, io: &LinearIo<'_>) -> Result<&Plan> {
        let k = (i, id, io.batch);
        let cached = self.plans.get(&k).is_some_and(|(_, x, y)| x == io.x.buffer && y == io.y.buffer);
        if !cached {
            let plan = match (&self.layers[i].held, buffer) {
                (Held::Resident(m), None) => {
                    let key = self.gemv_key(m.rows, m.cols, m.format, io.batch)?;
                    Plan::Gemv(self.gemv.plan(&key, m, io.x, io.y)?)
                }
                (Held::Coded(g), None) => {
                    let gk = self.gemv_key(g.rows, g.cols, g.format(), io.batch)?;
                    let fk = FusedKey::for_matrix(&self.ctx.caps, &gk, g)?;
                    Plan::Fused(self.fused.plan(&fk, g, io.x, io.y, &self.status)?)
                }
                (held, Some(buf)) => {
                    let (sb, t) = match (held, &self.layers[i].host) {
                        (Held::Coded(g), Some(t)) => (&g.scale_bias, t),
                        (Held::Staged { scale_bias }, Some(t)) => (scale_bias, t),
                        _ => return Err(Error::InvalidArgument(format!("layer {i} is not coded"))),
                    };
                    let view = GpuMatrix {
                        format: t.format(),
                        rows: t.rows,
                        cols: t.cols,
                        parts: vec![MatrixPart { row0: 0, rows: t.rows, weights: buf.clone(), scale_bias: sb.clone() }],
                    };
                    let key = self.gemv_key(t.rows, t.cols, t.format(), io.batch)?;
                    Plan::Gemv(self.gemv.plan(&key, &view, io.x, io.y)?)
                }
                _ => return Err(Error::InvalidArgument(format!("layer {i}: no codes to multiply"))),
            };
            self.plans.insert(k, (plan, io.x.buffer.clone(), io.y.buffer.clone()));
        }
        Ok(&self.plans[&k].0)
    }

    /// Records the GPU decode of coded layer `i` into `buffer` (`id`).
    fn record_decode(
        &mut self,
        pass: &mut wgpu::ComputePass<'_>,
        i: usize,
        id: u64,
        buffer: &wgpu::Buffer,
    ) -> Result<()> {
        if !self.decodes.contains_key(&(i, id)) {
            let (Held::Coded(g), Some(t)) = (&self.layers[i].held, &self.layers[i].host) else {
                return Err(Error::InvalidArgument(format!("layer {i} has no GPU stream")));
            };
            let layout = t.layout();
            let key = key_for(&self.ctx.caps, &t.stream, &layout);
            if key.fast_bits == 0 {
                return Err(Error::Unsupported(format!(
                    "{}: in-place re-decode needs the whole-word decoder",
                    key.label()
                )));
            }
            let plan = self.decoder.plan(&key, &g.stream, &layout, buffer, &self.status)?;
            self.decodes.insert((i, id), plan);
        }
        self.decodes[&(i, id)].encode(pass);
        self.stats.gpu_decodes += 1;
        Ok(())
    }

    fn forget_buffer(&mut self, id: u64) {
        self.plans.retain(|k, _| k.1 != id);
        self.decodes.retain(|k, _| k.1 != id);
    }

    /// The next coded layer after `i` in index order (wrapping) that decodes into slots.
    fn next_slotted(&self, i: usize) -> Option<usize> {
        let n = self.layers.len();
        (1..=n).map(|d| (i + d) % n).find(|&j| matches!(self.layers[j].held, Held::Coded(_)))
    }

    /// Async, first half: makes sure layer `i` is decoded in a slot (decoding it now on a miss)
    /// and records the decode of the next coded layer into the other slot. Returns `i`'s slot
    /// (`None` for a resident layer, which needs nothing).
    pub(crate) fn async_prepare(&mut self, pass: &mut wgpu::ComputePass<'_>, i: usize) -> Result<Option<usize>> {
        if i >= self.layers.len() {
            return Err(Error::InvalidArgument(format!("no layer {i} (of {})", self.layers.len())));
        }
        if matches!(self.layers[i].held, Held::Resident(_)) {
            return Ok(None);
        }
        let s = match self.slots.iter().position(|s| s.holds == Some(i)) {
            Some(s) => {
                self.stats.hits += 1;
                s
            }
            None => {
                self.stats.misses += 1;
                let s = self.next_slot % 2;
                let (id, buf) = (self.slots[s].id, self.slots[s].buffer.clone());
                self.record_decode(pass, i, id, &buf)?;
                self.slots[s].holds = Some(i);
                s
            }
        };
        let o = 1 - s;
        if let Some(n) = self.next_slotted(i).filter(|&n| n != i && self.slots[o].holds != Some(n)) {
            let (id, buf) = (self.slots[o].id, self.slots[o].buffer.clone());
            self.record_decode(pass, n, id, &buf)?;
            self.slots[o].holds = Some(n);
        }
        self.next_slot = o;
        Ok(Some(s))
    }

    /// Async, second half: the GEMV of layer `i` from slot `s` (`None`: resident).
    pub(crate) fn async_gemv(
        &mut self,
        pass: &mut wgpu::ComputePass<'_>,
        i: usize,
        s: Option<usize>,
        io: &LinearIo<'_>,
    ) -> Result<()> {
        match s {
            Some(s) => {
                let (id, buf) = (self.slots[s].id, self.slots[s].buffer.clone());
                self.gemv_from(i, id, Some(&buf), io)?.encode(pass);
            }
            None => self.gemv_from(i, RESIDENT, None, io)?.encode(pass),
        }
        Ok(())
    }

    fn lru_slot(&mut self, pass: &mut wgpu::ComputePass<'_>, i: usize, budget: u64) -> Result<(u64, wgpu::Buffer)> {
        if let Some(p) = self.lru.iter().position(|s| s.holds == Some(i)) {
            self.stats.hits += 1;
            let s = self.lru.remove(p).expect("position is in range");
            let r = (s.id, s.buffer.clone());
            self.lru.push_back(s);
            return Ok(r);
        }
        self.stats.misses += 1;
        let need = self.layers[i].host.as_ref().map_or(4, |t| t.decoded_bytes());
        let mut held: u64 = self.lru.iter().map(|s| s.buffer.size()).sum();
        let mut freed = Vec::new();
        while held + need > budget {
            let Some(s) = self.lru.pop_front() else { break };
            held -= s.buffer.size();
            self.stats.evictions += 1;
            freed.push(s);
        }
        // Reuse the smallest freed buffer that fits; drop the others (and plans binding them).
        freed.sort_by_key(|s| s.buffer.size());
        let reuse = freed.iter().position(|s| s.buffer.size() >= need);
        let mut slot = match reuse {
            Some(p) => freed.remove(p),
            None => {
                let id = self.next_id;
                self.next_id += 1;
                Slot { id, buffer: self.ctx.storage_buffer_empty("ecq lru slot", need.max(4)), holds: None }
            }
        };
        for s in freed {
            self.forget_buffer(s.id);
        }
        let (id, buf) = (slot.id, slot.buffer.clone());
        self.record_decode(pass, i, id, &buf)?;
        slot.holds = Some(i);
        self.lru.push_back(slot);
        Ok((id, buf))
    }

    /// Prefetch-cpu within one pass: every staged layer of the pass needs its own ring slot.
    /// Decodes them all on CPU threads and queues the uploads (before the next submission).
    pub(crate) fn stage_all(&mut self) -> Result<()> {
        let staged: Vec<usize> =
            (0..self.layers.len()).filter(|&i| matches!(self.layers[i].held, Held::Staged { .. })).collect();
        while self.slots.len() < staged.len() {
            self.add_slot("ecq prefetch ring");
        }
        let words: Vec<Vec<u32>> = staged
            .par_iter()
            .map(|&i| {
                let l = &self.layers[i];
                l.host.as_ref().expect("staged layers are coded").decode_packed_cpu(&l.name)
            })
            .collect::<Result<_>>()?;
        for (k, (&i, w)) in staged.iter().zip(words).enumerate() {
            self.upload(k, i, &w);
        }
        Ok(())
    }

    /// Queues the upload of layer `i`'s decoded words into ring slot `k`.
    pub(crate) fn upload(&mut self, k: usize, i: usize, words: &[u32]) {
        self.ctx.queue.write_buffer(&self.slots[k].buffer, 0, bytemuck::cast_slice(words));
        self.slots[k].holds = Some(i);
        self.stats.uploads += 1;
    }

    /// Makes sure the ring has `n` slots.
    pub(crate) fn ensure_ring(&mut self, n: usize) {
        while self.slots.len() < n {
            self.add_slot("ecq prefetch ring");
        }
    }

    /// Ring size when driven layer by layer.
    pub(crate) fn ring_len(&self) -> usize {
        self.opts.ring.unwrap_or(3).max(2)
    }

    /// Whether layer `i` is staged from the CPU (prefetch-cpu).
    pub(crate) fn is_staged(&self, i: usize) -> bool {
        matches!(self.layers[i].held, Held::Staged { .. })
    }

    /// The host copy of coded layer `i`.
    pub(crate) fn host(&self, i: usize) -> Option<(String, Arc<CodedTensor>)> {
        self.layers[i].host.clone().map(|t| (self.layers[i].name.clone(), t))
    }

    /// The GPU context.
    pub(crate) fn ctx(&self) -> &GpuContext {
        &self.ctx
    }

    /// Records `y = W_i x` into `pass` under the scheduler's strategy. For `prefetch-cpu`, layer
    /// `i` must have been uploaded (see [`Scheduler::prepare`]).
    pub fn encode_layer(&mut self, pass: &mut wgpu::ComputePass<'_>, i: usize, io: &LinearIo<'_>) -> Result<()> {
        if i >= self.layers.len() {
            return Err(Error::InvalidArgument(format!("no layer {i} (of {})", self.layers.len())));
        }
        if matches!(self.layers[i].held, Held::Resident(_)) {
            self.gemv_from(i, RESIDENT, None, io)?.encode(pass);
            return Ok(());
        }
        match self.strategy {
            Strategy::Fused => {
                self.stats.fused += 1;
                self.gemv_from(i, RESIDENT, None, io)?.encode(pass);
            }
            Strategy::Lru { budget_bytes } => {
                let (id, buf) = self.lru_slot(pass, i, budget_bytes)?;
                self.gemv_from(i, id, Some(&buf), io)?.encode(pass);
            }
            Strategy::Async => {
                let s = self.async_prepare(pass, i)?;
                self.async_gemv(pass, i, s, io)?;
            }
            Strategy::PrefetchCpu => {
                let k = self.slots.iter().position(|s| s.holds == Some(i)).ok_or_else(|| {
                    Error::InvalidArgument(format!("prefetch-cpu: layer {i} was not uploaded before its pass"))
                })?;
                let (id, buf) = (self.slots[k].id, self.slots[k].buffer.clone());
                self.gemv_from(i, id, Some(&buf), io)?.encode(pass);
            }
            Strategy::DecodeOnce | Strategy::Auto { .. } => {
                return Err(Error::InvalidArgument(format!("layer {i} is not resident under {}", self.strategy)));
            }
        }
        Ok(())
    }

    /// Before a pass that records every layer once: `prefetch-cpu` decodes them on CPU threads
    /// and queues their uploads (a whole pass needs a ring slot per staged layer). Nothing for
    /// the other strategies.
    pub fn prepare(&mut self) -> Result<()> {
        if self.strategy == Strategy::PrefetchCpu {
            self.stage_all()?;
        }
        Ok(())
    }
}

impl WeightSource for Scheduler {
    fn begin_pass(&mut self, _encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        self.prepare()
    }

    fn encode_linear(&mut self, pass: &mut wgpu::ComputePass<'_>, id: LinearId, io: &LinearIo<'_>) -> Result<()> {
        let i = *self.ids.get(&id).ok_or_else(|| Error::InvalidArgument(format!("no layer mapped to {id}")))?;
        self.encode_layer(pass, i, io)
    }

    fn describe(&self) -> String {
        self.description()
    }

    fn gpu_bytes(&self) -> u64 {
        Scheduler::gpu_bytes(self)
    }
}

/// Input/output vectors for one layer: a convenience for stacks.
pub(crate) fn io<'a>(
    batch: u32,
    x: &'a wgpu::Buffer,
    x_stride: u32,
    y: &'a wgpu::Buffer,
    y_stride: u32,
) -> LinearIo<'a> {
    LinearIo { batch, x: Vectors { buffer: x, stride: x_stride }, y: Vectors { buffer: y, stride: y_stride } }
}
