//! `ecq demo`: the built-in real weights (one MiniLM layer) in every format — size, weight SQNR,
//! output error, and GEMV checked on the GPU against the CPU.

use serde::Serialize;

use crate::gpu::timer::median;
use crate::gpu::{GpuContext, PipelineKey};
use crate::io::FloatTensor;
use crate::kernels::GpuMatrix;
use crate::kernels::gemv::{self, Gemv, Vectors};
use crate::quant::AffineSpec;
use crate::rng::Rng;
use crate::weights::{Matrix, WeightFormat};
use crate::{Result, cpu};

/// The formats the demo compares, from the f16 original down to 2 bits.
pub fn demo_formats() -> Vec<WeightFormat> {
    let a = |b, g| WeightFormat::Affine(AffineSpec { bits: b, group_size: g });
    vec![WeightFormat::F16, a(8, 64), a(4, 32), a(4, 64), a(4, 128), a(3, 64), a(2, 64)]
}

/// One format's results over the whole layer.
#[derive(Clone, Debug, Serialize)]
pub struct DemoRow {
    /// Format name.
    pub format: String,
    /// Stored bits per weight, scales included.
    pub bits_per_weight: f64,
    /// Weight SQNR against the original weights, dB (infinite when lossless).
    pub weight_sqnr_db: f64,
    /// Relative error of `W x` against the original weights (what quantization costs).
    pub output_rel_err: f64,
    /// Relative error of the GPU's `W x` against the CPU reference on the same codes.
    pub gpu_vs_cpu_rel_err: f64,
    /// The GPU kept within the kernel's bound on every matrix.
    pub gpu_ok: bool,
    /// Median GEMV time summed over the layer's matrices, microseconds (GPU timestamps, or
    /// wall time of the CPU reference without a GPU).
    pub time_us: f64,
    /// Kernel variant (or `cpu`).
    pub variant: String,
}

/// Runs the demo on `tensors` (2-D weights) — on the GPU when `ctx` is given, else on the CPU.
pub async fn run(ctx: Option<&GpuContext>, tensors: &[FloatTensor]) -> Result<Vec<DemoRow>> {
    let mut rng = Rng::new(2024);
    let xs: Vec<Vec<f32>> = tensors.iter().map(|t| (0..t.shape[1]).map(|_| rng.normal()).collect()).collect();
    let originals: Vec<Matrix> = tensors
        .iter()
        .map(|t| {
            let (r, c) = t.matrix_shape()?;
            Matrix::from_f32(&t.name, &t.data, r, c, WeightFormat::F32)
        })
        .collect::<Result<_>>()?;
    let exact: Vec<Vec<f32>> = originals.iter().zip(&xs).map(|(m, x)| cpu::gemv(m, x, 1)).collect::<Result<_>>()?;
    let g = ctx.map(Gemv::new);
    let mut out = Vec::new();
    for format in demo_formats() {
        let (mut sig, mut noise, mut out_num, mut out_den) = (0f64, 0f64, 0f64, 0f64);
        let (mut gpu_num, mut gpu_den, mut time_ns, mut ok) = (0f64, 0f64, 0f64, true);
        let mut variant = "cpu".to_string();
        let mut bits = 0f64;
        let mut weights = 0usize;
        for ((t, x), y_exact) in tensors.iter().zip(&xs).zip(&exact) {
            let (r, c) = t.matrix_shape()?;
            let m = Matrix::from_f32(&t.name, &t.data, r, c, format)?;
            bits += 8.0 * m.stored_bytes() as f64;
            weights += r * c;
            for (a, b) in t.data.iter().zip(m.to_f32()) {
                sig += f64::from(*a).powi(2);
                noise += (f64::from(*a) - f64::from(b)).powi(2);
            }
            let started = std::time::Instant::now();
            let y_cpu = cpu::gemv(&m, x, 1)?;
            let cpu_ns = started.elapsed().as_nanos() as f64;
            accumulate(&y_cpu, y_exact, &mut out_num, &mut out_den);
            match (ctx, &g) {
                (Some(ctx), Some(g)) => {
                    let gm = GpuMatrix::upload(ctx, &t.name, &m)?;
                    let key = g.key(format, 1, r, c)?;
                    let y_gpu = gemv::run_once(ctx, g, &key, &gm, x).await?;
                    let (y_ref, scale) = gemv::reference(&key, &m, x, 1)?;
                    ok &= cpu::max_scaled_err(&y_gpu, &y_ref, &scale) <= gemv::error_bound(&key);
                    accumulate(&y_gpu, &y_cpu, &mut gpu_num, &mut gpu_den);
                    time_ns += time_gemv(ctx, g, &key, &gm, x).await?;
                    variant = key.label();
                }
                _ => time_ns += cpu_ns,
            }
        }
        out.push(DemoRow {
            format: format.to_string(),
            bits_per_weight: bits / weights as f64,
            weight_sqnr_db: 10.0 * (sig / noise).log10(),
            output_rel_err: (out_num / out_den).sqrt(),
            gpu_vs_cpu_rel_err: if ctx.is_some() { (gpu_num / gpu_den).sqrt() } else { f64::NAN },
            gpu_ok: ctx.is_some() && ok,
            time_us: time_ns / 1e3,
            variant,
        });
    }
    Ok(out)
}

fn accumulate(a: &[f32], reference: &[f32], num: &mut f64, den: &mut f64) {
    for (&x, &r) in a.iter().zip(reference) {
        *num += (f64::from(x) - f64::from(r)).powi(2);
        *den += f64::from(r).powi(2);
    }
}

/// Median GPU time of one GEMV, or wall-clock-free 0 when the device has no timestamps.
async fn time_gemv(ctx: &GpuContext, g: &Gemv, key: &gemv::GemvKey, w: &GpuMatrix, x: &[f32]) -> Result<f64> {
    if !ctx.caps.timestamps {
        return Ok(f64::NAN);
    }
    let stride = x.len().div_ceil(4) * 4;
    let mut xs = x.to_vec();
    xs.resize(stride, 0.0);
    let xb = ctx.storage_buffer("demo x", bytemuck::cast_slice(&xs));
    let yb = ctx.storage_buffer_empty("demo y", (w.rows * 4) as u64);
    let plan =
        g.plan(key, w, Vectors { buffer: &xb, stride: stride as u32 }, Vectors { buffer: &yb, stride: w.rows as u32 })?;
    let ns = crate::bench::time_passes(ctx, crate::bench::Timing { warmup: 3, runs: 15 }, &mut |p, _| plan.encode(p))
        .await?;
    Ok(median(&ns))
}
