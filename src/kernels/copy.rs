//! The copy and read-only roofline kernels (`wgsl/copy.wgsl`): benchmarks report every kernel's
//! bandwidth against these, measured on the same device in the same run.

use std::sync::Arc;

use super::uniform_blocks;
use crate::Result;
use crate::gpu::GpuContext;
use crate::gpu::pipeline::{PipelineCache, PipelineKey, layout_entries, single_group_layout};
use crate::gpu::shader::Defines;

/// Which roofline kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CopyKind {
    /// Read a buffer and write it to another (bytes moved = 2x size).
    Copy,
    /// Read a buffer only.
    Read,
}

/// One compiled roofline variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CopyKey {
    /// Copy or read-only.
    pub kind: CopyKind,
    /// Invocations per workgroup.
    pub wg_size: u32,
}

impl PipelineKey for CopyKey {
    fn shader(&self) -> &'static str {
        "copy.wgsl"
    }
    fn defines(&self) -> Defines {
        Defines::new()
    }
    fn constants(&self) -> Vec<(&'static str, f64)> {
        vec![("WG_SIZE", f64::from(self.wg_size))]
    }
    fn label(&self) -> String {
        format!("{:?} wg{}", self.kind, self.wg_size).to_lowercase()
    }
    fn entry_point(&self) -> &'static str {
        match self.kind {
            CopyKind::Copy => "copy",
            CopyKind::Read => "read_sweep",
        }
    }
}

/// The roofline kernels on one device.
#[derive(Debug)]
pub struct Copy {
    ctx: GpuContext,
    layout: wgpu::BindGroupLayout,
    cache: PipelineCache<CopyKey>,
}

/// A prepared copy or read of one buffer.
#[derive(Debug)]
pub struct CopyPlan {
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    workgroups: u32,
    _params: wgpu::Buffer,
}

impl Copy {
    /// Creates the kernels.
    pub fn new(ctx: &GpuContext) -> Self {
        let (layout, pl) = single_group_layout(ctx, "ecq copy", &layout_entries(true, &[true, false]));
        Copy { ctx: ctx.clone(), layout, cache: PipelineCache::new(pl) }
    }

    /// Prepares `kind` over `src` (a multiple of 16 bytes) into `dst` (at least as large for a
    /// copy; any size >= 16 * workgroups * 256 for a read).
    pub fn plan(&self, kind: CopyKind, src: &wgpu::Buffer, dst: &wgpu::Buffer) -> Result<CopyPlan> {
        let key = CopyKey { kind, wg_size: 256 };
        let pipeline = self.cache.get(&self.ctx, &key)?;
        let n = (src.size() / 16) as u32;
        let workgroups = n.div_ceil(key.wg_size * 8).clamp(1, self.ctx.caps.max_workgroups_per_dimension.min(65535));
        let (params, _) = uniform_blocks(&self.ctx, "ecq copy params", &[[n, 0, 0, 0]]);
        let bind_group = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("ecq copy"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: src.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: dst.as_entire_binding() },
            ],
        });
        Ok(CopyPlan { pipeline, bind_group, workgroups, _params: params })
    }
}

impl CopyPlan {
    /// Records the dispatch.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.workgroups, 1, 1);
    }
}
