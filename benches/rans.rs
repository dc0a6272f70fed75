//! CPU rANS throughput on 16M 4-bit codes with ~3.7 bits of entropy (16-level discretized
//! Gaussian), blocks of 7 rows of 4096 (the `rows_per_block` choice), single-threaded and on
//! all cores. Throughput is reported as symbols/s and as coded (compressed) bytes/s.
//!
//! `cargo bench --bench rans -- --quick`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ecq::rans::{self, FreqTable};

const N: usize = 16 << 20;
const ROW_LEN: usize = 4096;

/// splitmix64 uniform in [0, 1).
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// 16 levels of a Gaussian with sigma 3.4 levels: ~3.70 bits per symbol.
fn gaussian_codes(n: usize) -> Vec<u8> {
    let w: Vec<f64> = (0..16).map(|k| (-((k as f64 - 7.5) / 3.4).powi(2) / 2.0).exp()).collect();
    let total: f64 = w.iter().sum();
    let cdf: Vec<f64> = w
        .iter()
        .scan(0.0, |a, x| {
            *a += x / total;
            Some(*a)
        })
        .collect();
    let mut state = 1;
    (0..n)
        .map(|_| {
            let u = uniform(&mut state);
            cdf.partition_point(|&c| c <= u).min(15) as u8
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let symbols = gaussian_codes(N);
    let hist = rans::histogram(&symbols);
    let table = FreqTable::from_histogram(&hist, rans::DEFAULT_PROB_BITS).unwrap();
    let block_len = rans::rows_per_block(&table, ROW_LEN, N / ROW_LEN) * ROW_LEN;
    let enc = rans::encode(&symbols, &table, block_len).unwrap();
    let coded = enc.sizes().total();
    eprintln!(
        "{N} symbols, entropy {:.4} bits, coded {:.4} bits/symbol ({coded} bytes), {} blocks of {block_len}, {} threads",
        rans::entropy_bits(&hist),
        enc.sizes().bits_per_symbol(N),
        enc.n_blocks(),
        rayon::current_num_threads()
    );
    let single = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let all = rayon::current_num_threads();
    let mut out = vec![0u8; N];

    let mut g = c.benchmark_group("rans");
    g.sample_size(10);
    g.throughput(Throughput::ElementsAndBytes { elements: N as u64, bytes: coded as u64 });
    g.bench_function("encode/1 thread", |b| {
        b.iter(|| single.install(|| rans::encode(black_box(&symbols), &table, block_len).unwrap()))
    });
    g.bench_function(format!("encode/{all} threads"), |b| {
        b.iter(|| rans::encode(black_box(&symbols), &table, block_len).unwrap())
    });
    g.bench_function("decode/1 thread", |b| {
        b.iter(|| single.install(|| enc.decode_into(black_box(&mut out)).unwrap()))
    });
    g.bench_function(format!("decode/{all} threads"), |b| b.iter(|| enc.decode_into(black_box(&mut out)).unwrap()));
    g.finish();
    assert_eq!(out, symbols);
}

criterion_group!(benches, bench);
criterion_main!(benches);
