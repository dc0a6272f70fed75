//! GEMV on the GPU against the CPU reference, for every format, batch and kernel path.

mod common;

use ecq::cpu;
use ecq::gpu::KernelPath;
use ecq::kernels::GpuMatrix;
use ecq::kernels::gemv::{Gemv, GemvKey, error_bound, reference, run_once};
use ecq::quant::AffineSpec;
use ecq::rng::Rng;
use ecq::weights::{Matrix, WeightFormat};

fn formats() -> Vec<WeightFormat> {
    let mut v = vec![WeightFormat::F32, WeightFormat::F16];
    for bits in [2, 3, 4, 8] {
        for gs in [32, 64, 128] {
            v.push(WeightFormat::Affine(AffineSpec::new(bits, gs).unwrap()));
        }
    }
    v
}

/// Every format on `shapes` with `batches`, on every kernel path the device has.
fn check_all(ctx: &ecq::gpu::GpuContext, formats: &[WeightFormat], shapes: &[(usize, usize)], batches: &[u32]) {
    let (mut rng, seed) = Rng::fresh();
    let gemv = Gemv::new(ctx);
    let mut failures = vec![];
    let mut runs = 0;
    for &(rows, cols) in shapes {
        let w = rng.weights(rows * cols, 0.05);
        for &format in formats {
            let m = Matrix::from_f32("w", &w, rows, cols, format).unwrap();
            let gm = GpuMatrix::upload(ctx, "w", &m).unwrap();
            for &batch in batches {
                let x = rng.signed(batch as usize * cols);
                let mut seen = vec![];
                for path in KernelPath::all_supported(&ctx.caps) {
                    let key = GemvKey::tuned(format, batch, rows, cols, &ctx.caps, Some(path)).unwrap();
                    if seen.contains(&key) {
                        continue; // the format has no such variant; the normalized one already ran
                    }
                    seen.push(key);
                    let (want, scale) = reference(&key, &m, &x, batch as usize).unwrap();
                    let got = pollster::block_on(run_once(ctx, &gemv, &key, &gm, &x)).unwrap();
                    let e = cpu::max_scaled_err(&got, &want, &scale);
                    runs += 1;
                    if !(e <= error_bound(&key)) {
                        failures.push(format!(
                            "{rows}x{cols} {} -> scaled err {e:.3e}",
                            ecq::gpu::PipelineKey::label(&key)
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "seed {seed}: {} of {runs} failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn gemv_matches_cpu_for_every_format_on_odd_shapes() {
    let ctx = common::gpu();
    check_all(&ctx, &formats(), &[(67, 200)], &[1, 3]);
}

#[test]
fn gemv_matches_cpu_at_batch_8_and_tiny_or_wide_shapes() {
    let ctx = common::gpu();
    let some = [
        WeightFormat::Affine(AffineSpec::new(4, 64).unwrap()),
        WeightFormat::Affine(AffineSpec::new(3, 128).unwrap()),
        WeightFormat::F16,
    ];
    check_all(&ctx, &some, &[(1, 32), (130, 96), (5, 9000)], &[1, 8]);
}

#[test]
fn gemv_fallback_path_matches_cpu() {
    let ctx = common::gpu_fallback();
    assert!(!ctx.caps.f16 && !ctx.caps.subgroups && !ctx.caps.dot8);
    check_all(&ctx, &formats(), &[(67, 200), (33, 257)], &[1, 2]);
}

#[test]
fn gemv_splits_matrices_above_the_binding_limit() {
    let mut o = ecq::gpu::ContextOptions::from_env();
    o.max_storage_binding = Some(4096);
    let ctx = common::gpu_with(&o);
    let (rows, cols) = (300, 512);
    let (mut rng, seed) = Rng::fresh();
    let w = rng.weights(rows * cols, 0.05);
    let gemv = Gemv::new(&ctx);
    for format in [WeightFormat::F32, WeightFormat::Affine(AffineSpec::new(4, 64).unwrap())] {
        let m = Matrix::from_f32("w", &w, rows, cols, format).unwrap();
        let gm = GpuMatrix::upload(&ctx, "w", &m).unwrap();
        assert!(gm.parts.len() > 1, "{format}: expected a split, got {} part(s)", gm.parts.len());
        let x = rng.signed(2 * cols);
        let key = GemvKey::tuned(format, 2, rows, cols, &ctx.caps, None).unwrap();
        let got = pollster::block_on(run_once(&ctx, &gemv, &key, &gm, &x)).unwrap();
        let (want, scale) = reference(&key, &m, &x, 2).unwrap();
        let e = cpu::max_scaled_err(&got, &want, &scale);
        assert!(e <= error_bound(&key), "seed {seed} {format}: rel err {e}");
    }
}

#[test]
fn dequant_matches_cpu_for_every_affine_format() {
    use ecq::kernels::dequant::{self, Dequant};
    let ctx = common::gpu();
    let dq = Dequant::new(&ctx);
    let (mut rng, seed) = Rng::fresh();
    let (rows, cols) = (67, 200);
    let w = rng.weights(rows * cols, 0.05);
    for bits in [2, 3, 4, 8] {
        for gs in [32, 64, 128] {
            let m = Matrix::from_f32("w", &w, rows, cols, WeightFormat::Affine(AffineSpec::new(bits, gs).unwrap()))
                .unwrap();
            let want = cpu::dequant(&m);
            let gm = GpuMatrix::upload(&ctx, "w", &m).unwrap();
            let got = pollster::block_on(dequant::run_once(&ctx, &dq, &gm, false)).unwrap();
            // s * q + b in f32, fused or not: within an ulp or two of the reference.
            assert!(cpu::max_abs_err(&got, &want) <= 1e-6, "seed {seed} q{bits}g{gs} f32");
            let got16 = pollster::block_on(dequant::run_once(&ctx, &dq, &gm, true)).unwrap();
            let want16: Vec<f32> = want.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect();
            assert!(cpu::max_abs_err(&got16, &want16) <= 1e-3 * 0.5, "seed {seed} q{bits}g{gs} f16");
        }
    }
}

#[test]
fn gemv_variants_with_several_slabs_and_streamed_inputs() {
    // Keys forced away from the tuned ones: rows wider than one slab (the slab loop runs several
    // times) and inputs re-read per row instead of kept in registers.
    let ctx = common::gpu();
    let (mut rng, seed) = Rng::fresh();
    let (rows, cols) = (37, 2000);
    let w = rng.weights(rows * cols, 0.05);
    let gemv = Gemv::new(&ctx);
    for format in [WeightFormat::Affine(AffineSpec::new(4, 64).unwrap()), WeightFormat::F16, WeightFormat::F32] {
        let m = Matrix::from_f32("w", &w, rows, cols, format).unwrap();
        let gm = GpuMatrix::upload(&ctx, "w", &m).unwrap();
        for path in KernelPath::all_supported(&ctx.caps) {
            // (batch, chunks per invocation, keep inputs, rows per group, groups, invocations)
            for (batch, cpt, xstat, rb, ng, wg) in
                [(1, 1, false, 3, 2, 32), (2, 2, false, 5, 1, 32), (3, 1, false, 1, 3, 64), (1, 4, true, 2, 3, 128)]
            {
                let tuned = GemvKey::tuned(format, batch, rows, cols, &ctx.caps, Some(path)).unwrap();
                let key = GemvKey {
                    chunks_per_thread: cpt,
                    x_stationary: xstat,
                    rows_per_wg: rb,
                    groups_per_wg: ng,
                    wg_size: wg,
                    ..tuned
                };
                let x = rng.signed(batch as usize * cols);
                let got = pollster::block_on(run_once(&ctx, &gemv, &key, &gm, &x)).unwrap();
                let (want, scale) = reference(&key, &m, &x, batch as usize).unwrap();
                let e = cpu::max_scaled_err(&got, &want, &scale);
                assert!(e <= error_bound(&key), "seed {seed} {}: rel err {e}", ecq::gpu::PipelineKey::label(&key));
            }
        }
    }
}
