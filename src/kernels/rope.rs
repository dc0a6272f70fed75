//! RoPE of Q and K and the store of K and V into the KV cache — the Rust side of `wgsl/rope.wgsl`
//! (reference: [`crate::cpu::rope`], then a copy into the cache).

use super::{Bound, Family, StepUniform, check_floats};
use crate::gpu::GpuContext;
use crate::gpu::pipeline::PipelineKey;
use crate::gpu::shader::Defines;
use crate::{Error, Result};

/// Relative L2 error against the reference: the same table, one f32 rotation per pair (a fused
/// multiply-add may round differently in the last bit).
pub const REL_ERR_BOUND: f64 = 1e-6;

/// One compiled RoPE variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RopeKey {
    /// Invocations per workgroup.
    pub wg_size: u32,
}

impl PipelineKey for RopeKey {
    fn shader(&self) -> &'static str {
        "rope.wgsl"
    }
    fn defines(&self) -> Defines {
        Defines::new()
    }
    fn constants(&self) -> Vec<(&'static str, f64)> {
        vec![("WG_SIZE", f64::from(self.wg_size))]
    }
    fn label(&self) -> String {
        format!("rope wg{}", self.wg_size)
    }
}

/// Head layout of Q and K/V.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RopeShape {
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
    /// Values per head (even).
    pub head_dim: usize,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    q_dim: u32,
    kv_dim: u32,
    half_head: u32,
    _pad: u32,
}

/// The RoPE kernel family on one device.
#[derive(Debug)]
pub struct Rope {
    fam: Family<RopeKey>,
}

/// A prepared RoPE + cache store between fixed buffers.
#[derive(Debug)]
pub struct RopePlan {
    bound: Bound,
    key: RopeKey,
    items: u32,
    _params: wgpu::Buffer,
}

/// Buffers a RoPE pass reads and writes.
#[derive(Clone, Copy, Debug)]
pub struct RopeBuffers<'a> {
    /// `[pos][i] = (cos, sin)` from [`crate::cpu::rope_table`] ([`Rope::table`]).
    pub table: &'a wgpu::Buffer,
    /// Queries, `[token][n_heads * head_dim]`, rotated in place.
    pub q: &'a wgpu::Buffer,
    /// Keys of the pass, `[token][kv_dim]`.
    pub k: &'a wgpu::Buffer,
    /// Values of the pass, `[token][kv_dim]`.
    pub v: &'a wgpu::Buffer,
    /// Key cache `[pos][kv_dim]`: rotated keys are stored at their positions.
    pub k_cache: &'a wgpu::Buffer,
    /// Value cache `[pos][kv_dim]`.
    pub v_cache: &'a wgpu::Buffer,
}

impl Rope {
    /// Creates the family.
    pub fn new(ctx: &GpuContext) -> Self {
        Rope { fam: Family::new(ctx, "ecq rope", 2, &[true, false, true, true, false, false]) }
    }

    /// The angle table for `max_pos` positions as a storage buffer.
    pub fn table(&self, theta: f32, head_dim: usize, max_pos: usize) -> wgpu::Buffer {
        let t = crate::cpu::rope_table(theta, head_dim, max_pos);
        self.fam.ctx().storage_buffer("ecq rope table", bytemuck::cast_slice(&t))
    }

    /// Prepares the rotation of Q and K and the cache store for heads of `shape`.
    pub fn plan(&self, step: &StepUniform, shape: RopeShape, b: RopeBuffers<'_>) -> Result<RopePlan> {
        let (q_dim, kv_dim) = (shape.n_heads * shape.head_dim, shape.n_kv_heads * shape.head_dim);
        if shape.head_dim == 0 || shape.head_dim % 2 != 0 || kv_dim == 0 {
            return Err(Error::InvalidArgument(format!("rope over heads of {shape:?}")));
        }
        check_floats("rope q", b.q, q_dim)?;
        check_floats("rope k", b.k, kv_dim)?;
        check_floats("rope v", b.v, kv_dim)?;
        check_floats("rope table", b.table, shape.head_dim)?;
        let key = RopeKey { wg_size: 64 };
        let params = self.fam.uniform(
            "ecq rope params",
            &Params { q_dim: q_dim as u32, kv_dim: kv_dim as u32, half_head: (shape.head_dim / 2) as u32, _pad: 0 },
        );
        let bound = self.fam.bind(&key, &[&params, &step.buffer, b.table, b.q, b.k, b.v, b.k_cache, b.v_cache])?;
        let items = (q_dim / 2 + kv_dim / 2 + kv_dim) as u32;
        Ok(RopePlan { bound, key, items, _params: params })
    }
}

impl RopePlan {
    /// Records the pass's `n_tokens` tokens.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, n_tokens: u32) {
        self.bound.dispatch(pass, self.items.div_ceil(self.key.wg_size), n_tokens);
    }
}
