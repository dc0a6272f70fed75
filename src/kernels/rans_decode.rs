//! rANS decoding on the GPU into the packed code layout — the Rust side of
//! `wgsl/rans_decode.wgsl`. The format and its bit-exact CPU reference are in [`crate::rans`].

use std::sync::Arc;

use super::{dispatch_dims, uniform_blocks};
use crate::gpu::pipeline::{PipelineCache, PipelineKey, layout_entries, single_group_layout};
use crate::gpu::shader::Defines;
use crate::gpu::{Capabilities, GpuContext};
use crate::rans::Encoded;
use crate::{Error, Result};

/// 32-lane decoders per workgroup: 16 (512 invocations) measured best on an H100, fewer where
/// the device allows fewer invocations (WebGPU's default is 256).
const GROUPS: u32 = 16;

/// Workgroup memory of the shared decode table: `rans_core.wgsl` declares it for the largest
/// precision (`array<u32, 4096>`, 2^MAX_PROB_BITS entries) whatever the stream's own, so this is
/// what a variant with `table_shared` uses (Dawn rejects a pipeline over the limit; some native
/// drivers do not check).
pub(crate) const TABLE_SHARED_BYTES: u32 = 4 << crate::rans::MAX_PROB_BITS;

/// One compiled decoder variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RansDecodeKey {
    /// Ballot + popcount offsets (needs subgroups of at least 32 invocations).
    pub subgroups: bool,
    /// Subgroups may be wider than 32 (a 32-lane group then reads its part of the ballot).
    pub wide_subgroups: bool,
    /// Decode table in workgroup memory (needs `4 * 2^P` bytes of it).
    pub table_shared: bool,
    /// 2, 4 or 8 for whole-word writes (rows a multiple of 32 long, blocks of whole steps);
    /// 0 for any layout through atomics.
    pub fast_bits: u32,
    /// 32-lane decoders per workgroup.
    pub groups: u32,
}

impl PipelineKey for RansDecodeKey {
    fn shader(&self) -> &'static str {
        "rans_decode.wgsl"
    }

    fn defines(&self) -> Defines {
        Defines::new()
            .flag("BALLOT", self.subgroups)
            .flag("WIDE_SUBGROUPS", self.wide_subgroups)
            .flag("TABLE_SHARED", self.table_shared)
            .int("FAST_BITS", self.fast_bits)
    }

    fn constants(&self) -> Vec<(&'static str, f64)> {
        vec![("GROUPS", f64::from(self.groups))]
    }

    fn label(&self) -> String {
        format!(
            "rans_decode {}{} {} x{}",
            if self.subgroups { "ballot" } else { "wgmem" },
            if self.table_shared { " table-smem" } else { "" },
            if self.fast_bits == 0 { "any-layout".to_string() } else { format!("{}-bit words", self.fast_bits) },
            self.groups
        )
    }
}

/// Where decoded codes go: rows of `row_len` codes of `bits` bits, `row_words` u32 per row,
/// each row a little-endian bitstream (the layout of [`crate::quant::pack`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeLayout {
    /// Bits per code (1..=8).
    pub bits: u32,
    /// Codes per row.
    pub row_len: u32,
    /// u32 words per row (at least `ceil(row_len * bits / 32)`).
    pub row_words: u32,
}

impl CodeLayout {
    /// One symbol per byte, back to back (what `ecq verify` compares): rows of 32 bytes with no
    /// padding, which lets blocks of whole 32-symbol steps take the whole-word path.
    pub fn bytes() -> Self {
        CodeLayout { bits: 8, row_len: 32, row_words: 8 }
    }

    /// Output words needed for `n_symbols` codes.
    pub fn words(&self, n_symbols: usize) -> usize {
        n_symbols.div_ceil(self.row_len as usize) * self.row_words as usize
    }
}

/// The decoder variant for a stream and layout on a device: the one place this is decided.
pub fn key_for(caps: &Capabilities, enc: &Encoded, layout: &CodeLayout) -> RansDecodeKey {
    let fast = matches!(layout.bits, 2 | 4 | 8)
        && layout.row_len % 32 == 0
        && enc.block_len() % 32 == 0
        && enc.block_len() % layout.row_len as usize == 0;
    let groups = GROUPS.min(caps.max_invocations_per_workgroup / 32).max(1);
    let table_bytes = TABLE_SHARED_BYTES;
    // The workgroup-memory path keeps 3 masks, 24 packed words and a flag per group.
    let flags_bytes = if caps.subgroups && caps.subgroup_min_size >= 32 { 0 } else { 112 * groups };
    RansDecodeKey {
        subgroups: caps.subgroups && caps.subgroup_min_size >= 32,
        wide_subgroups: caps.subgroup_max_size > 32,
        table_shared: table_bytes + flags_bytes <= caps.workgroup_storage,
        fast_bits: if fast { layout.bits } else { 0 },
        groups,
    }
}

/// A coded tensor resident on the GPU: decode table, block states and offsets, and words.
#[derive(Debug)]
pub struct GpuRansStream {
    params: crate::rans::GpuParams,
    table: wgpu::Buffer,
    states: wgpu::Buffer,
    offsets: wgpu::Buffer,
    words: wgpu::Buffer,
}

impl GpuRansStream {
    /// Uploads a stream (already validated by [`Encoded::from_parts`] or the encoder).
    pub fn upload(ctx: &GpuContext, name: &str, enc: &Encoded) -> Result<Self> {
        Self::upload_with_symbol_offset(ctx, name, enc, 0)
    }

    /// Uploads a stream whose decoded symbols come out as `symbol + offset` (the decode table's
    /// symbol byte is offset; e.g. ECSQ codes `j = symbol + code_min` written as `j + 128`).
    /// Errors when a symbol would leave a byte.
    pub fn upload_with_symbol_offset(ctx: &GpuContext, name: &str, enc: &Encoded, offset: u32) -> Result<Self> {
        if enc.table().alphabet_len() as u32 + offset > 256 {
            return Err(Error::tensor(
                name,
                format!("symbol offset {offset} takes {} symbols past 255", enc.table().alphabet_len()),
            ));
        }
        let table: Vec<u32> = enc.table().packed_decode_table().into_iter().map(|e| e + offset).collect();
        let limit = ctx.caps.max_storage_binding;
        if (enc.packed_words().len() as u64) * 4 > limit {
            return Err(Error::tensor(
                name,
                format!("{} bytes of rANS words exceed the {limit}-byte binding limit", enc.packed_words().len() * 4),
            ));
        }
        Ok(GpuRansStream {
            params: enc.gpu_params(),
            table: ctx.storage_buffer(&format!("{name} rans table"), bytemuck::cast_slice(&table)),
            states: ctx.storage_buffer(&format!("{name} rans states"), bytemuck::cast_slice(enc.states())),
            offsets: ctx.storage_buffer(&format!("{name} rans offsets"), bytemuck::cast_slice(enc.offsets())),
            words: ctx.storage_buffer(&format!("{name} rans words"), bytemuck::cast_slice(enc.packed_words())),
        })
    }

    /// The stream's scalars.
    pub(crate) fn params(&self) -> crate::rans::GpuParams {
        self.params
    }

    /// The buffers a decoder binds: table, states, offsets, words.
    pub(crate) fn buffers(&self) -> [&wgpu::Buffer; 4] {
        [&self.table, &self.states, &self.offsets, &self.words]
    }

    /// Symbols in the stream.
    pub fn n_symbols(&self) -> usize {
        self.params.n_symbols as usize
    }

    /// GPU memory held, in bytes.
    pub fn gpu_bytes(&self) -> u64 {
        [&self.table, &self.states, &self.offsets, &self.words].iter().map(|b| b.size()).sum()
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_symbols: u32,
    block_len: u32,
    n_blocks: u32,
    prob_bits: u32,
    row_len: u32,
    row_words: u32,
    bits: u32,
    _pad: u32,
}

/// The decoder kernel family on one device.
#[derive(Debug)]
pub struct RansDecode {
    ctx: GpuContext,
    layout: wgpu::BindGroupLayout,
    cache: PipelineCache<RansDecodeKey>,
}

/// A prepared decode of one stream into one output buffer.
#[derive(Debug)]
pub struct RansDecodePlan {
    key: RansDecodeKey,
    pipeline: Arc<wgpu::ComputePipeline>,
    bind_group: wgpu::BindGroup,
    workgroups: (u32, u32),
    _params: wgpu::Buffer,
}

impl RansDecode {
    /// Creates the kernel family.
    pub fn new(ctx: &GpuContext) -> Self {
        let entries = layout_entries(true, &[true, true, true, true, false, false]);
        let (layout, pl) = single_group_layout(ctx, "ecq rans decode", &entries);
        RansDecode { ctx: ctx.clone(), layout, cache: PipelineCache::new(pl) }
    }

    /// Prepares decoding `stream` into `out` with `layout`, counting bad blocks in `status`
    /// (two u32: count, lowest block index; initialize to `[0, u32::MAX]`). With
    /// `key.fast_bits == 0` the output must be zeroed before the pass (codes are OR-ed in).
    pub fn plan(
        &self,
        key: &RansDecodeKey,
        stream: &GpuRansStream,
        layout: &CodeLayout,
        out: &wgpu::Buffer,
        status: &wgpu::Buffer,
    ) -> Result<RansDecodePlan> {
        let p = &stream.params;
        let need = layout.words(p.n_symbols as usize) as u64 * 4;
        if out.size() < need
            || !(1..=8).contains(&layout.bits)
            || layout.row_len == 0
            || layout.row_words * 32 < layout.row_len * layout.bits
        {
            return Err(Error::InvalidArgument(format!(
                "rANS output: {} bytes for {} codes of {} bits in rows of {} ({} words)",
                out.size(),
                p.n_symbols,
                layout.bits,
                layout.row_len,
                layout.row_words
            )));
        }
        if key.fast_bits != 0
            && (key.fast_bits != layout.bits || layout.row_len % 32 != 0 || p.block_len % layout.row_len != 0)
        {
            return Err(Error::InvalidArgument(format!("{} does not fit this stream's layout", key.label())));
        }
        let pipeline = self.cache.get(&self.ctx, key)?;
        let (params, _) = uniform_blocks(
            &self.ctx,
            "ecq rans params",
            &[Params {
                n_symbols: p.n_symbols,
                block_len: p.block_len,
                n_blocks: p.n_blocks,
                prob_bits: p.prob_bits,
                row_len: layout.row_len,
                row_words: layout.row_words,
                bits: layout.bits,
                _pad: 0,
            }],
        );
        let bind_group = self.ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("ecq rans decode"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: stream.table.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: stream.states.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 3, resource: stream.offsets.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 4, resource: stream.words.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 5, resource: out.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 6, resource: status.as_entire_binding() },
            ],
        });
        // Enough workgroups to fill a large GPU, few enough that each loads its table once for
        // several blocks.
        let n = p.n_blocks.div_ceil(key.groups).clamp(1, 16384);
        Ok(RansDecodePlan {
            key: *key,
            pipeline,
            bind_group,
            workgroups: dispatch_dims(n, self.ctx.caps.max_workgroups_per_dimension),
            _params: params,
        })
    }
}

impl RansDecodePlan {
    /// Records the decode into `pass`.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.workgroups.0, self.workgroups.1, 1);
    }

    /// The variant this plan runs.
    pub fn key(&self) -> &RansDecodeKey {
        &self.key
    }
}

/// A status buffer for [`RansDecode::plan`], initialized to no bad blocks.
pub fn status_buffer(ctx: &GpuContext) -> wgpu::Buffer {
    ctx.storage_buffer("ecq rans status", bytemuck::cast_slice(&[0u32, u32::MAX]))
}

/// Reads a status buffer: `Err` naming the count and first bad block when any block failed.
pub async fn check_status(ctx: &GpuContext, name: &str, status: &wgpu::Buffer) -> Result<()> {
    let s: Vec<u32> = ctx.read_vec(status).await?;
    if s[0] != 0 {
        return Err(Error::tensor(name, format!("GPU rANS decode: {} corrupted block(s), first {}", s[0], s[1])));
    }
    Ok(())
}

/// Decodes `enc` on the GPU into `layout` and reads the packed words back (checks the status).
pub async fn decode_packed(ctx: &GpuContext, name: &str, enc: &Encoded, layout: &CodeLayout) -> Result<Vec<u32>> {
    decode_packed_with_symbol_offset(ctx, name, enc, layout, 0).await
}

/// As [`decode_packed`], with every symbol written as `symbol + offset`
/// ([`GpuRansStream::upload_with_symbol_offset`]; ECSQ codes as `u = j + 128`).
pub async fn decode_packed_with_symbol_offset(
    ctx: &GpuContext,
    name: &str,
    enc: &Encoded,
    layout: &CodeLayout,
    offset: u32,
) -> Result<Vec<u32>> {
    let dec = RansDecode::new(ctx);
    let key = key_for(&ctx.caps, enc, layout);
    let stream = GpuRansStream::upload_with_symbol_offset(ctx, name, enc, offset)?;
    // Poison the output in the fast path (every word is written); zero it for OR-ing otherwise.
    let fill = if key.fast_bits == 0 { 0u32 } else { 0xDEAD_BEEF };
    let out =
        ctx.storage_buffer("ecq rans out", bytemuck::cast_slice(&vec![fill; layout.words(enc.n_symbols()).max(1)]));
    let status = status_buffer(ctx);
    let plan = dec.plan(&key, &stream, layout, &out, &status)?;
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        plan.encode(&mut pass);
    }
    ctx.queue.submit([encoder.finish()]);
    check_status(ctx, name, &status).await?;
    let mut v: Vec<u32> = ctx.read_vec(&out).await?;
    v.truncate(layout.words(enc.n_symbols()));
    Ok(v)
}

/// Decodes `enc` on the GPU to one symbol per byte in stream order (what `ecq verify` checks
/// against the stored checksum).
pub async fn decode_symbols(ctx: &GpuContext, enc: &Encoded) -> Result<Vec<u8>> {
    let layout = CodeLayout::bytes();
    let words = decode_packed(ctx, "stream", enc, &layout).await?;
    let mut bytes: Vec<u8> = bytemuck::cast_slice(&words).to_vec();
    bytes.truncate(enc.n_symbols());
    Ok(bytes)
}
