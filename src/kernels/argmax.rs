//! Index of the largest value of each vector — the Rust side of `wgsl/argmax.wgsl`
//! (reference: [`crate::cpu::argmax`]; results must be identical).

use super::{Bound, Family, check_floats, pow2_wg};
use crate::gpu::pipeline::PipelineKey;
use crate::gpu::shader::Defines;
use crate::gpu::{Capabilities, GpuContext};
use crate::{Error, Result};

/// One compiled argmax variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArgmaxKey {
    /// Invocations per workgroup (a power of two).
    pub wg_size: u32,
}

impl ArgmaxKey {
    /// The default for a device.
    pub fn tuned(caps: &Capabilities) -> Self {
        ArgmaxKey { wg_size: pow2_wg(caps, 256) }
    }
}

impl PipelineKey for ArgmaxKey {
    fn shader(&self) -> &'static str {
        "argmax.wgsl"
    }
    fn defines(&self) -> Defines {
        Defines::new()
    }
    fn constants(&self) -> Vec<(&'static str, f64)> {
        vec![("WG_SIZE", f64::from(self.wg_size))]
    }
    fn label(&self) -> String {
        format!("argmax wg{}", self.wg_size)
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    len: u32,
    _pad: [u32; 3],
}

/// The argmax kernel family on one device.
#[derive(Debug)]
pub struct Argmax {
    fam: Family<ArgmaxKey>,
}

/// A prepared argmax between fixed buffers.
#[derive(Debug)]
pub struct ArgmaxPlan {
    bound: Bound,
    _params: wgpu::Buffer,
}

impl Argmax {
    /// Creates the family.
    pub fn new(ctx: &GpuContext) -> Self {
        Argmax { fam: Family::new(ctx, "ecq argmax", 1, &[true, false]) }
    }

    /// Prepares `out[v] = argmax(x[v])` (u32) over vectors of `len` floats.
    pub fn plan(&self, x: &wgpu::Buffer, out: &wgpu::Buffer, len: usize) -> Result<ArgmaxPlan> {
        if len == 0 || len > u32::MAX as usize - 1 {
            return Err(Error::InvalidArgument(format!("argmax over {len} values")));
        }
        check_floats("argmax x", x, len)?;
        check_floats("argmax out", out, 1)?;
        let key = ArgmaxKey::tuned(&self.fam.ctx().caps);
        let params = self.fam.uniform("ecq argmax params", &Params { len: len as u32, _pad: [0; 3] });
        let bound = self.fam.bind(&key, &[&params, x, out])?;
        Ok(ArgmaxPlan { bound, _params: params })
    }
}

impl ArgmaxPlan {
    /// Records the argmax of the first `n_vectors` vectors.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, n_vectors: u32) {
        self.bound.dispatch(pass, n_vectors, 1);
    }
}
