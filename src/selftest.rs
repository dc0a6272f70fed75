//! `ecq selftest`: every kernel variant the device supports, on fresh random data and odd shapes,
//! against the CPU reference.

use serde::Serialize;

use crate::gpu::{GpuContext, KernelPath, PipelineKey};
use crate::kernels::GpuMatrix;
use crate::kernels::dequant::{self, Dequant};
use crate::kernels::gemv::{self, Gemv, GemvKey};
use crate::kernels::rans_decode;
use crate::quant::AffineSpec;
use crate::quant::affine::{SUPPORTED_BITS, SUPPORTED_GROUP_SIZES};
use crate::rng::Rng;
use crate::weights::{Matrix, WeightFormat};
use crate::{Result, cpu};

/// One kernel variant checked against its reference.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// Kernel family (`gemv`, `dequant`, ...).
    pub kernel: String,
    /// The variant's label.
    pub variant: String,
    /// `rows x cols` (and batch).
    pub shape: String,
    /// Adapter name.
    pub adapter: String,
    /// Largest absolute difference from the reference.
    pub max_abs_err: f64,
    /// Relative L2 difference from the reference.
    pub rel_err: f64,
    /// Largest difference relative to each output's error scale (GEMV: `sum |w||x|`), the
    /// quantity the pass/fail bound applies to; equal to `rel_err` for other kernels.
    pub scaled_err: f64,
    /// Whether the variant ran and stayed within its bound.
    pub ok: bool,
    /// Why it failed to run, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Every affine format, then dense f16 and f32.
pub fn all_formats() -> Vec<WeightFormat> {
    let mut v: Vec<WeightFormat> = SUPPORTED_BITS
        .iter()
        .flat_map(|&b| {
            SUPPORTED_GROUP_SIZES.iter().map(move |&g| WeightFormat::Affine(AffineSpec { bits: b, group_size: g }))
        })
        .collect();
    v.extend([WeightFormat::F16, WeightFormat::F32]);
    v
}

/// Runs all checks, calling `report` after each one. The seed is printed by the caller so a
/// failure can be reproduced with [`run_seeded`].
pub async fn run(ctx: &GpuContext, report: &mut dyn FnMut(&Check)) -> Result<Vec<Check>> {
    let (_, seed) = Rng::fresh();
    run_seeded(ctx, seed, report).await
}

/// [`run`] with a fixed seed.
pub async fn run_seeded(ctx: &GpuContext, seed: u64, report: &mut dyn FnMut(&Check)) -> Result<Vec<Check>> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let mut push = |c: Check, out: &mut Vec<Check>| {
        report(&c);
        out.push(c);
    };
    let adapter = ctx.caps.adapter_name.clone();
    let g = Gemv::new(ctx);
    let dq = Dequant::new(ctx);
    for (rows, cols) in [(67usize, 200usize), (160, 1100)] {
        let w = rng.weights(rows * cols, 0.05);
        for format in all_formats() {
            let m = Matrix::from_f32("selftest", &w, rows, cols, format)?;
            let gm = GpuMatrix::upload(ctx, "selftest", &m)?;
            for batch in [1u32, 3, 8] {
                let x = rng.signed(batch as usize * cols);
                for path in KernelPath::all_supported(&ctx.caps) {
                    let key = GemvKey::tuned(format, batch, rows, cols, &ctx.caps, Some(path))?;
                    if key.path != path {
                        continue; // the format has no such variant (f16 path of affine codes)
                    }
                    let (want, scale) = gemv::reference(&key, &m, &x, batch as usize)?;
                    let got = gemv::run_once(ctx, &g, &key, &gm, &x).await;
                    let shape = format!("{rows}x{cols} b{batch}");
                    push(
                        compare(
                            "gemv",
                            key.label(),
                            shape,
                            &adapter,
                            got,
                            &want,
                            Some(&scale),
                            gemv::error_bound(&key),
                        ),
                        &mut out,
                    );
                }
            }
            if let Matrix::Affine(_) = m {
                let want = cpu::dequant(&m);
                for out_f16 in [false, true] {
                    let got = dequant::run_once(ctx, &dq, &gm, out_f16).await;
                    let want: Vec<f32> = if out_f16 {
                        want.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect()
                    } else {
                        want.clone()
                    };
                    let label = format!("dequant {format} -> {}", if out_f16 { "f16" } else { "f32" });
                    // f16 output may round differently when the GPU fuses s*q+b: one f16 ulp.
                    let bound = if out_f16 { 1e-3 } else { 1e-6 };
                    push(
                        compare("dequant", label, format!("{rows}x{cols}"), &adapter, got, &want, None, bound),
                        &mut out,
                    );
                }
            }
        }
    }
    // rANS decode into the packed layouts: whole-word and any-layout paths, bit-exact.
    let dec_layouts =
        [(2u32, 67usize, 256usize, 5usize), (3, 9, 200, 2), (4, 67, 256, 5), (4, 9, 200, 2), (8, 33, 96, 4)];
    for (bits, rows, cols, rows_per_block) in dec_layouts {
        let codes = crate::bench::decode::weight_like_codes(rows * cols, bits, &mut rng);
        let table = crate::rans::FreqTable::from_symbols(&codes, crate::rans::DEFAULT_PROB_BITS)?;
        let enc = crate::rans::encode(&codes, &table, rows_per_block * cols)?;
        let row_words = crate::quant::pack::words_for(cols.div_ceil(32) * 32, bits);
        let layout = rans_decode::CodeLayout { bits, row_len: cols as u32, row_words: row_words as u32 };
        let mut want = vec![0u32; rows * row_words];
        for r in 0..rows {
            crate::quant::pack::pack_into(
                &codes[r * cols..(r + 1) * cols],
                bits,
                &mut want[r * row_words..(r + 1) * row_words],
            );
        }
        let key = rans_decode::key_for(&ctx.caps, &enc, &layout);
        let got = rans_decode::decode_packed(ctx, "selftest", &enc, &layout).await;
        push(
            compare_exact("rans_decode", key.label(), format!("{rows}x{cols} q{bits}"), &adapter, got, &want),
            &mut out,
        );
    }
    Ok(out)
}

/// Bit-exact comparison: errors count differing words (max_abs_err) and their share (rel_err).
fn compare_exact(
    kernel: &str,
    variant: String,
    shape: String,
    adapter: &str,
    got: Result<Vec<u32>>,
    want: &[u32],
) -> Check {
    let mut c = Check {
        kernel: kernel.into(),
        variant,
        shape,
        adapter: adapter.into(),
        max_abs_err: f64::NAN,
        rel_err: f64::NAN,
        scaled_err: f64::NAN,
        ok: false,
        error: None,
    };
    match got {
        Ok(v) if v.len() == want.len() => {
            let diff = v.iter().zip(want).filter(|(a, b)| a != b).count();
            c.max_abs_err = diff as f64;
            c.rel_err = diff as f64 / want.len().max(1) as f64;
            c.scaled_err = c.rel_err;
            c.ok = diff == 0;
        }
        Ok(v) => c.error = Some(format!("{} words, expected {}", v.len(), want.len())),
        Err(e) => c.error = Some(e.to_string()),
    }
    c
}

/// Compares `got` with `want`: against `bound` relative to `scale` per output when given,
/// otherwise as a relative L2 error.
#[allow(clippy::too_many_arguments)]
fn compare(
    kernel: &str,
    variant: String,
    shape: String,
    adapter: &str,
    got: Result<Vec<f32>>,
    want: &[f32],
    scale: Option<&[f32]>,
    bound: f64,
) -> Check {
    let mut c = Check {
        kernel: kernel.into(),
        variant,
        shape,
        adapter: adapter.into(),
        max_abs_err: f64::NAN,
        rel_err: f64::NAN,
        scaled_err: f64::NAN,
        ok: false,
        error: None,
    };
    match got {
        Ok(v) if v.len() == want.len() => {
            c.max_abs_err = cpu::max_abs_err(&v, want);
            c.rel_err = cpu::rel_err(&v, want);
            c.scaled_err = scale.map_or(c.rel_err, |s| cpu::max_scaled_err(&v, want, s));
            c.ok = c.scaled_err <= bound;
        }
        Ok(v) => c.error = Some(format!("{} outputs, expected {}", v.len(), want.len())),
        Err(e) => c.error = Some(e.to_string()),
    }
    c
}
