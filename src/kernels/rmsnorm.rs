//! RMSNorm of each token's vector — the Rust side of `wgsl/rmsnorm.wgsl`
//! (reference: [`crate::cpu::rmsnorm`]).

use super::{Bound, Family, StepUniform, check_floats, pow2_wg};
use crate::gpu::pipeline::PipelineKey;
use crate::gpu::shader::Defines;
use crate::gpu::{Capabilities, GpuContext};
use crate::{Error, Result};

/// Relative L2 error against the f64 reference: one f32 sum of squares (tree order) and three
/// f32 products per value.
pub const REL_ERR_BOUND: f64 = 1e-6;

/// One compiled RMSNorm variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RmsNormKey {
    /// Invocations per workgroup (a power of two).
    pub wg_size: u32,
}

impl RmsNormKey {
    /// The default for a device.
    pub fn tuned(caps: &Capabilities) -> Self {
        RmsNormKey { wg_size: pow2_wg(caps, 256) }
    }
}

impl PipelineKey for RmsNormKey {
    fn shader(&self) -> &'static str {
        "rmsnorm.wgsl"
    }
    fn defines(&self) -> Defines {
        Defines::new()
    }
    fn constants(&self) -> Vec<(&'static str, f64)> {
        vec![("WG_SIZE", f64::from(self.wg_size))]
    }
    fn label(&self) -> String {
        format!("rmsnorm wg{}", self.wg_size)
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    dim: u32,
    eps: f32,
    last_only: u32,
    _pad: u32,
}

/// What an RMSNorm plan normalizes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsNormShape {
    /// Values per vector.
    pub dim: usize,
    /// Added to the mean square.
    pub eps: f32,
    /// Normalize only the pass's last token, into vector 0 of the output.
    pub last_only: bool,
}

/// The RMSNorm kernel family on one device.
#[derive(Debug)]
pub struct RmsNorm {
    fam: Family<RmsNormKey>,
}

/// A prepared RMSNorm between fixed buffers.
#[derive(Debug)]
pub struct RmsNormPlan {
    bound: Bound,
    last_only: bool,
    _params: wgpu::Buffer,
}

impl RmsNorm {
    /// Creates the family.
    pub fn new(ctx: &GpuContext) -> Self {
        RmsNorm { fam: Family::new(ctx, "ecq rmsnorm", 2, &[true, true, false]) }
    }

    /// Prepares `y[t] = rmsnorm(x[t]) * w` over vectors of `shape.dim` floats.
    pub fn plan(
        &self,
        step: &StepUniform,
        x: &wgpu::Buffer,
        w: &wgpu::Buffer,
        y: &wgpu::Buffer,
        shape: RmsNormShape,
    ) -> Result<RmsNormPlan> {
        let RmsNormShape { dim, eps, last_only } = shape;
        if dim == 0 || !eps.is_finite() || eps < 0.0 {
            return Err(Error::InvalidArgument(format!("rmsnorm over {dim} values with epsilon {eps}")));
        }
        check_floats("rmsnorm x", x, dim)?;
        check_floats("rmsnorm w", w, dim)?;
        check_floats("rmsnorm y", y, dim)?;
        let key = RmsNormKey::tuned(&self.fam.ctx().caps);
        let params = self
            .fam
            .uniform("ecq rmsnorm params", &Params { dim: dim as u32, eps, last_only: u32::from(last_only), _pad: 0 });
        let bound = self.fam.bind(&key, &[&params, &step.buffer, x, w, y])?;
        Ok(RmsNormPlan { bound, last_only, _params: params })
    }
}

impl RmsNormPlan {
    /// Records the normalization of the pass's `n_tokens` vectors (or of its last one).
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, n_tokens: u32) {
        self.bound.dispatch(pass, if self.last_only { 1 } else { n_tokens }, 1);
    }
}
