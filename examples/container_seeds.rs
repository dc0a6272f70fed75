//! Writes small `.ecq` files of every kind into a directory: the seed corpus of the container
//! fuzz target (`fuzz/README.md`).
//!
//! `cargo run --example container_seeds -- fuzz/corpus/container`

use ecq::container::{Coding, Container, Tensor};
use ecq::quant::{AffineSpec, quantize};
use ecq::rng::Rng;
use half::f16;

fn main() -> ecq::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus/container".into());
    std::fs::create_dir_all(&dir).map_err(|e| ecq::Error::io(&dir, e))?;
    let mut rng = Rng::new(1);
    let mut seeds = Vec::new();
    for (i, (rows, cols, bits, gs)) in
        [(3, 40, 4, 32), (2, 64, 8, 64), (4, 33, 3, 32), (1, 130, 2, 128)].into_iter().enumerate()
    {
        let m = quantize("w", &rng.weights(rows * cols, 0.05), rows, cols, AffineSpec::new(bits, gs)?)?;
        seeds.push(vec![Tensor::affine(&format!("w{i}"), m.clone(), Coding::Rans)?]);
        seeds.push(vec![Tensor::affine(&format!("w{i}"), m, Coding::Packed)?]);
    }
    seeds.push(vec![
        Tensor::f32("norm", vec![8], rng.weights(8, 1.0))?,
        Tensor::f16("emb", vec![2, 3], rng.weights(6, 1.0).into_iter().map(f16::from_f32).collect())?,
        Tensor::f32("s", vec![], vec![1.0])?,
    ]);
    // Symmetric groups (Q4_0-like: bias = -8 * scale): the biases are implied, not stored.
    let mut sym = quantize("s", &rng.weights(3 * 64, 0.05), 3, 64, AffineSpec::new(4, 32)?)?;
    sym.biases = sym.scales.iter().map(|s| f16::from_f32(-8.0 * s.to_f32())).collect();
    seeds.push(vec![Tensor::affine("sym", sym.clone(), Coding::Rans)?, Tensor::affine("symp", sym, Coding::Packed)?]);
    // A constant matrix: a one-symbol table and no rANS words.
    let zeros = quantize("z", &[0.5; 64], 2, 32, AffineSpec::new(4, 32)?)?;
    seeds.push(vec![Tensor::affine("z", zeros, Coding::Rans)?]);
    for (i, tensors) in seeds.into_iter().enumerate() {
        let path = std::path::Path::new(&dir).join(format!("seed-{i:02}.ecq"));
        Container::new(tensors)?.write(&path)?;
        println!("{} ({} bytes)", path.display(), std::fs::metadata(&path).map_or(0, |m| m.len()));
    }
    Ok(())
}
