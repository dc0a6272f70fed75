//! Decode strategies: every strategy gives outputs bit-identical to `decode-once` over a stack
//! of layers with different shapes and code widths; LRU eviction; async over many layers; the
//! fallback path (no f16, no subgroups).

mod common;

use ecq::gpu::GpuContext;
use ecq::kernels::GpuMatrix;
use ecq::kernels::gemv::{Gemv, GemvKey, run_once};
use ecq::quant::{AffineSpec, quantize};
use ecq::rng::Rng;
use ecq::sched::{CodedTensor, Layer, LayerStack, SchedOptions, Strategy};
use ecq::weights::Matrix;

/// (bits, group, rows, cols, coded): odd shapes; 3-bit and 80-column layers take the
/// decode-at-load path, the last-but-one is stored uncoded.
const SHAPES: [(u32, u32, usize, usize, bool); 7] = [
    (4, 64, 67, 256, true),
    (8, 32, 40, 96, true),
    (2, 32, 33, 128, true),
    (3, 32, 24, 64, true),
    (4, 32, 19, 80, true),
    (4, 64, 16, 128, false),
    (4, 128, 130, 640, true),
];

fn stack_layers(rng: &mut Rng, shapes: &[(u32, u32, usize, usize, bool)]) -> Vec<Layer> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, &(bits, gs, rows, cols, coded))| {
            let spec = AffineSpec::new(bits, gs).unwrap();
            let m = quantize("w", &rng.weights(rows * cols, 0.05), rows, cols, spec).unwrap();
            let name = format!("layer{i}");
            if coded {
                Layer::coded(&name, CodedTensor::encode(&m).unwrap())
            } else {
                Layer::plain(&name, Matrix::Affine(m))
            }
        })
        .collect()
}

fn inputs(rng: &mut Rng, layers: &[Layer]) -> Vec<Vec<f32>> {
    layers.iter().map(|l| rng.signed(l.cols())).collect()
}

fn run(ctx: &GpuContext, layers: &[Layer], s: Strategy, x: &[Vec<f32>]) -> (LayerStack, Vec<Vec<f32>>) {
    let mut st =
        LayerStack::new(ctx, layers.to_vec(), s, SchedOptions::default()).unwrap_or_else(|e| panic!("{s}: {e}"));
    let y = st.run(x).unwrap_or_else(|e| panic!("{s}: {e}"));
    (st, y)
}

fn same_bits(a: &[Vec<f32>], b: &[Vec<f32>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(u, v)| u.len() == v.len() && u.iter().zip(v).all(|(p, q)| p.to_bits() == q.to_bits()))
}

fn check_all(ctx: &GpuContext) {
    let (mut rng, seed) = Rng::fresh();
    let layers = stack_layers(&mut rng, &SHAPES);
    let x = inputs(&mut rng, &layers);
    let (_, once) = run(ctx, &layers, Strategy::DecodeOnce, &x);
    // decode-once against the plain GEMV of the CPU-decoded codes.
    let gemv = Gemv::new(ctx);
    for (i, l) in layers.iter().enumerate() {
        let m = match &l.weights {
            ecq::sched::LayerWeights::Coded(t) => Matrix::Affine(t.to_matrix(&l.name).unwrap()),
            ecq::sched::LayerWeights::Plain(m) => (**m).clone(),
        };
        let key = GemvKey::tuned(m.format(), 1, m.rows(), m.cols(), &ctx.caps, None).unwrap();
        let gm = GpuMatrix::upload(ctx, "ref", &m).unwrap();
        let y = pollster::block_on(run_once(ctx, &gemv, &key, &gm, &x[i])).unwrap();
        assert!(same_bits(&[y], &[once[i].clone()]), "seed {seed}: decode-once layer {i} differs from plain GEMV");
    }
    let one_layer = 130 * 640 / 2;
    let strategies = [
        Strategy::Fused,
        Strategy::Lru { budget_bytes: one_layer as u64 },
        Strategy::Async,
        Strategy::PrefetchCpu,
        Strategy::Auto { budget: Some(1) },
        Strategy::Auto { budget: None },
    ];
    for s in strategies {
        let (mut st, y) = run(ctx, &layers, s, &x);
        assert!(same_bits(&y, &once), "seed {seed}: {s} differs from decode-once");
        // A second token with new inputs (slots and caches already warm).
        let x2 = inputs(&mut rng, &layers);
        let y2 = st.run(&x2).unwrap();
        let mut o = LayerStack::new(ctx, layers.clone(), Strategy::DecodeOnce, SchedOptions::default()).unwrap();
        assert!(same_bits(&y2, &o.run(&x2).unwrap()), "seed {seed}: {s} second token differs");
        assert!(st.gpu_bytes() > 0 && !st.scheduler().explain().is_empty());
    }
    // prefetch-cpu recorded in one pass (as a model's forward pass records it).
    let mut st = LayerStack::new(ctx, layers.clone(), Strategy::PrefetchCpu, SchedOptions::default()).unwrap();
    st.set_inputs(&x).unwrap();
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    st.record_token(&mut enc, None).unwrap();
    ctx.queue.submit([enc.finish()]);
    assert!(same_bits(&st.outputs().unwrap(), &once), "seed {seed}: prefetch-cpu in one pass differs");
}

#[test]
fn every_strategy_is_bit_identical_to_decode_once() {
    check_all(&common::gpu());
}

#[test]
fn every_strategy_on_the_fallback_path() {
    let ctx = common::gpu_fallback();
    assert!(!ctx.caps.path().subgroups && !ctx.caps.path().f16);
    check_all(&ctx);
}

fn uniform_layers(rng: &mut Rng, n: usize) -> Vec<Layer> {
    let shapes: Vec<_> = (0..n).map(|i| (4, 64, 48 + 16 * (i % 3), 128, true)).collect();
    stack_layers(rng, &shapes)
}

#[test]
fn lru_evicts_under_a_tiny_budget() {
    let ctx = common::gpu();
    let (mut rng, seed) = Rng::fresh();
    let layers = uniform_layers(&mut rng, 6);
    let x = inputs(&mut rng, &layers);
    let (_, once) = run(&ctx, &layers, Strategy::DecodeOnce, &x);
    // Room for about one layer: every use misses, every miss but the first evicts.
    let one = 80 * 128 / 2;
    let (mut st, y) = run(&ctx, &layers, Strategy::Lru { budget_bytes: one }, &x);
    assert!(same_bits(&y, &once), "seed {seed}");
    let s = st.scheduler().stats();
    assert_eq!((s.hits, s.misses, s.evictions), (0, 6, 5), "{s:?}");
    assert!(st.gpu_bytes() <= st.scheduler().gpu_bytes());
    st.run(&x).unwrap();
    let s = st.scheduler().stats();
    assert_eq!((s.hits, s.misses, s.evictions), (0, 12, 11), "{s:?}");
    // Room for all: the second token hits every layer.
    let (mut st, _) = run(&ctx, &layers, Strategy::Lru { budget_bytes: 1 << 20 }, &x);
    st.scheduler_mut().reset_stats();
    assert!(same_bits(&st.run(&x).unwrap(), &once), "seed {seed}");
    let s = st.scheduler().stats();
    assert_eq!((s.hits, s.misses, s.evictions), (6, 0, 0), "{s:?}");
}

#[test]
fn async_runs_many_more_layers_than_slots() {
    let ctx = common::gpu();
    let (mut rng, seed) = Rng::fresh();
    let layers = uniform_layers(&mut rng, 12);
    let x = inputs(&mut rng, &layers);
    let (_, once) = run(&ctx, &layers, Strategy::DecodeOnce, &x);
    let (fused, _) = run(&ctx, &layers, Strategy::Fused, &x);
    let (mut st, y) = run(&ctx, &layers, Strategy::Async, &x);
    assert!(same_bits(&y, &once), "seed {seed}");
    // The first layer is decoded on demand, every later one was prefetched.
    let s = st.scheduler().stats();
    assert_eq!((s.misses, s.hits, s.gpu_decodes), (1, 11, 13), "{s:?}");
    // The last layer prefetched the first for the next token.
    st.scheduler_mut().reset_stats();
    assert!(same_bits(&st.run(&x).unwrap(), &once), "seed {seed}");
    assert_eq!((st.scheduler().stats().misses, st.scheduler().stats().hits), (0, 12));
    // The coded layers (what fused holds) plus two slots for the largest layer (80 rows of 64
    // bytes), not twelve decoded layers.
    assert_eq!(st.gpu_bytes(), fused.gpu_bytes() + 2 * 80 * 64);
}

#[test]
fn auto_says_what_it_picked_and_why() {
    let ctx = common::gpu();
    let mut rng = Rng::new(5);
    let layers = uniform_layers(&mut rng, 3);
    let st = LayerStack::new(&ctx, layers.clone(), "auto".parse().unwrap(), SchedOptions::default()).unwrap();
    assert_eq!(st.scheduler().strategy(), Strategy::DecodeOnce);
    assert!(st.scheduler().explain().contains("decode-once"));
    let st = LayerStack::new(&ctx, layers, "auto:1KiB".parse().unwrap(), SchedOptions::default()).unwrap();
    assert_ne!(st.scheduler().strategy(), Strategy::DecodeOnce);
    assert!(st.scheduler().explain().contains("budget"), "{}", st.scheduler().explain());
}

#[test]
fn bad_inputs_are_errors() {
    let ctx = common::gpu();
    let mut rng = Rng::new(6);
    let layers = uniform_layers(&mut rng, 2);
    let mut st = LayerStack::new(&ctx, layers, Strategy::Async, SchedOptions::default()).unwrap();
    assert!(st.run(&[vec![0.0; 128]]).is_err());
    assert!(st.run(&[vec![0.0; 128], vec![0.0; 5]]).is_err());
    assert!(LayerStack::new(&ctx, vec![], Strategy::Fused, SchedOptions::default()).is_err());
}

#[test]
fn a_stack_opens_from_an_ecq_file() {
    use ecq::container::{Coding, Container, Tensor};
    let ctx = common::gpu();
    let mut rng = Rng::new(8);
    let mut tensors = Vec::new();
    for (i, (bits, rows, cols, coding)) in
        [(4, 40, 128, Coding::Rans), (8, 24, 64, Coding::Packed)].into_iter().enumerate()
    {
        let spec = AffineSpec::new(bits, 32).unwrap();
        let m = quantize("w", &rng.weights(rows * cols, 0.05), rows, cols, spec).unwrap();
        tensors.push(Tensor::affine(&format!("t{i}"), m, coding).unwrap());
    }
    tensors.push(Tensor::f32("norm", vec![8], vec![1.0; 8]).unwrap());
    let path = std::env::temp_dir().join(format!("ecq-strategies-{}.ecq", std::process::id()));
    Container::new(tensors).unwrap().write(&path).unwrap();
    let mut once = LayerStack::open(&ctx, &path, Strategy::DecodeOnce).unwrap();
    let mut fused = LayerStack::open(&ctx, &path, Strategy::Fused).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(once.shapes(), &[(40, 128), (24, 64)]);
    let x: Vec<Vec<f32>> = once.shapes().iter().map(|&(_, c)| rng.signed(c)).collect();
    assert!(same_bits(&once.run(&x).unwrap(), &fused.run(&x).unwrap()));
    assert_eq!(fused.scheduler().stats().fused, 1, "the rANS tensor fused, the packed one resident");
}
