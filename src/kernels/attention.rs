//! Causal grouped-query attention over the KV cache — the Rust side of `wgsl/attention.wgsl`
//! (reference: [`crate::cpu::attention`]).

use super::{Bound, Family, StepUniform, check_floats};
use crate::cpu::AttentionShape;
use crate::gpu::pipeline::PipelineKey;
use crate::gpu::shader::Defines;
use crate::gpu::{Capabilities, GpuContext};
use crate::{Error, Result};

/// Relative L2 error against the f64 reference: f32 dot products of `head_dim` terms, f32
/// `exp`, and an online softmax whose rescaling adds a few roundings per tile.
pub const REL_ERR_BOUND: f64 = 2e-5;

/// One compiled attention variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttentionKey {
    /// Values per head (a multiple of 4).
    pub head_dim: u32,
    /// Invocations per workgroup, also the positions per tile (at least `head_dim`).
    pub wg_size: u32,
}

impl AttentionKey {
    /// The default for heads of `head_dim` on a device.
    pub fn tuned(head_dim: usize, caps: &Capabilities) -> Result<Self> {
        let limit = caps.max_invocations_per_workgroup.min(256);
        if head_dim == 0 || head_dim % 4 != 0 || head_dim as u32 > limit {
            return Err(Error::Unsupported(format!(
                "attention with head_dim {head_dim} (a multiple of 4 up to {limit} on this device)"
            )));
        }
        Ok(AttentionKey { head_dim: head_dim as u32, wg_size: (head_dim as u32).max(64).min(limit) })
    }
}

impl PipelineKey for AttentionKey {
    fn shader(&self) -> &'static str {
        "attention.wgsl"
    }
    fn defines(&self) -> Defines {
        Defines::new().int("HEAD_DIM", self.head_dim)
    }
    fn constants(&self) -> Vec<(&'static str, f64)> {
        vec![("WG_SIZE", f64::from(self.wg_size))]
    }
    fn label(&self) -> String {
        format!("attention hd{} wg{}", self.head_dim, self.wg_size)
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_heads: u32,
    group: u32,
    q_dim: u32,
    kv_dim: u32,
    scale: f32,
    _pad: [u32; 3],
}

/// The attention kernel family on one device.
#[derive(Debug)]
pub struct Attention {
    fam: Family<AttentionKey>,
}

/// A prepared attention between fixed buffers.
#[derive(Debug)]
pub struct AttentionPlan {
    bound: Bound,
    n_heads: u32,
    _params: wgpu::Buffer,
}

impl Attention {
    /// Creates the family.
    pub fn new(ctx: &GpuContext) -> Self {
        Attention { fam: Family::new(ctx, "ecq attention", 2, &[true, true, true, false]) }
    }

    /// Prepares attention of queries `q` (`[token][n_heads * head_dim]`, already rotated) over
    /// the caches (`[pos][n_kv_heads * head_dim]`), writing `out` like `q`.
    pub fn plan(
        &self,
        step: &StepUniform,
        shape: AttentionShape,
        q: &wgpu::Buffer,
        k_cache: &wgpu::Buffer,
        v_cache: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<AttentionPlan> {
        if shape.n_kv_heads == 0 || shape.n_heads % shape.n_kv_heads != 0 {
            return Err(Error::InvalidArgument(format!("attention shape {shape:?}")));
        }
        let key = AttentionKey::tuned(shape.head_dim, &self.fam.ctx().caps)?;
        let (q_dim, kv_dim) = (shape.n_heads * shape.head_dim, shape.n_kv_heads * shape.head_dim);
        check_floats("attention q", q, q_dim)?;
        check_floats("attention out", out, q_dim)?;
        check_floats("attention k cache", k_cache, kv_dim)?;
        check_floats("attention v cache", v_cache, kv_dim)?;
        let params = self.fam.uniform(
            "ecq attention params",
            &Params {
                n_heads: shape.n_heads as u32,
                group: (shape.n_heads / shape.n_kv_heads) as u32,
                q_dim: q_dim as u32,
                kv_dim: kv_dim as u32,
                scale: 1.0 / (shape.head_dim as f32).sqrt(),
                _pad: [0; 3],
            },
        );
        let bound = self.fam.bind(&key, &[&params, &step.buffer, q, k_cache, v_cache, out])?;
        Ok(AttentionPlan { bound, n_heads: shape.n_heads as u32, _params: params })
    }
}

impl AttentionPlan {
    /// Records attention for the pass's `n_tokens` queries.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, n_tokens: u32) {
        self.bound.dispatch(pass, self.n_heads, n_tokens);
    }
}
