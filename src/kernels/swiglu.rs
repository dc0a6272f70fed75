//! The SwiGLU gate `silu(gate) * up` — the Rust side of `wgsl/swiglu.wgsl`
//! (reference: [`crate::cpu::swiglu`]).

use super::{Bound, Family, check_floats};
use crate::gpu::GpuContext;
use crate::gpu::pipeline::PipelineKey;
use crate::gpu::shader::Defines;
use crate::{Error, Result};

/// Relative L2 error against the reference: `exp` and one division in f32 (a few ulp).
pub const REL_ERR_BOUND: f64 = 1e-6;

/// One compiled variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SwiGluKey {
    /// Invocations per workgroup.
    pub wg_size: u32,
}

impl PipelineKey for SwiGluKey {
    fn shader(&self) -> &'static str {
        "swiglu.wgsl"
    }
    fn defines(&self) -> Defines {
        Defines::new()
    }
    fn constants(&self) -> Vec<(&'static str, f64)> {
        vec![("WG_SIZE", f64::from(self.wg_size))]
    }
    fn label(&self) -> String {
        format!("swiglu wg{}", self.wg_size)
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    _pad: [u32; 3],
}

/// The kernel family on one device.
#[derive(Debug)]
pub struct SwiGlu {
    fam: Family<SwiGluKey>,
}

/// A prepared dispatch between fixed buffers.
#[derive(Debug)]
pub struct SwiGluPlan {
    bound: Bound,
    key: SwiGluKey,
    width: u32,
    _params: wgpu::Buffer,
}

impl SwiGlu {
    /// Creates the family.
    pub fn new(ctx: &GpuContext) -> Self {
        SwiGlu { fam: Family::new(ctx, "ecq swiglu", 1, &[true, true, false]) }
    }

    /// Prepares `out = silu(gate) * up` over rows of `width` values, one row per token.
    pub fn plan(&self, gate: &wgpu::Buffer, up: &wgpu::Buffer, out: &wgpu::Buffer, width: usize) -> Result<SwiGluPlan> {
        if width == 0 {
            return Err(Error::InvalidArgument("swiglu over rows of 0 values".into()));
        }
        check_floats("swiglu gate", gate, width)?;
        check_floats("swiglu up", up, width)?;
        check_floats("swiglu out", out, width)?;
        let key = SwiGluKey { wg_size: 64 };
        let params = self.fam.uniform("ecq swiglu params", &Params { width: width as u32, _pad: [0; 3] });
        let bound = self.fam.bind(&key, &[&params, gate, up, out])?;
        Ok(SwiGluPlan { bound, key, width: width as u32, _params: params })
    }
}

impl SwiGluPlan {
    /// Records the pass's `n_tokens` rows.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, n_tokens: u32) {
        self.bound.dispatch(pass, self.width.div_ceil(self.key.wg_size), n_tokens);
    }
}
