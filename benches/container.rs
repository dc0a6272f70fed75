//! CPU speed of the container on real codes: storing affine matrices as `affine-rans` (unpack,
//! histogram, table, rANS encode, checksum) and decoding them back (rANS decode, checksum,
//! packing), on one thread and on all cores.
//!
//! Data: the Q4_1 codes of SmolLM2-135M layers 0-3 (28 matrices, 14.2M codes, lossless import)
//! when the model is cached (`ecq fetch smollm2`), else the built-in MiniLM layer quantized to
//! q4g64 (6 matrices, 1.8M codes). Throughput: codes/s (one byte per code once unpacked) and
//! coded bytes/s.
//!
//! `cargo bench --bench container`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ecq::container::{Coding, Tensor};
use ecq::quant::{AffineSpec, QuantizedMatrix, quantize};

fn matrices() -> (String, Vec<(String, QuantizedMatrix)>) {
    let path = ecq::model::smollm2::gguf_path();
    if let Ok(g) = ecq::io::Gguf::open(&path) {
        let ms = g
            .tensors()
            .iter()
            .filter(|t| ["blk.0.", "blk.1.", "blk.2.", "blk.3."].iter().any(|p| t.name.starts_with(p)))
            .filter_map(|t| Some((t.name.clone(), g.quantized_matrix(&t.name).ok()?)))
            .collect();
        return ("SmolLM2-135M Q4_1 codes, layers 0-3".into(), ms);
    }
    let spec = AffineSpec::new(4, 64).unwrap();
    let ms = ecq::io::load_demo_fixture()
        .unwrap()
        .into_iter()
        .map(|f| {
            let (r, c) = f.matrix_shape().unwrap();
            (f.name.clone(), quantize(&f.name, &f.data, r, c, spec).unwrap())
        })
        .collect();
    (format!("built-in MiniLM layer at q4g64 ({} not cached)", path.display()), ms)
}

fn bench(c: &mut Criterion) {
    let (what, ms) = matrices();
    let codes: usize = ms.iter().map(|(_, m)| m.rows * m.cols).sum();
    let encode =
        || -> Vec<Tensor> { ms.iter().map(|(n, m)| Tensor::affine(n, m.clone(), Coding::Rans).unwrap()).collect() };
    let tensors = encode();
    let coded: usize = tensors.iter().map(|t| t.rans().unwrap().sizes().total()).sum();
    eprintln!(
        "{what}: {} matrices, {codes} codes, {coded} coded bytes ({:.4} bits/code), {} threads",
        ms.len(),
        coded as f64 * 8.0 / codes as f64,
        rayon::current_num_threads()
    );
    let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let all = rayon::current_num_threads();
    let mut g = c.benchmark_group("container");
    g.sample_size(10);
    g.throughput(Throughput::ElementsAndBytes { elements: codes as u64, bytes: coded as u64 });
    g.bench_function("store affine-rans/1 thread", |b| b.iter(|| single.install(|| black_box(encode()))));
    g.bench_function(format!("store affine-rans/{all} threads"), |b| b.iter(|| black_box(encode())));
    let decode = || tensors.iter().map(|t| t.decode_cpu().unwrap()).collect::<Vec<_>>();
    g.bench_function("decode_cpu/1 thread", |b| b.iter(|| single.install(|| black_box(decode()))));
    g.bench_function(format!("decode_cpu/{all} threads"), |b| b.iter(|| black_box(decode())));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
