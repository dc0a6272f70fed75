//! GEMV and small-batch GEMM (`y = W x` for 1..8 vectors) over every weight format —
//! the Rust side of `wgsl/gemv.wgsl`.

use std::sync::Arc;

use super::{GpuMatrix, chunks_per_group_log2, dispatch_dims, uniform_blocks};
use crate::gpu::pipeline::{PipelineCache, PipelineKey, layout_entries, single_group_layout};
use crate::gpu::shader::Defines;
use crate::gpu::{Capabilities, GpuContext, KernelPath};
use crate::weights::WeightFormat;
use crate::{Error, Result};

/// Most input vectors one dispatch handles.
pub const MAX_BATCH: u32 = 8;

/// Relative L2 error a GEMV variant may show against the f64 CPU reference. The f32 paths differ
/// only in summation order (~1e-6); the f16 path rounds inputs and products to 11 bits and sums a
/// lane's 8 products of a chunk in f16 before f32 (~1e-3).
pub fn rel_err_bound(key: &GemvKey) -> f64 {
    if key.path.f16 { 5e-3 } else { 2e-5 }
}

/// One compiled GEMV variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemvKey {
    /// Weight format.
    pub format: WeightFormat,
    /// Input vectors (1..=8).
    pub batch: u32,
    /// Rows each team computes.
    pub rows_per_team: u32,
    /// f16 / subgroup switches (normalized: f16 only where the format has an f16 path).
    pub path: KernelPath,
    /// Invocations per workgroup.
    pub wg_size: u32,
    /// Teams per workgroup.
    pub teams: u32,
}

impl GemvKey {
    /// The tuned default for `format` and `batch` on a device: the one place launch shapes are
    /// decided. `path` defaults to the best the device supports.
    pub fn tuned(format: WeightFormat, batch: u32, caps: &Capabilities, path: Option<KernelPath>) -> Result<Self> {
        if !(1..=MAX_BATCH).contains(&batch) {
            return Err(Error::InvalidArgument(format!("GEMV batch {batch}: supported 1..={MAX_BATCH}")));
        }
        let mut path = path.unwrap_or_else(|| caps.path());
        if path.f16 && !caps.f16 || path.subgroups && !caps.path().subgroups {
            return Err(Error::Unsupported(format!("kernel path {} on {}", path.name(), caps.adapter_name)));
        }
        path.f16 &= has_f16_path(format);
        // Keep codes of all rows of a team in registers: about 32 words per invocation.
        let rpt = (32 / format.chunk_words()).clamp(1, 4);
        let rows_per_team = rpt.min((16 / batch).max(1));
        let wg_size = prev_power_of_two(caps.max_invocations_per_workgroup.min(256)).max(32);
        let team = if path.subgroups { caps.subgroup_min_size.max(1) } else { 32 };
        let teams = (wg_size / team).max(1);
        Ok(GemvKey { format, batch, rows_per_team, path, wg_size, teams })
    }

    /// Rows one workgroup computes.
    pub fn rows_per_workgroup(&self) -> u32 {
        self.teams * self.rows_per_team
    }
}

fn prev_power_of_two(n: u32) -> u32 {
    if n == 0 { 0 } else { 1 << (31 - n.leading_zeros()) }
}

/// Whether `format` has an f16 arithmetic variant. Only dense f16 does: naga cannot bitcast a
/// u32 into two f16, so affine codes use the equally cheap f32 trick on every device.
fn has_f16_path(format: WeightFormat) -> bool {
    format == WeightFormat::F16
}

impl PipelineKey for GemvKey {
    fn shader(&self) -> &'static str {
        "gemv.wgsl"
    }

    fn defines(&self) -> Defines {
        let (format, bits) = match self.format {
            WeightFormat::Affine(s) => (0, s.bits),
            WeightFormat::F16 => (16, 0),
            WeightFormat::F32 => (32, 0),
        };
        Defines::new()
            .int("FORMAT", format)
            .int("BITS", bits)
            .int("CHUNK_WORDS", self.format.chunk_words())
            .int("BATCH", self.batch)
            .int("RPT", self.rows_per_team)
            .int("ACCS", self.rows_per_team * self.batch)
            .int("VEC4_WORDS", self.format.chunk_words() / 4)
            .flag("F16", self.path.f16)
            .flag("SUBGROUPS", self.path.subgroups)
    }

    fn constants(&self) -> Vec<(&'static str, f64)> {
        vec![("WG_SIZE", f64::from(self.wg_size)), ("TEAMS", f64::from(self.teams))]
    }

    fn label(&self) -> String {
        format!(
            "gemv {} b{} rpt{} {} wg{}x{}",
            self.format,
            self.batch,
            self.rows_per_team,
            self.path.name(),
            self.teams,
            self.wg_size / self.teams
        )
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
    x_stride: u32,
    y_stride: u32,
    y_offset: u32,
}

/// The GEMV kernel family on one device.
#[derive(Debug)]
pub struct Gemv {
    ctx: GpuContext,
    layout: wgpu::BindGroupLayout,
    cache: PipelineCache<GemvKey>,
}

/// Where the input and output vectors live: `batch` vectors, `stride` floats apart.
#[derive(Clone, Copy, Debug)]
pub struct Vectors<'a> {
    /// The buffer.
    pub buffer: &'a wgpu::Buffer,
    /// Floats between consecutive vectors.
    pub stride: u32,
}

/// Everything needed to record one GEMV: pipeline, bind groups and workgroup counts.
#[derive(Debug)]
pub struct GemvPlan {
    key: GemvKey,
    pipeline: Arc<wgpu::ComputePipeline>,
    dispatches: Vec<(wgpu::BindGroup, (u32, u32))>,
    _params: wgpu::Buffer,
}

impl Gemv {
    /// Creates the kernel family (pipelines compile on first use).
    pub fn new(ctx: &GpuContext) -> Self {
        let entries = layout_entries(true, &[true, true, true, false]);
        let (layout, pl) = single_group_layout(ctx, "ecq gemv", &entries);
        Gemv { ctx: ctx.clone(), layout, cache: PipelineCache::new(pl) }
    }

    /// The tuned key for this device (see [`GemvKey::tuned`]).
    pub fn key(&self, format: WeightFormat, batch: u32) -> Result<GemvKey> {
        GemvKey::tuned(format, batch, &self.ctx.caps, None)
    }

    /// Compiles (or fetches) the pipeline of `key`.
    pub fn pipeline(&self, key: &GemvKey) -> Result<Arc<wgpu::ComputePipeline>> {
        self.cache.get(&self.ctx, key)
    }

    /// Prepares `y = W x` for `key.batch` vectors. `x.stride` must be a multiple of 4 and at
    /// least `w.cols`; `y.stride` at least `w.rows`.
    pub fn plan(&self, key: &GemvKey, w: &GpuMatrix, x: Vectors<'_>, y: Vectors<'_>) -> Result<GemvPlan> {
        if key.format != w.format {
            return Err(Error::InvalidArgument(format!("GEMV key is for {}, matrix is {}", key.format, w.format)));
        }
        let b = u64::from(key.batch);
        if x.stride % 4 != 0 || (x.stride as usize) < w.cols || x.buffer.size() < b * u64::from(x.stride) * 4 {
            return Err(Error::InvalidArgument(format!(
                "x: {} vectors of stride {} in {} bytes do not hold {} inputs each (stride must be a multiple of 4)",
                key.batch,
                x.stride,
                x.buffer.size(),
                w.cols
            )));
        }
        if (y.stride as usize) < w.rows || y.buffer.size() < b * u64::from(y.stride) * 4 {
            return Err(Error::InvalidArgument(format!(
                "y: {} vectors of stride {} in {} bytes do not hold {} outputs each",
                key.batch,
                y.stride,
                y.buffer.size(),
                w.rows
            )));
        }
        let pipeline = self.pipeline(key)?;
        let wpr = w.format.words_per_row(w.cols) as u32;
        let gpr = match w.format {
            WeightFormat::Affine(s) => w.cols.div_ceil(s.group_size as usize) as u32,
            _ => 0,
        };
        let blocks: Vec<Params> = w
            .parts
            .iter()
            .map(|p| Params {
                rows: p.rows as u32,
                cols: w.cols as u32,
                words_per_row: wpr,
                groups_per_row: gpr,
                chunks_per_group_log2: chunks_per_group_log2(w.format),
                x_stride: x.stride,
                y_stride: y.stride,
                y_offset: p.row0 as u32,
            })
            .collect();
        let (params, stride) = uniform_blocks(&self.ctx, "ecq gemv params", &blocks);
        let dispatches = w
            .parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let bg = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("ecq gemv"),
                    layout: &self.layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &params,
                                offset: i as u64 * stride,
                                size: wgpu::BufferSize::new(std::mem::size_of::<Params>() as u64),
                            }),
                        },
                        wgpu::BindGroupEntry { binding: 1, resource: p.weights.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 2, resource: p.scale_bias.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 3, resource: x.buffer.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 4, resource: y.buffer.as_entire_binding() },
                    ],
                });
                let n = (p.rows as u32).div_ceil(key.rows_per_workgroup());
                (bg, dispatch_dims(n, self.ctx.caps.max_workgroups_per_dimension))
            })
            .collect();
        Ok(GemvPlan { key: *key, pipeline, dispatches, _params: params })
    }
}

impl GemvPlan {
    /// Records the dispatches (one per matrix part) into `pass`.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        for (bg, (nx, ny)) in &self.dispatches {
            pass.set_bind_group(0, bg, &[]);
            pass.dispatch_workgroups(*nx, *ny, 1);
        }
    }

    /// The variant this plan runs.
    pub fn key(&self) -> &GemvKey {
        &self.key
    }
}

/// Runs `y = W x` once on `batch` vectors held back to back in `x` (each `w.cols` long) and
/// reads the result back: a convenience for tests, the demo and the selftest.
pub async fn run_once(ctx: &GpuContext, gemv: &Gemv, key: &GemvKey, w: &GpuMatrix, x: &[f32]) -> Result<Vec<f32>> {
    let (rows, cols, batch) = (w.rows, w.cols, key.batch as usize);
    if x.len() != batch * cols {
        return Err(Error::InvalidArgument(format!("x has {} values, expected {batch} x {cols}", x.len())));
    }
    let x_stride = cols.div_ceil(4) * 4;
    let mut xs = vec![0f32; batch * x_stride];
    for b in 0..batch {
        xs[b * x_stride..b * x_stride + cols].copy_from_slice(&x[b * cols..(b + 1) * cols]);
    }
    let xbuf = ctx.storage_buffer("ecq x", bytemuck::cast_slice(&xs));
    // Poison the output so unwritten rows show up as NaN.
    let ybuf = ctx.storage_buffer("ecq y", bytemuck::cast_slice(&vec![f32::NAN; batch * rows]));
    let plan = gemv.plan(
        key,
        w,
        Vectors { buffer: &xbuf, stride: x_stride as u32 },
        Vectors { buffer: &ybuf, stride: rows as u32 },
    )?;
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        plan.encode(&mut pass);
    }
    ctx.queue.submit([enc.finish()]);
    let y: Vec<f32> = ctx.read_vec(&ybuf).await?;
    Ok(y[..batch * rows].to_vec())
}
