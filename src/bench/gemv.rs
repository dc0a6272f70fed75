//! `ecq bench gemv`: GEMV time, bandwidth and ratio to the copy roofline per format and shape.

use serde::Serialize;

use super::{Roofline, Timing, rotation_copies, time_passes};
use crate::Result;
use crate::gpu::timer::median;
use crate::gpu::{GpuContext, PipelineKey};
use crate::kernels::GpuMatrix;
use crate::kernels::gemv::{Gemv, GemvKey, Vectors};
use crate::quant::QuantizedMatrix;
use crate::rng::Rng;
use crate::weights::{Matrix, WeightFormat};

/// The shapes the issue tracker asks for: 7B-like projections and SmolLM2's MLP.
pub const DEFAULT_SHAPES: [(usize, usize); 5] = [(4096, 4096), (14336, 4096), (4096, 14336), (1536, 576), (576, 1536)];

/// One measured configuration.
#[derive(Clone, Debug, Serialize)]
pub struct GemvResult {
    /// `rows x cols`.
    pub shape: String,
    /// Weight format.
    pub format: String,
    /// Input vectors.
    pub batch: u32,
    /// Kernel variant.
    pub variant: String,
    /// Median GPU time, microseconds.
    pub us: f64,
    /// Bytes that must move: weights (with scales) + inputs + outputs.
    pub bytes: u64,
    /// bytes / time, GB/s.
    pub gbps: f64,
    /// gbps over the copy roofline of the same run.
    pub ratio_to_copy: f64,
    /// Weight copies rotated through (working set beyond the cache); each timed pass runs them
    /// all back to back and `us` is the pass time over this count.
    pub copies: usize,
    /// Adapter name.
    pub adapter: String,
}

/// A random matrix of `format` for timing (random codes and scales; never all zeros).
pub fn random_matrix(format: WeightFormat, rows: usize, cols: usize, rng: &mut Rng) -> Matrix {
    match format {
        WeightFormat::Affine(spec) => {
            let wpr = format.words_per_row(cols);
            let groups = rows * cols.div_ceil(spec.group_size as usize);
            let codes = (0..rows * wpr).map(|_| rng.next_u64() as u32).collect();
            let f = |rng: &mut Rng, s: f32| half::f16::from_f32(rng.normal() * s);
            let scales = (0..groups).map(|_| f(rng, 0.01)).collect();
            let biases = (0..groups).map(|_| f(rng, 0.05)).collect();
            Matrix::Affine(QuantizedMatrix { spec, rows, cols, codes, scales, biases })
        }
        WeightFormat::F16 => Matrix::F16 {
            rows,
            cols,
            data: (0..rows * cols).map(|_| half::f16::from_f32(rng.normal() * 0.02)).collect(),
        },
        WeightFormat::F32 => Matrix::F32 { rows, cols, data: (0..rows * cols).map(|_| rng.normal() * 0.02).collect() },
    }
}

/// Uploads enough copies of `m` that rotating through them exceeds `rotate_bytes` (so timings
/// measure memory, not the last-level cache).
pub fn upload_copies(ctx: &GpuContext, m: &Matrix, rotate_bytes: u64) -> Result<Vec<GpuMatrix>> {
    let first = GpuMatrix::upload(ctx, "bench", m)?;
    let copies = rotation_copies(first.gpu_bytes(), rotate_bytes);
    let mut mats = vec![first];
    for _ in 1..copies {
        mats.push(GpuMatrix::upload(ctx, "bench", m)?);
    }
    Ok(mats)
}

/// Times `key` on the matrix `m`, rotating through its uploaded copies `mats`.
pub async fn measure(
    ctx: &GpuContext,
    gemv: &Gemv,
    key: &GemvKey,
    m: &Matrix,
    mats: &[GpuMatrix],
    timing: Timing,
    roofline: &Roofline,
) -> Result<GemvResult> {
    let (rows, cols, batch) = (m.rows(), m.cols(), key.batch as usize);
    let copies = mats.len();
    let x_stride = cols.div_ceil(4) * 4;
    let mut rng = Rng::new(7);
    let x = ctx.storage_buffer("bench x", bytemuck::cast_slice(&rng.signed(batch * x_stride)));
    // One output per copy: no write-after-write hazards, so no barriers between the dispatches.
    let ys: Vec<wgpu::Buffer> =
        mats.iter().map(|_| ctx.storage_buffer_empty("bench y", (batch * rows * 4) as u64)).collect();
    let plans = mats
        .iter()
        .zip(&ys)
        .map(|(w, y)| {
            gemv.plan(
                key,
                w,
                Vectors { buffer: &x, stride: x_stride as u32 },
                Vectors { buffer: y, stride: rows as u32 },
            )
        })
        .collect::<Result<Vec<_>>>()?;
    // Each timed pass runs every copy once: per-GEMV time is the pass time over the copies, which
    // amortizes the pass's own timestamp and launch gaps.
    let ns = time_passes(ctx, timing, &mut |pass, _| plans.iter().for_each(|p| p.encode(pass))).await?;
    let t = median(&ns) / plans.len() as f64;
    let bytes = m.stored_bytes() as u64 + 4 * (batch * (cols + rows)) as u64;
    let gbps = bytes as f64 / t;
    Ok(GemvResult {
        shape: format!("{rows}x{cols}"),
        format: m.format().to_string(),
        batch: key.batch,
        variant: key.label(),
        us: t / 1e3,
        bytes,
        gbps,
        ratio_to_copy: gbps / roofline.copy_gbps,
        copies,
        adapter: ctx.caps.adapter_name.clone(),
    })
}

/// Variants around the tuned key, for `--sweep`: every arithmetic path the format has on this
/// device (with the tuned one's reduction), rows per group, groups per workgroup, and one or two
/// chunks per invocation (the workgroup resized to still span the row).
pub fn sweep_keys(base: &GemvKey, rows: usize, cols: usize, caps: &crate::gpu::Capabilities) -> Vec<GemvKey> {
    let chunks = (base.format.words_per_row(cols) as u32 / base.format.chunk_words()).max(1);
    let mut v = vec![*base];
    for path in crate::gpu::KernelPath::all_supported(caps) {
        if path.subgroups != base.path.subgroups {
            continue;
        }
        let Ok(tuned) = GemvKey::tuned(base.format, base.batch, rows, cols, caps, Some(path)) else { continue };
        for cpt in [tuned.chunks_per_thread, tuned.chunks_per_thread * 2] {
            let wg = (chunks.div_ceil(cpt).div_ceil(32) * 32).clamp(32, caps.max_invocations_per_workgroup.min(1024));
            let wg = if path.subgroups { wg } else { wg.next_power_of_two() };
            for (rb, ng) in [(4u32, 1u32), (8, 1), (16, 1), (4, 2), (8, 2), (8, 4), (16, 2)] {
                if rb * base.batch > 16 || (!path.subgroups && wg * rb * base.batch * 4 > caps.workgroup_storage) {
                    continue;
                }
                let k = GemvKey {
                    rows_per_wg: rb,
                    groups_per_wg: ng,
                    chunks_per_thread: cpt,
                    x_stationary: crate::kernels::gemv::x_fits_registers(base.format, tuned.path, cpt, base.batch)
                        && cpt * wg >= chunks,
                    wg_size: wg,
                    ..tuned
                };
                if !v.contains(&k) {
                    v.push(k);
                }
            }
        }
    }
    v
}
