//! Fused rANS decode + GEMV against the plain GEMV over the same codes: bit-identical.

mod common;

use ecq::gpu::{GpuContext, KernelPath};
use ecq::kernels::GpuMatrix;
use ecq::kernels::gemv::{Gemv, GemvKey, Vectors, run_once};
use ecq::kernels::gemv_fused::{CodedAffine, FusedKey, GemvFused, GpuCodedMatrix};
use ecq::kernels::rans_decode::{check_status, status_buffer};
use ecq::quant::{AffineSpec, QuantizedMatrix, quantize};
use ecq::rans::{self, FreqTable};
use ecq::rng::Rng;
use ecq::weights::{Matrix, WeightFormat};

/// rANS-codes `m`'s codes in blocks of `block_rows` rows.
fn coded(m: &QuantizedMatrix, block_rows: usize) -> rans::Encoded {
    let codes: Vec<u8> = (0..m.rows).flat_map(|r| m.unpack_row(r)).collect();
    let table = FreqTable::from_symbols(&codes, 12).unwrap();
    rans::encode(&codes, &table, block_rows * m.cols).unwrap()
}

fn fused_once(ctx: &GpuContext, key: &FusedKey, w: &GpuCodedMatrix, x: &[f32]) -> Vec<f32> {
    let batch = key.gemv.batch as usize;
    let x_stride = w.cols.div_ceil(4) * 4;
    let mut xs = vec![0f32; batch * x_stride];
    for b in 0..batch {
        xs[b * x_stride..b * x_stride + w.cols].copy_from_slice(&x[b * w.cols..(b + 1) * w.cols]);
    }
    let xb = ctx.storage_buffer("x", bytemuck::cast_slice(&xs));
    let yb = ctx.storage_buffer("y", bytemuck::cast_slice(&vec![f32::NAN; batch * w.rows]));
    let status = status_buffer(ctx);
    let plan = GemvFused::new(ctx)
        .plan(
            key,
            w,
            Vectors { buffer: &xb, stride: x_stride as u32 },
            Vectors { buffer: &yb, stride: w.rows as u32 },
            &status,
        )
        .unwrap();
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        plan.encode(&mut pass);
    }
    ctx.queue.submit([enc.finish()]);
    pollster::block_on(check_status(ctx, "fused", &status)).unwrap();
    pollster::block_on(ctx.read_vec(&yb)).unwrap()
}

fn check(ctx: &GpuContext) {
    let (mut rng, seed) = Rng::fresh();
    let gemv = Gemv::new(ctx);
    let mut runs = 0;
    for (bits, gs, rows, cols, block_rows) in
        [(4, 64, 67, 256, 3), (8, 32, 40, 96, 7), (2, 32, 33, 128, 1), (4, 128, 130, 640, 2)]
    {
        let spec = AffineSpec::new(bits, gs).unwrap();
        let m = quantize("w", &rng.weights(rows * cols, 0.05), rows, cols, spec).unwrap();
        let enc = coded(&m, block_rows);
        let cm = CodedAffine { spec, rows, cols, block_rows, stream: &enc, scales: &m.scales, biases: &m.biases };
        let gc = GpuCodedMatrix::upload(ctx, "w", cm).unwrap();
        let gm = GpuMatrix::upload(ctx, "w", &Matrix::Affine(m.clone())).unwrap();
        for path in KernelPath::all_supported(&ctx.caps) {
            for batch in [1, 3] {
                let gkey =
                    GemvKey::tuned(WeightFormat::Affine(spec), batch, rows, cols, &ctx.caps, Some(path)).unwrap();
                let fkey = FusedKey::for_matrix(&ctx.caps, &gkey, &gc).unwrap();
                let x = rng.signed(batch as usize * cols);
                let plain = pollster::block_on(run_once(ctx, &gemv, &gkey, &gm, &x)).unwrap();
                let fused = fused_once(ctx, &fkey, &gc, &x);
                let same = plain.iter().zip(&fused).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "seed {seed}: {} differs from the plain GEMV", ecq::gpu::PipelineKey::label(&fkey));
                runs += 1;
            }
        }
    }
    assert!(runs >= 8);
}

#[test]
fn fused_equals_plain_gemv_bit_for_bit() {
    check(&common::gpu());
}

#[test]
fn fused_fallback_path_equals_plain_gemv_bit_for_bit() {
    check(&common::gpu_fallback());
}

#[test]
fn fused_refuses_what_it_cannot_fuse() {
    let ctx = common::gpu();
    let spec = AffineSpec::new(3, 32).unwrap();
    let mut rng = Rng::new(1);
    let m = quantize("w", &rng.weights(8 * 64, 0.05), 8, 64, spec).unwrap();
    let enc = coded(&m, 2);
    let gc = GpuCodedMatrix::upload(
        &ctx,
        "w",
        CodedAffine { spec, rows: 8, cols: 64, block_rows: 2, stream: &enc, scales: &m.scales, biases: &m.biases },
    )
    .unwrap();
    let gkey = GemvKey::tuned(WeightFormat::Affine(spec), 1, 8, 64, &ctx.caps, None).unwrap();
    assert!(matches!(FusedKey::for_matrix(&ctx.caps, &gkey, &gc), Err(ecq::Error::Unsupported(_))));
}
