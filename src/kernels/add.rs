//! The residual add `h += y` — the Rust side of `wgsl/add.wgsl` (reference: [`crate::cpu::add`]).

use super::{Bound, Family, check_floats};
use crate::gpu::GpuContext;
use crate::gpu::pipeline::PipelineKey;
use crate::gpu::shader::Defines;
use crate::{Error, Result};

/// Relative L2 error against the reference: one f32 addition, identical rounding.
pub const REL_ERR_BOUND: f64 = 0.0;

/// One compiled variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddKey {
    /// Invocations per workgroup.
    pub wg_size: u32,
}

impl PipelineKey for AddKey {
    fn shader(&self) -> &'static str {
        "add.wgsl"
    }
    fn defines(&self) -> Defines {
        Defines::new()
    }
    fn constants(&self) -> Vec<(&'static str, f64)> {
        vec![("WG_SIZE", f64::from(self.wg_size))]
    }
    fn label(&self) -> String {
        format!("add wg{}", self.wg_size)
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
pub struct Add {
    fam: Family<AddKey>,
}

/// A prepared dispatch between fixed buffers.
#[derive(Debug)]
pub struct AddPlan {
    bound: Bound,
    key: AddKey,
    width: u32,
    _params: wgpu::Buffer,
}

impl Add {
    /// Creates the family.
    pub fn new(ctx: &GpuContext) -> Self {
        Add { fam: Family::new(ctx, "ecq add", 1, &[true, false]) }
    }

    /// Prepares `h += y` over rows of `width` values, one row per token.
    pub fn plan(&self, y: &wgpu::Buffer, h: &wgpu::Buffer, width: usize) -> Result<AddPlan> {
        if width == 0 {
            return Err(Error::InvalidArgument("add over rows of 0 values".into()));
        }
        check_floats("add y", y, width)?;
        check_floats("add h", h, width)?;
        let key = AddKey { wg_size: 64 };
        let params = self.fam.uniform("ecq add params", &Params { width: width as u32, _pad: [0; 3] });
        let bound = self.fam.bind(&key, &[&params, y, h])?;
        Ok(AddPlan { bound, key, width: width as u32, _params: params })
    }
}

impl AddPlan {
    /// Records the pass's `n_tokens` rows.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, n_tokens: u32) {
        self.bound.dispatch(pass, self.width.div_ceil(self.key.wg_size), n_tokens);
    }
}
