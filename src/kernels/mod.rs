//! One module per WGSL kernel family. Kernels are created once per device and only *encode*
//! dispatches into a compute pass; callers own submission.

pub mod add;
pub mod argmax;
pub mod attention;
pub mod copy;
pub mod dequant;
pub mod ecsq;
pub mod embed;
pub mod gemv;
pub mod gemv_fused;
pub mod rans_decode;
pub mod rmsnorm;
pub mod rope;
pub mod sparse_add;
pub mod swiglu;

use std::sync::Arc;

use crate::gpu::GpuContext;
use crate::gpu::pipeline::{PipelineCache, PipelineKey, single_group_layout};
use crate::weights::{Matrix, WeightFormat};
use crate::{Error, Result};

/// A weight matrix resident on the GPU, split by rows into parts that each fit one storage
/// binding (`Capabilities::max_storage_binding`).
#[derive(Debug)]
pub struct GpuMatrix {
    /// Runtime format of the stored weights.
    pub format: WeightFormat,
    /// Output features.
    pub rows: usize,
    /// Inputs.
    pub cols: usize,
    /// Row parts, in order.
    pub parts: Vec<MatrixPart>,
}

/// Rows `row0 .. row0 + rows` of a [`GpuMatrix`].
#[derive(Debug)]
pub struct MatrixPart {
    /// First row.
    pub row0: usize,
    /// Number of rows.
    pub rows: usize,
    /// Codes or dense values, [`WeightFormat::words_per_row`] words per row.
    pub weights: wgpu::Buffer,
    /// One u32 per (row, group): f16 scale in the low half, f16 bias in the high half
    /// (a one-word placeholder for dense formats).
    pub scale_bias: wgpu::Buffer,
}

impl GpuMatrix {
    /// Uploads a host matrix, splitting it by rows so every buffer fits one binding.
    pub fn upload(ctx: &GpuContext, name: &str, m: &Matrix) -> Result<Self> {
        let format = m.format();
        let (rows, cols) = (m.rows(), m.cols());
        let wpr = format.words_per_row(cols);
        let gpr = match m {
            Matrix::Affine(q) => q.groups_per_row(),
            _ => 0,
        };
        let limit = ctx.caps.max_storage_binding.min(ctx.caps.max_buffer_size);
        let row_bytes = (wpr * 4).max(gpr * 4) as u64;
        let rows_per_part = (limit / row_bytes.max(1)) as usize;
        if rows_per_part == 0 {
            return Err(Error::tensor(
                name,
                format!("one row needs {row_bytes} bytes, above the device's {limit}-byte binding limit"),
            ));
        }
        let mut parts = Vec::new();
        let mut words = vec![0u32; wpr];
        for row0 in (0..rows).step_by(rows_per_part) {
            let n = rows_per_part.min(rows - row0);
            let mut data = Vec::with_capacity(n * wpr);
            for r in row0..row0 + n {
                m.gpu_row_words(r, &mut words);
                data.extend_from_slice(&words);
            }
            let sb: Vec<u32> = match m {
                Matrix::Affine(q) => {
                    pack_scale_bias(&q.scales[row0 * gpr..(row0 + n) * gpr], &q.biases[row0 * gpr..(row0 + n) * gpr])
                }
                _ => vec![0],
            };
            parts.push(MatrixPart {
                row0,
                rows: n,
                weights: ctx.storage_buffer(&format!("{name} weights"), bytemuck::cast_slice(&data)),
                scale_bias: ctx.storage_buffer(&format!("{name} scales"), bytemuck::cast_slice(&sb)),
            });
        }
        Ok(GpuMatrix { format, rows, cols, parts })
    }

    /// GPU memory held by this matrix, in bytes.
    pub fn gpu_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.weights.size() + p.scale_bias.size()).sum()
    }
}

/// Scales and biases as the kernels read them: one u32 per group, the f16 scale in the low half
/// and the f16 bias in the high half.
pub fn pack_scale_bias(scales: &[half::f16], biases: &[half::f16]) -> Vec<u32> {
    scales.iter().zip(biases).map(|(s, b)| u32::from(s.to_bits()) | u32::from(b.to_bits()) << 16).collect()
}

/// A bind group entry for a whole buffer.
pub(crate) fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry { binding, resource: buffer.as_entire_binding() }
}

/// Workgroup counts for `n` workgroups, split over x and y when `n` exceeds the per-dimension
/// limit (shaders flatten them with `flat_workgroup`; extra workgroups find no work).
pub fn dispatch_dims(n: u32, max_per_dim: u32) -> (u32, u32) {
    let max = max_per_dim.max(1);
    if n <= max { (n.max(1), 1) } else { (max, n.div_ceil(max)) }
}

/// `log2(group_size / chunk)`, the shift from the index of a `chunk`-weight piece of a row to
/// its group index (0 for dense formats).
pub(crate) fn chunks_per_group_log2(format: WeightFormat, chunk: u32) -> u32 {
    match format {
        WeightFormat::Affine(s) => (s.group_size / chunk).trailing_zeros(),
        _ => 0,
    }
}

/// Builds a uniform buffer holding one parameter block per part, each at an offset aligned to
/// the device's uniform offset alignment, and returns it with the stride.
pub(crate) fn uniform_blocks<T: bytemuck::Pod>(ctx: &GpuContext, label: &str, blocks: &[T]) -> (wgpu::Buffer, u64) {
    use wgpu::util::DeviceExt;
    let align = u64::from(ctx.device.limits().min_uniform_buffer_offset_alignment);
    let size = std::mem::size_of::<T>() as u64;
    let stride = size.div_ceil(align) * align;
    let mut bytes = vec![0u8; (stride * blocks.len() as u64).max(stride) as usize];
    for (i, b) in blocks.iter().enumerate() {
        let o = i * stride as usize;
        bytes[o..o + size as usize].copy_from_slice(bytemuck::bytes_of(b));
    }
    let buf = ctx.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: &bytes,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    });
    (buf, stride)
}

/// A kernel family whose variants share one bind group layout: uniform buffers at bindings
/// `0..uniforms`, then storage buffers. The transformer kernels are built on it.
#[derive(Debug)]
pub(crate) struct Family<K: PipelineKey> {
    ctx: GpuContext,
    layout: wgpu::BindGroupLayout,
    cache: PipelineCache<K>,
}

impl<K: PipelineKey> Family<K> {
    /// A family with `uniforms` uniform bindings followed by storage bindings (`read_only[i]`).
    pub(crate) fn new(ctx: &GpuContext, label: &str, uniforms: u32, read_only: &[bool]) -> Self {
        let mut entries = Vec::new();
        let ty = |uniform: bool, ro: bool| wgpu::BindingType::Buffer {
            ty: if uniform {
                wgpu::BufferBindingType::Uniform
            } else {
                wgpu::BufferBindingType::Storage { read_only: ro }
            },
            has_dynamic_offset: false,
            min_binding_size: None,
        };
        for b in 0..uniforms {
            entries.push((b, ty(true, true)));
        }
        for (i, &ro) in read_only.iter().enumerate() {
            entries.push((uniforms + i as u32, ty(false, ro)));
        }
        let entries: Vec<wgpu::BindGroupLayoutEntry> = entries
            .into_iter()
            .map(|(binding, ty)| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty,
                count: None,
            })
            .collect();
        let (layout, pl) = single_group_layout(ctx, label, &entries);
        Family { ctx: ctx.clone(), layout, cache: PipelineCache::new(pl) }
    }

    /// The device.
    pub(crate) fn ctx(&self) -> &GpuContext {
        &self.ctx
    }

    /// The pipeline of `key` and a bind group of `buffers` in binding order.
    pub(crate) fn bind(&self, key: &K, buffers: &[&wgpu::Buffer]) -> Result<Bound> {
        let pipeline = self.cache.get(&self.ctx, key)?;
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        let label = key.label();
        let bind_group = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&label),
            layout: &self.layout,
            entries: &entries,
        });
        Ok(Bound { pipeline, bind_group })
    }

    /// A uniform buffer holding `value`, written once.
    pub(crate) fn uniform<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        uniform_blocks(&self.ctx, label, std::slice::from_ref(value)).0
    }
}

/// A pipeline with its bind group: one recorded dispatch.
#[derive(Debug)]
pub(crate) struct Bound {
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
}

impl Bound {
    pub(crate) fn dispatch(&self, pass: &mut wgpu::ComputePass<'_>, x: u32, y: u32) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(x.max(1), y.max(1), 1);
    }
}

/// Values that change with every forward pass, read by the transformer kernels (`wgsl/step.wgsl`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Step {
    /// Position of the pass's first token.
    pub pos0: u32,
    /// Tokens in the pass.
    pub n_tokens: u32,
    _pad: [u32; 2],
}

impl Step {
    /// The step for `n_tokens` tokens starting at `pos0`.
    pub fn new(pos0: u32, n_tokens: u32) -> Self {
        Step { pos0, n_tokens, _pad: [0; 2] }
    }
}

/// The uniform buffer holding the current [`Step`]: one per model, written with
/// `queue.write_buffer` before each pass is submitted, bound by every kernel that needs it.
#[derive(Debug)]
pub struct StepUniform {
    /// The buffer (16 bytes, `UNIFORM | COPY_DST`).
    pub buffer: wgpu::Buffer,
}

impl StepUniform {
    /// Creates the buffer (zeroed).
    pub fn new(ctx: &GpuContext) -> Self {
        StepUniform { buffer: uniform_blocks(ctx, "ecq step", &[Step::default()]).0 }
    }

    /// Queues the write of `step` (takes effect before the next submission).
    pub fn write(&self, queue: &wgpu::Queue, step: Step) {
        queue.write_buffer(&self.buffer, 0, bytemuck::bytes_of(&step));
    }
}

/// Fails unless `buffer` holds at least `floats` f32 values.
pub(crate) fn check_floats(what: &str, buffer: &wgpu::Buffer, floats: usize) -> Result<()> {
    if buffer.size() < floats as u64 * 4 {
        return Err(Error::InvalidArgument(format!(
            "{what}: buffer of {} bytes, needs {} f32 values",
            buffer.size(),
            floats
        )));
    }
    Ok(())
}

/// The largest power-of-two workgroup size up to `cap` that the device allows.
pub(crate) fn pow2_wg(caps: &crate::gpu::Capabilities, cap: u32) -> u32 {
    let n = caps.max_invocations_per_workgroup.min(cap).max(1);
    1 << (31 - n.leading_zeros())
}
