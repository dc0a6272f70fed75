//! The transformer kernels (RMSNorm, RoPE + KV store, attention, SwiGLU, residual add, embedding
//! lookup, argmax) on the GPU against their CPU references, on fresh random data with odd shapes
//! and poisoned outputs. These families have one path (no f16 or subgroup variant), which is
//! also run on the fallback device.

mod common;

use ecq::cpu::{self, AttentionShape};
use ecq::gpu::GpuContext;
use ecq::kernels::add::{self, Add};
use ecq::kernels::argmax::Argmax;
use ecq::kernels::attention::{self, Attention};
use ecq::kernels::embed::{self, Embed};
use ecq::kernels::rmsnorm::{self, RmsNorm, RmsNormShape};
use ecq::kernels::rope::{self, Rope, RopeBuffers, RopeShape};
use ecq::kernels::swiglu::{self, SwiGlu};
use ecq::kernels::{GpuMatrix, Step, StepUniform};
use ecq::rng::Rng;
use ecq::weights::{Matrix, WeightFormat};

fn buf(ctx: &GpuContext, v: &[f32]) -> wgpu::Buffer {
    ctx.storage_buffer("test", bytemuck::cast_slice(v))
}

fn poisoned(ctx: &GpuContext, n: usize) -> wgpu::Buffer {
    buf(ctx, &vec![f32::NAN; n])
}

fn read(ctx: &GpuContext, b: &wgpu::Buffer) -> Vec<f32> {
    ctx.read_vec_blocking(b).unwrap()
}

/// Writes the step, records `f` into one pass and submits.
fn run(ctx: &GpuContext, step: &StepUniform, s: Step, f: impl FnOnce(&mut wgpu::ComputePass<'_>)) {
    step.write(&ctx.queue, s);
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        f(&mut pass);
    }
    ctx.queue.submit([enc.finish()]);
    ctx.check_errors().unwrap();
}

fn check(what: &str, seed: u64, got: &[f32], want: &[f32], bound: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    let e = cpu::rel_err(got, want);
    assert!(e <= bound, "seed {seed} {what}: rel err {e:.3e} > {bound:.1e}");
    assert!(got.iter().all(|v| v.is_finite()), "seed {seed} {what}: unwritten (NaN) outputs");
}

fn rmsnorm_matches_cpu(ctx: &GpuContext) {
    let (mut rng, seed) = Rng::fresh();
    let step = StepUniform::new(ctx);
    let k = RmsNorm::new(ctx);
    for (dim, n) in [(67usize, 3usize), (576, 8), (1, 1)] {
        let x = rng.signed(dim * n).iter().map(|v| v * 4.0).collect::<Vec<_>>();
        let w = rng.signed(dim);
        let (xb, wb, yb) = (buf(ctx, &x), buf(ctx, &w), poisoned(ctx, dim * n));
        let plan = k.plan(&step, &xb, &wb, &yb, RmsNormShape { dim, eps: 1e-5, last_only: false }).unwrap();
        run(ctx, &step, Step::new(0, n as u32), |p| plan.encode(p, n as u32));
        check(
            &format!("rmsnorm {dim}x{n}"),
            seed,
            &read(ctx, &yb),
            &cpu::rmsnorm(&x, &w, 1e-5),
            rmsnorm::REL_ERR_BOUND,
        );
        // The last token only, into vector 0.
        let lb = poisoned(ctx, dim);
        let plan = k.plan(&step, &xb, &wb, &lb, RmsNormShape { dim, eps: 1e-5, last_only: true }).unwrap();
        run(ctx, &step, Step::new(0, n as u32), |p| plan.encode(p, n as u32));
        let want = cpu::rmsnorm(&x[(n - 1) * dim..], &w, 1e-5);
        check(&format!("rmsnorm last of {dim}x{n}"), seed, &read(ctx, &lb), &want, rmsnorm::REL_ERR_BOUND);
    }
    assert!(
        k.plan(
            &step,
            &poisoned(ctx, 4),
            &poisoned(ctx, 4),
            &poisoned(ctx, 4),
            RmsNormShape { dim: 8, eps: 1e-5, last_only: false }
        )
        .is_err()
    );
}

#[test]
fn rmsnorm_gpu_matches_cpu() {
    rmsnorm_matches_cpu(&common::gpu());
}

#[test]
fn rope_rotates_q_and_stores_k_v_in_the_cache() {
    let ctx = common::gpu();
    let (mut rng, seed) = Rng::fresh();
    let step = StepUniform::new(&ctx);
    let k = Rope::new(&ctx);
    for (shape, pos0, n) in [
        (RopeShape { n_heads: 9, n_kv_heads: 3, head_dim: 64 }, 13usize, 5usize),
        (RopeShape { n_heads: 5, n_kv_heads: 5, head_dim: 6 }, 0, 1),
        (RopeShape { n_heads: 4, n_kv_heads: 1, head_dim: 128 }, 200, 8),
    ] {
        let (qd, kvd, max_pos) = (shape.n_heads * shape.head_dim, shape.n_kv_heads * shape.head_dim, 256);
        let (q, kk, v) = (rng.signed(n * qd), rng.signed(n * kvd), rng.signed(n * kvd));
        let table = k.table(100000.0, shape.head_dim, max_pos);
        let (qb, kb, vb) = (buf(&ctx, &q), buf(&ctx, &kk), buf(&ctx, &v));
        let (kc, vc) = (poisoned(&ctx, max_pos * kvd), poisoned(&ctx, max_pos * kvd));
        let b = RopeBuffers { table: &table, q: &qb, k: &kb, v: &vb, k_cache: &kc, v_cache: &vc };
        let plan = k.plan(&step, shape, b).unwrap();
        run(&ctx, &step, Step::new(pos0 as u32, n as u32), |p| plan.encode(p, n as u32));
        let t = cpu::rope_table(100000.0, shape.head_dim, max_pos);
        let (mut want_q, mut want_k) = (q.clone(), kk.clone());
        cpu::rope(&mut want_q, shape.n_heads, shape.head_dim, pos0, &t);
        cpu::rope(&mut want_k, shape.n_kv_heads, shape.head_dim, pos0, &t);
        let what = format!("rope {shape:?} at {pos0}");
        check(&what, seed, &read(&ctx, &qb), &want_q, rope::REL_ERR_BOUND);
        let (kc, vc) = (read(&ctx, &kc), read(&ctx, &vc));
        let rows = pos0 * kvd..(pos0 + n) * kvd;
        check(&what, seed, &kc[rows.clone()], &want_k, rope::REL_ERR_BOUND);
        assert_eq!(&vc[rows.clone()], &v[..], "{what}: V stored as is");
        let outside = kc.iter().enumerate().filter(|(i, _)| !rows.contains(i));
        assert!(outside.clone().all(|(_, x)| x.is_nan()), "{what}: wrote outside its positions");
    }
}

fn attention_matches_cpu(ctx: &GpuContext) {
    let (mut rng, seed) = Rng::fresh();
    let step = StepUniform::new(ctx);
    let k = Attention::new(ctx);
    for (shape, pos0, n) in [
        (AttentionShape { n_heads: 9, n_kv_heads: 3, head_dim: 64 }, 0usize, 5usize),
        (AttentionShape { n_heads: 9, n_kv_heads: 3, head_dim: 64 }, 70, 1),
        (AttentionShape { n_heads: 9, n_kv_heads: 3, head_dim: 64 }, 130, 8),
        (AttentionShape { n_heads: 4, n_kv_heads: 4, head_dim: 128 }, 3, 2),
        (AttentionShape { n_heads: 6, n_kv_heads: 2, head_dim: 20 }, 200, 3),
    ] {
        let (qd, kvd, len) = (shape.n_heads * shape.head_dim, shape.n_kv_heads * shape.head_dim, pos0 + n);
        // Scores of a few units, as in a real model, so the softmax is neither flat nor one-hot.
        let q: Vec<f32> = rng.signed(n * qd).iter().map(|v| v * 3.0).collect();
        let (kc, vc) = (rng.signed(len * kvd), rng.signed(len * kvd));
        let (qb, kb, vb, ob) = (buf(ctx, &q), buf(ctx, &kc), buf(ctx, &vc), poisoned(ctx, n * qd));
        let plan = k.plan(&step, shape, &qb, &kb, &vb, &ob).unwrap();
        run(ctx, &step, Step::new(pos0 as u32, n as u32), |p| plan.encode(p, n as u32));
        let want = cpu::attention(&q, &kc, &vc, pos0, shape);
        check(&format!("attention {shape:?} at {pos0}+{n}"), seed, &read(ctx, &ob), &want, attention::REL_ERR_BOUND);
    }
}

#[test]
fn attention_gpu_matches_cpu_for_decode_and_prefill() {
    attention_matches_cpu(&common::gpu());
}

#[test]
fn attention_rejects_unsupported_head_sizes() {
    let ctx = common::gpu();
    let (step, b) = (StepUniform::new(&ctx), poisoned(&ctx, 4096));
    let shape = AttentionShape { n_heads: 2, n_kv_heads: 1, head_dim: 18 };
    assert!(Attention::new(&ctx).plan(&step, shape, &b, &b, &b, &b).is_err());
}

#[test]
fn swiglu_and_add_match_cpu() {
    let ctx = common::gpu();
    let (mut rng, seed) = Rng::fresh();
    for (width, n) in [(1536usize, 3usize), (67, 8)] {
        let (g, u) = (rng.signed(width * n), rng.signed(width * n));
        let g: Vec<f32> = g.iter().map(|v| v * 8.0).collect();
        let (gb, ub, ob) = (buf(&ctx, &g), buf(&ctx, &u), poisoned(&ctx, width * n));
        let plan = SwiGlu::new(&ctx).plan(&gb, &ub, &ob, width).unwrap();
        let step = StepUniform::new(&ctx);
        run(&ctx, &step, Step::new(0, n as u32), |p| plan.encode(p, n as u32));
        check("swiglu", seed, &read(&ctx, &ob), &cpu::swiglu(&g, &u), swiglu::REL_ERR_BOUND);

        let h = rng.signed(width * n);
        let hb = buf(&ctx, &h);
        let plan = Add::new(&ctx).plan(&gb, &hb, width).unwrap();
        run(&ctx, &step, Step::new(0, n as u32), |p| plan.encode(p, n as u32));
        let mut want = h.clone();
        cpu::add(&mut want, &g);
        check("add", seed, &read(&ctx, &hb), &want, add::REL_ERR_BOUND);
    }
}

#[test]
fn embedding_lookup_dequantizes_every_format() {
    let ctx = common::gpu();
    let (mut rng, seed) = Rng::fresh();
    let (rows, cols) = (101, 67);
    let w = rng.weights(rows * cols, 0.05);
    let tokens = [5u32, 100, 0, 5];
    let tb = ctx.storage_buffer("tokens", bytemuck::cast_slice(&tokens));
    let k = Embed::new(&ctx);
    for format in ["q8g32", "q4g32", "q3g64", "q2g128", "f16", "f32"] {
        let m = Matrix::from_f32("emb", &w, rows, cols, WeightFormat::parse(format).unwrap()).unwrap();
        let gm = GpuMatrix::upload(&ctx, "emb", &m).unwrap();
        let out = poisoned(&ctx, tokens.len() * cols);
        let plan = k.plan(&tb, &gm, &out).unwrap();
        let step = StepUniform::new(&ctx);
        run(&ctx, &step, Step::new(0, tokens.len() as u32), |p| plan.encode(p, tokens.len() as u32));
        let want = cpu::embed(&m, &tokens).unwrap();
        check(&format!("embed {format}"), seed, &read(&ctx, &out), &want, embed::REL_ERR_BOUND);
    }
}

#[test]
fn embedding_lookup_across_table_parts() {
    let mut o = ecq::gpu::ContextOptions::from_env();
    o.max_storage_binding = Some(4096);
    let ctx = common::gpu_with(&o);
    let (mut rng, seed) = Rng::fresh();
    let (rows, cols) = (300, 128);
    let m = Matrix::from_f32("emb", &rng.weights(rows * cols, 0.05), rows, cols, WeightFormat::parse("q8g32").unwrap())
        .unwrap();
    let gm = GpuMatrix::upload(&ctx, "emb", &m).unwrap();
    assert!(gm.parts.len() > 2, "expected a split table");
    let tokens = [299u32, 0, 150, 31, 32];
    let tb = ctx.storage_buffer("tokens", bytemuck::cast_slice(&tokens));
    let out = poisoned(&ctx, tokens.len() * cols);
    let plan = Embed::new(&ctx).plan(&tb, &gm, &out).unwrap();
    let step = StepUniform::new(&ctx);
    run(&ctx, &step, Step::new(0, 5), |p| plan.encode(p, 5));
    check("embed split", seed, &read(&ctx, &out), &cpu::embed(&m, &tokens).unwrap(), embed::REL_ERR_BOUND);
}

fn argmax_matches_cpu(ctx: &GpuContext) {
    let (mut rng, seed) = Rng::fresh();
    let k = Argmax::new(ctx);
    for len in [49152usize, 1000, 3] {
        let mut x = rng.signed(2 * len);
        // Vector 1: a tie at the top (the lower index wins) and NaNs (never chosen).
        let hi = (rng.below(len as u64 / 2) as usize).max(1);
        x[len + hi] = 5.0;
        x[len + len - 1] = 5.0;
        x[len] = f32::NAN;
        let (xb, ob) = (buf(ctx, &x), ctx.storage_buffer("out", &[0xFF; 8]));
        let plan = k.plan(&xb, &ob, len).unwrap();
        let step = StepUniform::new(ctx);
        run(ctx, &step, Step::new(0, 2), |p| plan.encode(p, 2));
        let got: Vec<u32> = ctx.read_vec_blocking(&ob).unwrap();
        let want = [cpu::argmax(&x[..len]), cpu::argmax(&x[len..])];
        assert_eq!(got, want, "seed {seed} len {len}");
        assert_eq!(want[1] as usize, hi);
    }
    // All -inf: index 0, like the reference.
    let xb = buf(ctx, &[f32::NEG_INFINITY; 300]);
    let ob = ctx.storage_buffer("out", &[0xFF; 4]);
    let plan = k.plan(&xb, &ob, 300).unwrap();
    run(ctx, &StepUniform::new(ctx), Step::new(0, 1), |p| plan.encode(p, 1));
    assert_eq!(ctx.read_vec_blocking::<u32>(&ob).unwrap(), [0]);
}

#[test]
fn argmax_gpu_equals_cpu_exactly() {
    argmax_matches_cpu(&common::gpu());
}

#[test]
fn fallback_device_runs_the_same_kernels() {
    let ctx = common::gpu_fallback();
    assert!(!ctx.caps.f16 && !ctx.caps.subgroups);
    rmsnorm_matches_cpu(&ctx);
    attention_matches_cpu(&ctx);
    argmax_matches_cpu(&ctx);
}
