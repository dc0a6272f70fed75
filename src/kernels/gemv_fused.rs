//! Fused rANS decode + dequant + GEMV — the Rust side of `wgsl/gemv_fused.wgsl`. Codes are
//! decoded into workgroup memory and never stored in device memory; the product uses the GEMV
//! arithmetic of `wgsl/gemv_rows.wgsl`, so it is bit-identical to [`super::rans_decode`] followed
//! by [`super::gemv`] with the same [`GemvKey`].

use std::sync::Arc;

use half::f16;

use super::gemv::{GemvKey, Vectors};
use super::rans_decode::GpuRansStream;
use super::{chunks_per_group_log2, dispatch_dims, entry, pack_scale_bias, uniform_blocks};
use crate::gpu::pipeline::{PipelineCache, PipelineKey, layout_entries, single_group_layout};
use crate::gpu::shader::Defines;
use crate::gpu::{Capabilities, GpuContext};
use crate::quant::AffineSpec;
use crate::rans::Encoded;
use crate::weights::WeightFormat;
use crate::{Error, Result};

/// An rANS-coded affine matrix as the GPU needs it: codes as one symbol per code, row-major, in
/// blocks of `block_rows` whole rows, with the f16 scales and biases of the groups.
#[derive(Clone, Copy, Debug)]
pub struct CodedAffine<'a> {
    /// Bits and group size.
    pub spec: AffineSpec,
    /// Output features.
    pub rows: usize,
    /// Inputs.
    pub cols: usize,
    /// Rows per rANS block.
    pub block_rows: usize,
    /// The coded codes.
    pub stream: &'a Encoded,
    /// `rows x groups` scales.
    pub scales: &'a [f16],
    /// `rows x groups` biases.
    pub biases: &'a [f16],
}

/// A coded matrix resident on the GPU: the rANS stream and the packed scales and biases.
#[derive(Debug)]
pub struct GpuCodedMatrix {
    /// Bits and group size.
    pub spec: AffineSpec,
    /// Output features.
    pub rows: usize,
    /// Inputs.
    pub cols: usize,
    /// Rows per rANS block.
    pub block_rows: usize,
    /// The stream (also what [`super::rans_decode::RansDecode`] binds).
    pub stream: GpuRansStream,
    /// One u32 per group (f16 scale, f16 bias).
    pub scale_bias: wgpu::Buffer,
}

impl GpuCodedMatrix {
    /// Uploads a coded matrix, checking that its stream describes its shape.
    pub fn upload(ctx: &GpuContext, name: &str, m: CodedAffine<'_>) -> Result<Self> {
        let groups = m.rows * m.cols.div_ceil(m.spec.group_size as usize);
        if m.stream.n_symbols() != m.rows * m.cols
            || m.stream.block_len() != m.block_rows * m.cols
            || m.scales.len() != groups
            || m.biases.len() != groups
        {
            return Err(Error::tensor(name, "coded matrix: stream, blocks or scales do not match its shape"));
        }
        let sb = pack_scale_bias(m.scales, m.biases);
        if sb.len() as u64 * 4 > ctx.caps.max_storage_binding {
            return Err(Error::tensor(name, "scales exceed the device's binding limit"));
        }
        Ok(GpuCodedMatrix {
            spec: m.spec,
            rows: m.rows,
            cols: m.cols,
            block_rows: m.block_rows,
            stream: GpuRansStream::upload(ctx, name, m.stream)?,
            scale_bias: ctx.storage_buffer(&format!("{name} scales"), bytemuck::cast_slice(&sb)),
        })
    }

    /// GPU memory held, in bytes.
    pub fn gpu_bytes(&self) -> u64 {
        self.stream.gpu_bytes() + self.scale_bias.size()
    }

    /// Runtime format of the decoded codes.
    pub fn format(&self) -> WeightFormat {
        WeightFormat::Affine(self.spec)
    }
}

/// One compiled fused variant: a GEMV key (whose arithmetic it shares) plus the decoder's
/// switches and the workgroup-memory staging.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FusedKey {
    /// The GEMV arithmetic (rows per group and groups per workgroup are the fused kernel's own).
    pub gemv: GemvKey,
    /// Ballot + popcount word offsets (subgroups of at least 32).
    pub ballot: bool,
    /// Subgroups may be wider than 32.
    pub wide_subgroups: bool,
    /// Decode table in workgroup memory.
    pub table_shared: bool,
    /// Blocks each workgroup decodes (one per 32-lane group).
    pub stage_blocks: u32,
    /// u32 words of workgroup memory for their codes.
    pub stage_words: u32,
}

impl FusedKey {
    /// The fused variant for `gemv` (the key decode-once would use) and matrix `m` on a device,
    /// or `Unsupported` when the matrix cannot be fused there (rows not a multiple of 32 codes,
    /// 3-bit codes, or a block of rows larger than workgroup memory).
    pub fn for_matrix(caps: &Capabilities, gemv: &GemvKey, m: &GpuCodedMatrix) -> Result<Self> {
        let bits = m.spec.bits;
        if gemv.format != m.format() {
            return Err(Error::InvalidArgument(format!("GEMV key is for {}, matrix is {}", gemv.format, m.format())));
        }
        if !matches!(bits, 2 | 4 | 8) || m.cols % 32 != 0 || gemv.wg_size % 32 != 0 {
            return Err(Error::Unsupported(format!(
                "fused decode + GEMV of {}x{} {} (needs 2/4/8-bit codes in rows of a multiple of 32)",
                m.rows, m.cols, m.spec
            )));
        }
        let groups = gemv.wg_size / 32;
        let ballot = gemv.path.subgroups && caps.subgroup_min_size >= 32;
        let accs = gemv.rows_per_wg * gemv.batch;
        let reduce_bytes =
            if gemv.path.subgroups { (gemv.wg_size / gemv.sg_min.max(1)) * accs * 4 } else { gemv.wg_size * accs * 4 };
        let decode_bytes = if ballot { 0 } else { 112 * groups };
        let block_words = (m.block_rows * crate::quant::affine::words_per_row(m.cols, m.spec)) as u32;
        let table_bytes = super::rans_decode::TABLE_SHARED_BYTES;
        let room = |table: bool| {
            caps.workgroup_storage.saturating_sub(reduce_bytes + decode_bytes + if table { table_bytes } else { 0 }) / 4
        };
        for table_shared in [true, false] {
            let stage_blocks = (room(table_shared) / block_words.max(1)).min(groups);
            if stage_blocks >= 1 {
                return Ok(FusedKey {
                    gemv: *gemv,
                    ballot,
                    wide_subgroups: caps.subgroup_max_size > 32,
                    table_shared,
                    stage_blocks,
                    stage_words: stage_blocks * block_words,
                });
            }
        }
        Err(Error::Unsupported(format!(
            "fused decode + GEMV of {}x{} {}: a block of {} rows ({} bytes) exceeds workgroup memory ({} bytes)",
            m.rows,
            m.cols,
            m.spec,
            m.block_rows,
            block_words * 4,
            caps.workgroup_storage
        )))
    }
}

impl PipelineKey for FusedKey {
    fn shader(&self) -> &'static str {
        "gemv_fused.wgsl"
    }

    fn defines(&self) -> Defines {
        let bits = match self.gemv.format {
            WeightFormat::Affine(s) => s.bits,
            _ => 0,
        };
        self.gemv
            .defines()
            .flag("BALLOT", self.ballot)
            .flag("WIDE_SUBGROUPS", self.wide_subgroups)
            .flag("TABLE_SHARED", self.table_shared)
            .int("FAST_BITS", bits)
    }

    fn constants(&self) -> Vec<(&'static str, f64)> {
        let mut c = self.gemv.constants();
        c.push(("GROUPS", f64::from(self.gemv.wg_size / 32)));
        c.push(("STAGE_BLOCKS", f64::from(self.stage_blocks)));
        c.push(("STAGE_WORDS", f64::from(self.stage_words)));
        c
    }

    fn label(&self) -> String {
        format!(
            "fused {} {}{} stage{}",
            self.gemv.label(),
            if self.ballot { "ballot" } else { "wgmem" },
            if self.table_shared { " table-smem" } else { "" },
            self.stage_blocks
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
    n_symbols: u32,
    block_len: u32,
    n_blocks: u32,
    prob_bits: u32,
    row_len: u32,
    row_words: u32,
    block_rows: u32,
    _pad: u32,
}

/// The fused kernel family on one device.
#[derive(Debug)]
pub struct GemvFused {
    ctx: GpuContext,
    layout: wgpu::BindGroupLayout,
    cache: PipelineCache<FusedKey>,
}

/// A prepared fused product of one coded matrix with one set of vectors.
#[derive(Debug)]
pub struct FusedPlan {
    key: FusedKey,
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    workgroups: (u32, u32),
    _params: wgpu::Buffer,
}

impl GemvFused {
    /// Creates the kernel family.
    pub fn new(ctx: &GpuContext) -> Self {
        let entries = layout_entries(true, &[true, true, true, true, true, true, false, false]);
        let (layout, pl) = single_group_layout(ctx, "ecq gemv fused", &entries);
        GemvFused { ctx: ctx.clone(), layout, cache: PipelineCache::new(pl) }
    }

    /// Prepares `y = W x` for `key.gemv.batch` vectors straight from the coded matrix `w`;
    /// corrupted blocks are counted in `status` (see [`super::rans_decode::status_buffer`]).
    pub fn plan(
        &self,
        key: &FusedKey,
        w: &GpuCodedMatrix,
        x: Vectors<'_>,
        y: Vectors<'_>,
        status: &wgpu::Buffer,
    ) -> Result<FusedPlan> {
        let g = &key.gemv;
        g.check(w.cols)?;
        let b = u64::from(g.batch);
        if x.stride % 4 != 0
            || (x.stride as usize) < w.cols
            || x.buffer.size() < b * u64::from(x.stride) * 4
            || (y.stride as usize) < w.rows
            || y.buffer.size() < b * u64::from(y.stride) * 4
        {
            return Err(Error::InvalidArgument(format!(
                "fused GEMV vectors: x stride {} in {} bytes, y stride {} in {} bytes for {} x {}x{}",
                x.stride,
                x.buffer.size(),
                y.stride,
                y.buffer.size(),
                g.batch,
                w.rows,
                w.cols
            )));
        }
        let pipeline = self.cache.get(&self.ctx, key)?;
        let p = w.stream.params();
        let wpr = crate::quant::affine::words_per_row(w.cols, w.spec) as u32;
        let (params, _) = uniform_blocks(
            &self.ctx,
            "ecq gemv fused params",
            &[Params {
                rows: w.rows as u32,
                cols: w.cols as u32,
                words_per_row: wpr,
                groups_per_row: w.cols.div_ceil(w.spec.group_size as usize) as u32,
                chunks_per_group_log2: chunks_per_group_log2(w.format(), w.format().weights_per_chunk()),
                x_stride: x.stride,
                y_stride: y.stride,
                y_offset: 0,
                n_symbols: p.n_symbols,
                block_len: p.block_len,
                n_blocks: p.n_blocks,
                prob_bits: p.prob_bits,
                row_len: w.cols as u32,
                row_words: wpr,
                block_rows: w.block_rows as u32,
                _pad: 0,
            }],
        );
        let [table, states, offsets, words] = w.stream.buffers();
        let bind_group = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("ecq gemv fused"),
            layout: &self.layout,
            entries: &[
                entry(0, &params),
                entry(1, table),
                entry(2, states),
                entry(3, offsets),
                entry(4, words),
                entry(5, &w.scale_bias),
                entry(6, x.buffer),
                entry(7, y.buffer),
                entry(8, status),
            ],
        });
        let n = p.n_blocks.div_ceil(key.stage_blocks);
        Ok(FusedPlan {
            key: *key,
            pipeline,
            bind_group,
            workgroups: dispatch_dims(n, self.ctx.caps.max_workgroups_per_dimension),
            _params: params,
        })
    }
}

impl FusedPlan {
    /// Records the fused product into `pass`.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.workgroups.0, self.workgroups.1, 1);
    }

    /// The variant this plan runs.
    pub fn key(&self) -> &FusedKey {
        &self.key
    }
}
