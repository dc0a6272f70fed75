//! Dequantization of affine codes to f32 or f16 — the Rust side of `wgsl/dequant.wgsl`.

use std::sync::Arc;

use super::{GpuMatrix, chunks_per_group_log2, dispatch_dims, uniform_blocks};
use crate::gpu::GpuContext;
use crate::gpu::pipeline::{PipelineCache, PipelineKey, layout_entries, single_group_layout};
use crate::gpu::shader::Defines;
use crate::quant::AffineSpec;
use crate::weights::WeightFormat;
use crate::{Error, Result};

/// One compiled dequant variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DequantKey {
    /// Code format.
    pub spec: AffineSpec,
    /// Write packed f16 pairs instead of f32.
    pub out_f16: bool,
    /// Invocations per workgroup.
    pub wg_size: u32,
}

impl PipelineKey for DequantKey {
    fn shader(&self) -> &'static str {
        "dequant.wgsl"
    }

    fn defines(&self) -> Defines {
        Defines::new().int("BITS", self.spec.bits).flag("OUT_F16", self.out_f16)
    }

    fn constants(&self) -> Vec<(&'static str, f64)> {
        vec![("WG_SIZE", f64::from(self.wg_size))]
    }

    fn label(&self) -> String {
        format!("dequant {} -> {}", self.spec, if self.out_f16 { "f16" } else { "f32" })
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    words_per_row: u32,
    groups_per_row: u32,
    chunks_per_group_log2: u32,
    out_stride: u32,
    _pad: [u32; 2],
}

/// The dequant kernel family on one device.
#[derive(Debug)]
pub struct Dequant {
    ctx: GpuContext,
    layout: wgpu::BindGroupLayout,
    cache: PipelineCache<DequantKey>,
}

/// A prepared dequantization of one matrix into one output buffer.
#[derive(Debug)]
pub struct DequantPlan {
    pipeline: Arc<wgpu::ComputePipeline>,
    dispatches: Vec<(wgpu::BindGroup, (u32, u32))>,
    _params: wgpu::Buffer,
}

impl Dequant {
    /// Creates the kernel family.
    pub fn new(ctx: &GpuContext) -> Self {
        let (layout, pl) = single_group_layout(ctx, "ecq dequant", &layout_entries(true, &[true, true, false]));
        Dequant { ctx: ctx.clone(), layout, cache: PipelineCache::new(pl) }
    }

    /// Output row stride in elements: `cols`, rounded up to even for f16 pairs.
    pub fn out_stride(cols: usize, out_f16: bool) -> usize {
        if out_f16 { cols.div_ceil(2) * 2 } else { cols }
    }

    /// Prepares dequantization of `w` into `out`, row-major with [`Dequant::out_stride`].
    /// Every part of `w` writes to its own rows of `out`, which must hold the whole matrix.
    pub fn plan(&self, w: &GpuMatrix, out_f16: bool, out: &wgpu::Buffer) -> Result<DequantPlan> {
        let WeightFormat::Affine(spec) = w.format else {
            return Err(Error::InvalidArgument(format!("dequant needs affine codes, matrix is {}", w.format)));
        };
        let stride = Self::out_stride(w.cols, out_f16);
        let elem = if out_f16 { 2 } else { 4 };
        let need = (w.rows * stride * elem) as u64;
        if out.size() < need {
            return Err(Error::InvalidArgument(format!("dequant output holds {} bytes, needs {need}", out.size())));
        }
        if need > self.ctx.caps.max_storage_binding && w.parts.len() > 1 {
            // Each part binds a window of the output at its first row.
            log::debug!("dequant output above the binding limit: binding per part");
        }
        let key = DequantKey { spec, out_f16, wg_size: 64 };
        let pipeline = self.cache.get(&self.ctx, &key)?;
        let wpr = w.format.words_per_row(w.cols) as u32;
        let gpr = w.cols.div_ceil(spec.group_size as usize) as u32;
        let blocks: Vec<Params> = w
            .parts
            .iter()
            .map(|p| Params {
                rows: p.rows as u32,
                cols: w.cols as u32,
                words_per_row: wpr,
                groups_per_row: gpr,
                chunks_per_group_log2: chunks_per_group_log2(w.format, 32),
                out_stride: stride as u32,
                _pad: [0; 2],
            })
            .collect();
        let (params, pstride) = uniform_blocks(&self.ctx, "ecq dequant params", &blocks);
        let align = u64::from(self.ctx.device.limits().min_storage_buffer_offset_alignment);
        let mut dispatches = Vec::new();
        for (i, p) in w.parts.iter().enumerate() {
            let offset = (p.row0 * stride * elem) as u64;
            if offset % align != 0 {
                return Err(Error::Unsupported(format!(
                    "dequant of a split matrix whose part offset {offset} is not {align}-byte aligned"
                )));
            }
            let size = (p.rows * stride * elem) as u64;
            let bg = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("ecq dequant"),
                layout: &self.layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: &params,
                            offset: i as u64 * pstride,
                            size: wgpu::BufferSize::new(std::mem::size_of::<Params>() as u64),
                        }),
                    },
                    wgpu::BindGroupEntry { binding: 1, resource: p.weights.as_entire_binding() },
                    wgpu::BindGroupEntry { binding: 2, resource: p.scale_bias.as_entire_binding() },
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: out,
                            offset,
                            size: wgpu::BufferSize::new(size.div_ceil(4) * 4),
                        }),
                    },
                ],
            });
            let chunks = (p.rows * wpr as usize / spec.bits as usize) as u32;
            dispatches
                .push((bg, dispatch_dims(chunks.div_ceil(key.wg_size), self.ctx.caps.max_workgroups_per_dimension)));
        }
        Ok(DequantPlan { pipeline, dispatches, _params: params })
    }
}

impl DequantPlan {
    /// Records the dispatches into `pass`.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        for (bg, (nx, ny)) in &self.dispatches {
            pass.set_bind_group(0, bg, &[]);
            pass.dispatch_workgroups(*nx, *ny, 1);
        }
    }
}

/// Dequantizes `w` on the GPU and reads the result back as f32 (f16 output is widened).
pub async fn run_once(ctx: &GpuContext, dq: &Dequant, w: &GpuMatrix, out_f16: bool) -> Result<Vec<f32>> {
    let stride = Dequant::out_stride(w.cols, out_f16);
    let bytes = w.rows * stride * if out_f16 { 2 } else { 4 };
    let out = ctx.storage_buffer("ecq dequant out", &vec![0xFFu8; bytes.div_ceil(4) * 4]);
    let plan = dq.plan(w, out_f16, &out)?;
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        plan.encode(&mut pass);
    }
    ctx.queue.submit([enc.finish()]);
    let raw = ctx.read_bytes(&out, 0, out.size()).await?;
    let mut v = Vec::with_capacity(w.rows * w.cols);
    for r in 0..w.rows {
        for c in 0..w.cols {
            let i = r * stride + c;
            v.push(if out_f16 {
                half::f16::from_le_bytes([raw[2 * i], raw[2 * i + 1]]).to_f32()
            } else {
                f32::from_le_bytes([raw[4 * i], raw[4 * i + 1], raw[4 * i + 2], raw[4 * i + 3]])
            });
        }
    }
    Ok(v)
}
