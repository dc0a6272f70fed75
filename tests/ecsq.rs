//! ECSQ on the GPU: the rANS stream decoded into the q8 layout (bit-exact with the CPU's
//! `to_runtime`), the q8 GEMV plus the sparse outlier correction against the CPU reference, on
//! odd shapes; and the container kind `ecsq` round trip.

mod common;

use ecq::ecsq::{EcsqMatrix, EcsqParams, Input};
use ecq::gpu::GpuContext;
use ecq::kernels::ecsq::decode_to_gpu;
use ecq::kernels::gemv::{Gemv, Vectors};
use ecq::kernels::sparse_add::SparseAdd;
use ecq::rng::Rng;

/// Heavy-tailed weights with a few large values (outliers at coarse steps).
fn weights(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let v = rng.normal() * 0.02 * (1.0 + rng.uniform() * 2.0);
            if i % 331 == 7 { v * 60.0 } else { v }
        })
        .collect()
}

fn quantized(rng: &mut Rng, rows: usize, cols: usize, bpw: f64) -> (Vec<f32>, EcsqMatrix, Vec<f32>) {
    let w = weights(rng, rows * cols);
    let input = Input::new("t", &w, rows, cols).unwrap();
    let q = EcsqMatrix::quantize_to_bpw(&input, bpw, &EcsqParams::default()).unwrap();
    (w, q.matrix, q.reconstruction)
}

/// `y = W x` on the GPU: q8 GEMV of the body, then the outliers' sparse correction.
fn gpu_gemv(ctx: &GpuContext, m: &EcsqMatrix, x: &[f32]) -> (Vec<u32>, Vec<f32>) {
    let g = pollster::block_on(decode_to_gpu(ctx, "t", m)).unwrap();
    let words: Vec<u32> = ctx.read_vec_blocking(&g.body.parts[0].weights).unwrap();
    let gemv = Gemv::new(ctx);
    let key = gemv.key(g.body.format, 1, m.rows(), m.cols()).unwrap();
    let x_stride = m.cols().div_ceil(4) * 4;
    let mut xs = vec![0f32; x_stride];
    xs[..m.cols()].copy_from_slice(x);
    let xbuf = ctx.storage_buffer("x", bytemuck::cast_slice(&xs));
    let ybuf = ctx.storage_buffer("y", bytemuck::cast_slice(&vec![f32::NAN; m.rows()]));
    let plan = gemv
        .plan(
            &key,
            &g.body,
            Vectors { buffer: &xbuf, stride: x_stride as u32 },
            Vectors { buffer: &ybuf, stride: m.rows() as u32 },
        )
        .unwrap();
    let sparse = SparseAdd::new(ctx).plan(&g.outliers, &xbuf, x_stride, &ybuf, m.rows(), 1).unwrap();
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        plan.encode(&mut pass);
    }
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        sparse.encode(&mut pass);
    }
    ctx.queue.submit([enc.finish()]);
    let y: Vec<f32> = ctx.read_vec_blocking(&ybuf).unwrap();
    ctx.check_errors().unwrap();
    (words, y)
}

#[test]
fn gpu_decode_is_bit_exact_and_gemv_plus_outliers_matches_the_cpu() {
    let ctx = common::gpu();
    let (mut rng, seed) = Rng::fresh();
    for &(rows, cols, bpw) in &[(67usize, 100usize, 3.0), (33, 256, 3.5), (23, 45, 7.0), (67, 130, 2.5)] {
        let (_, m, _) = quantized(&mut rng, rows, cols, bpw);
        let rt = m.to_runtime().unwrap();
        let x: Vec<f32> = (0..cols).map(|_| rng.normal()).collect();
        let (words, y) = gpu_gemv(&ctx, &m, &x);
        assert_eq!(words, rt.matrix.codes, "seed {seed}: GPU decode of {rows}x{cols} differs from the CPU");
        let key = Gemv::new(&ctx).key(ecq::weights::WeightFormat::Affine(rt.matrix.spec), 1, rows, cols).unwrap();
        let body = ecq::weights::Matrix::Affine(rt.matrix.clone());
        let (mut want, scale) = ecq::kernels::gemv::reference(&key, &body, &x, 1).unwrap();
        rt.outliers.add_to(&x, 1, &mut want).unwrap();
        let bound = ecq::kernels::gemv::error_bound(&key);
        for r in 0..rows {
            let tol = bound * f64::from(scale[r]) + 1e-5 * f64::from(want[r].abs()) + 1e-6;
            assert!(
                (f64::from(y[r]) - f64::from(want[r])).abs() <= tol,
                "seed {seed}: {rows}x{cols} row {r}: GPU {} vs CPU {} (outliers: {})",
                y[r],
                want[r],
                m.outliers().len()
            );
        }
    }
}

#[test]
fn container_stores_and_verifies_ecsq() {
    let (mut rng, _) = Rng::fresh();
    let (_, m, rec) = quantized(&mut rng, 19, 77, 3.0);
    let t = ecq::container::Tensor::ecsq("w", m).unwrap();
    assert_eq!(t.kind(), ecq::container::Kind::Ecsq);
    let c = ecq::container::Container::new(vec![t]).unwrap();
    let bytes = c.to_bytes();
    let back = ecq::container::Container::from_bytes(&bytes).unwrap();
    let m = back.tensors()[0].decode_cpu().unwrap();
    match m {
        ecq::weights::Matrix::F32 { data, .. } => assert_eq!(data, rec),
        _ => panic!("ecsq decodes to f32"),
    }
    // Every byte flip is an error or a checksum failure, never a panic or silent change.
    for i in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 0x10;
        if let Ok(c) = ecq::container::Container::from_bytes(&b) {
            if let Ok(ecq::weights::Matrix::F32 { data, .. }) = c.tensors()[0].decode_cpu() {
                assert_eq!(data, rec, "byte {i}: decoded to something else without an error");
            }
        }
    }
}
