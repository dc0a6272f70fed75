//! ECSQ on the GPU: the rANS stream decoded straight into the q8 packed layout that
//! [`super::gemv`] runs (the decode table's symbol field offset by `code_min + 128`, so the
//! decoder writes `u = j + 128`), and the outliers uploaded for [`super::sparse_add`].
//!
//! [`decode_to_gpu`] is the one entry point a scheduler needs: it records and submits one decode
//! pass and returns a [`GpuMatrix`] (format `q8g{runtime_group_size}`) plus the outliers. The
//! CPU reference is [`EcsqMatrix::to_runtime`]: the decoded words are bit-exact with its packed
//! codes.

use super::GpuMatrix;
use super::rans_decode::{CodeLayout, GpuRansStream, RansDecode, check_status, key_for, status_buffer};
use super::sparse_add::GpuSparseRows;
use crate::ecsq::{EcsqMatrix, runtime_group_size, runtime_scale_bias};
use crate::gpu::GpuContext;
use crate::quant::AffineSpec;
use crate::weights::WeightFormat;
use crate::{Error, Result};

/// An ECSQ matrix ready for `y = W x`: the q8 body and the outliers.
#[derive(Debug)]
pub struct GpuEcsq {
    /// The body, `u = j + 128` with `scale = step`, `bias = -128 * step`.
    pub body: GpuMatrix,
    /// The outliers, added by [`super::sparse_add::SparseAdd`] after the GEMV.
    pub outliers: GpuSparseRows,
}

/// The packed output layout of the q8 body of a `cols`-wide matrix.
pub fn layout(cols: usize) -> Result<(AffineSpec, CodeLayout)> {
    let spec = AffineSpec::new(8, runtime_group_size(cols))?;
    let wpr = crate::quant::affine::words_per_row(cols, spec);
    Ok((spec, CodeLayout { bits: 8, row_len: cols as u32, row_words: wpr as u32 }))
}

/// Decodes `m` on the GPU into a q8 [`GpuMatrix`] (one part; errors when the body exceeds one
/// storage binding) and uploads its outliers. Checks the decoder's status (corrupt blocks are
/// an error naming `name`).
pub async fn decode_to_gpu(ctx: &GpuContext, name: &str, m: &EcsqMatrix) -> Result<GpuEcsq> {
    let (spec, layout) = layout(m.cols())?;
    let words = layout.words(m.rows() * m.cols());
    let limit = ctx.caps.max_storage_binding.min(ctx.caps.max_buffer_size);
    if 4 * words as u64 > limit {
        return Err(Error::tensor(name, format!("q8 body of {} bytes exceeds the {limit}-byte binding", 4 * words)));
    }
    let offset = (i32::from(m.code_min()) + 128) as u32;
    let stream = GpuRansStream::upload_with_symbol_offset(ctx, name, m.stream(), offset)?;
    // Zeroed: the any-layout path ORs codes in, and row padding (to whole groups) stays zero.
    let out = ctx.storage_buffer(&format!("{name} weights"), bytemuck::cast_slice(&vec![0u32; words.max(1)]));
    let status = status_buffer(ctx);
    let dec = RansDecode::new(ctx);
    let key = key_for(&ctx.caps, m.stream(), &layout);
    let plan = dec.plan(&key, &stream, &layout, &out, &status)?;
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        plan.encode(&mut pass);
    }
    ctx.queue.submit([encoder.finish()]);
    check_status(ctx, name, &status).await?;
    let gpr = crate::quant::affine::groups_per_row(m.cols(), spec);
    let mut sb = Vec::with_capacity(m.rows() * gpr);
    for r in 0..m.rows() {
        let (s, b) = runtime_scale_bias(m.steps()[r / m.rows_per_step()]);
        sb.extend(std::iter::repeat_n(super::pack_scale_bias(&[s], &[b])[0], gpr));
    }
    let part = super::MatrixPart {
        row0: 0,
        rows: m.rows(),
        weights: out,
        scale_bias: ctx.storage_buffer(&format!("{name} scales"), bytemuck::cast_slice(&sb)),
    };
    let body = GpuMatrix { format: WeightFormat::Affine(spec), rows: m.rows(), cols: m.cols(), parts: vec![part] };
    let outliers = GpuSparseRows::upload(ctx, name, &m.outliers().to_sparse_rows(m.rows(), m.cols())?);
    Ok(GpuEcsq { body, outliers })
}
