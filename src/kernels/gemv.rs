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

/// The CPU reference of `key` on `batch` vectors: `(y, error scale)`. The dot8 path's reference
/// quantizes the inputs exactly as the kernel does.
pub fn reference(key: &GemvKey, m: &crate::weights::Matrix, x: &[f32], batch: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    if key.path.dot8 {
        crate::cpu::gemv_int8_inputs(m, x, batch, key.format.weights_per_chunk() as usize)
    } else {
        Ok((crate::cpu::gemv(m, x, batch)?, crate::cpu::gemv_error_scale(m, x, batch)?))
    }
}

/// Error a GEMV variant may show against the f64 CPU reference, relative to each output's error
/// scale ([`crate::cpu::gemv_error_scale`]). The f32 paths round each product and partial sum
/// (a few ulp, 2^-24 each, over sums of at most 32 terms before reduction): 1e-5. The f16 path
/// rounds inputs and products to 11 bits and sums a lane's 8 products in f16: 5e-3. The dot8
/// path is compared with a reference that quantizes the inputs the same way.
pub fn error_bound(key: &GemvKey) -> f64 {
    if key.path.f16 {
        5e-3
    } else if key.path.dot8 {
        // The reference quantizes inputs as the kernel does, but the GPU's 127 / max|x| may
        // differ in the last ulp and flip a rounding at a tie: one input step (1/127 of the
        // chunk's largest input) on one product.
        2e-3
    } else {
        1e-5
    }
}

/// One compiled GEMV variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemvKey {
    /// Weight format.
    pub format: WeightFormat,
    /// Input vectors (1..=8).
    pub batch: u32,
    /// Rows per group: each group's partial sums are reduced together (unrolled).
    pub rows_per_wg: u32,
    /// Groups each workgroup computes in turn, reusing the inputs held in registers.
    pub groups_per_wg: u32,
    /// Chunks of 32 weights each invocation takes per slab of a row.
    pub chunks_per_thread: u32,
    /// Keep a slab's inputs in registers across the workgroup's rows.
    pub x_stationary: bool,
    /// f16 / subgroup switches (normalized: f16 only where the format has an f16 path).
    pub path: KernelPath,
    /// Invocations per workgroup.
    pub wg_size: u32,
    /// Smallest subgroup size of the device (subgroup path only; sizes workgroup memory).
    pub sg_min: u32,
}

/// Registers one chunk of one input vector takes when kept (XSTAT): the values as f32 plus
/// their sum, as packed f16, or as packed int8 plus step, sum and offset (dot8).
pub fn x_regs_per_chunk(format: WeightFormat, path: KernelPath) -> u32 {
    let n = format.weights_per_chunk();
    if path.dot8 {
        n / 4 + 3
    } else if path.f16 {
        n / 2
    } else {
        n + 1
    }
}

/// Register budget for kept inputs per invocation.
const X_REG_BUDGET: u32 = 72;

/// Whether `cpt` chunks of `batch` vectors fit the register budget (XSTAT).
pub fn x_fits_registers(format: WeightFormat, path: KernelPath, cpt: u32, batch: u32) -> bool {
    cpt * batch * x_regs_per_chunk(format, path) <= X_REG_BUDGET
}
/// Partial sums per invocation (rows per group x batch) beyond batch 1.
const MAX_ACCS: u32 = 16;

impl GemvKey {
    /// The tuned default for `format`, `batch` and rows of `cols` inputs on a device: the one
    /// place launch shapes are decided. `path` defaults to the fastest the device supports
    /// that keeps the format's accuracy (no int8 inputs for 8-bit codes unless asked for).
    ///
    /// A workgroup spans a whole row (up to 512 invocations, one or more 32-weight chunks
    /// each), so a row's inputs are loaded once into registers and reused for every row of the
    /// workgroup; rows per workgroup trade parallelism against register pressure.
    pub fn tuned(
        format: WeightFormat,
        batch: u32,
        rows: usize,
        cols: usize,
        caps: &Capabilities,
        path: Option<KernelPath>,
    ) -> Result<Self> {
        if !(1..=MAX_BATCH).contains(&batch) {
            return Err(Error::InvalidArgument(format!("GEMV batch {batch}: supported 1..={MAX_BATCH}")));
        }
        let explicit = path.is_some();
        let mut path = path.unwrap_or_else(|| caps.path());
        if path.f16 && !caps.f16 || path.subgroups && !caps.path().subgroups || path.dot8 && !caps.dot8 {
            return Err(Error::Unsupported(format!("kernel path {} on {}", path.name(), caps.adapter_name)));
        }
        path.f16 &= has_f16_path(format);
        path.dot8 &= has_dot8_path(format);
        // By default only 4-bit codes take int8 inputs: their own error (~9% of the output on
        // real weights) dwarfs the ~1% that input rounding adds, while it would triple 8-bit's.
        if !explicit && matches!(format, WeightFormat::Affine(s) if s.bits == 8) {
            path.dot8 = false;
        }
        // Launch shape, from sweeps on an H100 (BENCHMARKS.md): at batch 1, 16 rows per group for
        // 4-bit codes (short rows in bytes, so per-group costs weigh more) and 8 otherwise; up to
        // 512 invocations spanning the row, so that the inputs fit in registers; 2-4 groups per
        // workgroup where rows are many enough to keep 256 workgroups.
        let chunks = (format.words_per_row(cols) as u32 / format.chunk_words()).max(1);
        let b1_rows = if matches!(format, WeightFormat::Affine(s) if s.bits <= 4) { 16 } else { 8 };
        let rows_per_wg = if batch == 1 { b1_rows } else { (MAX_ACCS / batch).clamp(1, 8) };
        let accs = rows_per_wg * batch;
        // Workgroup memory: the fallback reduces WG_SIZE x ACCS floats.
        let storage_cap = if path.subgroups { 1024 } else { caps.workgroup_storage / (4 * accs) };
        let max_wg = caps.max_invocations_per_workgroup.min(512).min(storage_cap).max(32);
        let max_wg = if path.subgroups { max_wg } else { prev_power_of_two(max_wg) };
        let cpt = chunks.div_ceil(max_wg).max(1);
        let granule = if path.subgroups { caps.subgroup_max_size.max(32) } else { 32 };
        let mut wg_size = chunks.div_ceil(cpt).div_ceil(granule) * granule;
        if !path.subgroups {
            wg_size = wg_size.next_power_of_two();
        }
        let wg_size = wg_size.clamp(32, max_wg.max(32));
        // Several row groups per workgroup amortize reading (and quantizing) x, as long as enough
        // workgroups remain to fill the device.
        let groups = (rows as u32).div_ceil(rows_per_wg);
        let groups_per_wg = (groups / 256).clamp(1, 4);
        Ok(GemvKey {
            format,
            batch,
            rows_per_wg,
            groups_per_wg,
            chunks_per_thread: cpt,
            x_stationary: x_fits_registers(format, path, cpt, batch),
            path,
            wg_size,
            sg_min: if path.subgroups { caps.subgroup_min_size.max(1) } else { 1 },
        })
    }

    /// Rows one workgroup computes.
    pub fn rows_per_workgroup(&self) -> u32 {
        self.rows_per_wg * self.groups_per_wg
    }

    /// Checks that the key can run rows of `cols` inputs: kept inputs need the whole row in one
    /// slab (`chunks_per_thread * wg_size` chunks).
    pub fn check(&self, cols: usize) -> Result<()> {
        let chunks = (self.format.words_per_row(cols) as u32).div_ceil(self.format.chunk_words());
        if self.x_stationary && self.chunks_per_thread * self.wg_size < chunks {
            return Err(Error::InvalidArgument(format!(
                "{}: keeping inputs in registers needs {chunks} chunks in one slab, the key covers {}",
                self.label(),
                self.chunks_per_thread * self.wg_size
            )));
        }
        Ok(())
    }
}

fn prev_power_of_two(n: u32) -> u32 {
    if n == 0 { 0 } else { 1 << (31 - n.leading_zeros()) }
}

/// Whether `format` has an integer dot-product variant (4- and 8-bit codes: one byte or nibble
/// per code maps onto `dot4I8Packed` with one mask or xor per word).
fn has_dot8_path(format: WeightFormat) -> bool {
    matches!(format, WeightFormat::Affine(s) if s.bits == 4 || s.bits == 8)
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
            .int("WPC", self.format.weights_per_chunk())
            .int("CHUNK_WORDS", self.format.chunk_words())
            .int("XV", self.format.weights_per_chunk() / 4)
            .int("BATCH", self.batch)
            .int("RB", self.rows_per_wg)
            .int("NG", self.groups_per_wg)
            .int("ACCS", self.rows_per_wg * self.batch)
            .int("CPT", self.chunks_per_thread)
            .int("XREGS", self.chunks_per_thread * self.batch)
            .flag("XSTAT", self.x_stationary)
            .flag("F16", self.path.f16)
            .flag("DOT8", self.path.dot8)
            .flag("SUBGROUPS", self.path.subgroups)
    }

    fn constants(&self) -> Vec<(&'static str, f64)> {
        let mut c = vec![("WG_SIZE", f64::from(self.wg_size))];
        if self.path.subgroups {
            c.push(("SG_MIN", f64::from(self.sg_min)));
        }
        c
    }

    fn label(&self) -> String {
        format!(
            "gemv {} b{} {} rb{}x{} cpt{}{} wg{}",
            self.format,
            self.batch,
            self.path.name(),
            self.rows_per_wg,
            self.groups_per_wg,
            self.chunks_per_thread,
            if self.x_stationary { " xreg" } else { "" },
            self.wg_size,
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

    /// The tuned key for this device and row length (see [`GemvKey::tuned`]).
    pub fn key(&self, format: WeightFormat, batch: u32, rows: usize, cols: usize) -> Result<GemvKey> {
        GemvKey::tuned(format, batch, rows, cols, &self.ctx.caps, None)
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
        key.check(w.cols)?;
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
                chunks_per_group_log2: chunks_per_group_log2(w.format, w.format.weights_per_chunk()),
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
