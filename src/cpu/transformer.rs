//! References for the transformer kernels (RMSNorm, RoPE, attention, SwiGLU, embedding lookup,
//! residual add, argmax) and a fast f32 linear layer over stored codes. The CPU forward pass in
//! [`crate::model::cpu`] is built from exactly these functions, so a GPU kernel that matches its
//! reference here also matches the CPU model.
//!
//! Vectors of a batch are stored back to back (`n` vectors of `dim` values).

use rayon::prelude::*;

use crate::weights::Matrix;
use crate::{Error, Result};

/// RMSNorm of each of the `x.len() / w.len()` vectors: `x / sqrt(mean(x^2) + eps) * w`.
pub fn rmsnorm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let d = w.len();
    x.chunks_exact(d)
        .flat_map(|v| {
            let ms = v.iter().map(|&a| f64::from(a) * f64::from(a)).sum::<f64>() / d as f64;
            let inv = (1.0 / (ms + f64::from(eps)).sqrt()) as f32;
            v.iter().zip(w).map(move |(&a, &g)| a * inv * g)
        })
        .collect()
}

/// Cosines and sines of RoPE angles, `[pos][i] = (cos, sin)` of `pos * theta^(-2i/dims)` for
/// `i < dims / 2`, computed in f64: the GPU reads this table instead of evaluating `sin`/`cos`,
/// whose accuracy on large arguments the WGSL spec leaves to the implementation.
pub fn rope_table(theta: f32, dims: usize, max_pos: usize) -> Vec<[f32; 2]> {
    let half = dims / 2;
    let mut t = Vec::with_capacity(max_pos * half);
    for pos in 0..max_pos {
        for i in 0..half {
            let freq = f64::from(theta).powf(-2.0 * i as f64 / dims as f64);
            let a = pos as f64 * freq;
            t.push([a.cos() as f32, a.sin() as f32]);
        }
    }
    t
}

/// RoPE in llama.cpp's convention for `llama` models: within each head of `head_dim` values the
/// adjacent pairs `(2i, 2i+1)` rotate by the angle of pair `i`. This is what the GGUF's Q/K rows
/// expect as stored (llama.cpp's converter permuted them from HF's `rotate_half` order).
/// `x` holds `n` vectors of `n_heads * head_dim`; vector `t` is at position `pos0 + t`.
pub fn rope(x: &mut [f32], n_heads: usize, head_dim: usize, pos0: usize, table: &[[f32; 2]]) {
    let half = head_dim / 2;
    for (t, v) in x.chunks_exact_mut(n_heads * head_dim).enumerate() {
        let row = &table[(pos0 + t) * half..(pos0 + t + 1) * half];
        for head in v.chunks_exact_mut(head_dim) {
            for (i, &[c, s]) in row.iter().enumerate() {
                let (a, b) = (head[2 * i], head[2 * i + 1]);
                head[2 * i] = a * c - b * s;
                head[2 * i + 1] = a * s + b * c;
            }
        }
    }
}

/// RoPE in the HF/NeoX convention (`rotate_half`: pairs `(i, i + head_dim/2)`), for checking that
/// it equals [`rope`] on rows un-permuted with [`crate::io::gguf::llama_unpermute_rows`].
pub fn rope_neox(x: &mut [f32], n_heads: usize, head_dim: usize, pos0: usize, table: &[[f32; 2]]) {
    let half = head_dim / 2;
    for (t, v) in x.chunks_exact_mut(n_heads * head_dim).enumerate() {
        let row = &table[(pos0 + t) * half..(pos0 + t + 1) * half];
        for head in v.chunks_exact_mut(head_dim) {
            for (i, &[c, s]) in row.iter().enumerate() {
                let (a, b) = (head[i], head[i + half]);
                head[i] = a * c - b * s;
                head[i + half] = a * s + b * c;
            }
        }
    }
}

/// Shape of causal grouped-query attention over a KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads; query head `h` reads KV head `h / (n_heads / n_kv_heads)`.
    pub n_kv_heads: usize,
    /// Values per head.
    pub head_dim: usize,
}

/// Causal attention for `n` queries at positions `pos0 .. pos0 + n` over a cache holding
/// positions `0 .. pos0 + n` (`[pos][kv_head * head_dim + i]`); query `t` sees positions
/// `0 ..= pos0 + t`. Scores are scaled by `1/sqrt(head_dim)`; sums are taken in f64.
pub fn attention(q: &[f32], k: &[f32], v: &[f32], pos0: usize, s: AttentionShape) -> Vec<f32> {
    let (hd, qd, kvd) = (s.head_dim, s.n_heads * s.head_dim, s.n_kv_heads * s.head_dim);
    let group = s.n_heads / s.n_kv_heads;
    let scale = 1.0 / (hd as f64).sqrt();
    let mut out = vec![0f32; q.len()];
    out.par_chunks_mut(qd).zip(q.par_chunks(qd)).enumerate().for_each(|(t, (o, qt))| {
        let len = pos0 + t + 1;
        let mut scores = vec![0f64; len];
        for h in 0..s.n_heads {
            let kvh = h / group;
            let qh = &qt[h * hd..(h + 1) * hd];
            for (p, sc) in scores.iter_mut().enumerate() {
                let kp = &k[p * kvd + kvh * hd..p * kvd + (kvh + 1) * hd];
                *sc = qh.iter().zip(kp).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum::<f64>() * scale;
            }
            let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for sc in scores.iter_mut() {
                *sc = (*sc - m).exp();
                sum += *sc;
            }
            for (i, oi) in o[h * hd..(h + 1) * hd].iter_mut().enumerate() {
                let acc: f64 = scores.iter().enumerate().map(|(p, &w)| w * f64::from(v[p * kvd + kvh * hd + i])).sum();
                *oi = (acc / sum) as f32;
            }
        }
    });
    out
}

/// SiLU-gated linear unit: `silu(gate) * up` elementwise, `silu(x) = x / (1 + e^-x)`.
pub fn swiglu(gate: &[f32], up: &[f32]) -> Vec<f32> {
    gate.iter().zip(up).map(|(&g, &u)| g / (1.0 + (-g).exp()) * u).collect()
}

/// Rows `tokens` of an embedding matrix, as f32 (dequantized on the fly).
pub fn embed(table: &Matrix, tokens: &[u32]) -> Result<Vec<f32>> {
    let d = table.cols();
    let mut out = vec![0f32; tokens.len() * d];
    for (o, &t) in out.chunks_exact_mut(d).zip(tokens) {
        if t as usize >= table.rows() {
            return Err(Error::InvalidArgument(format!("token {t} is beyond the {}-row embedding", table.rows())));
        }
        table.row_f32(t as usize, o);
    }
    Ok(out)
}

/// Residual add: `h += y`.
pub fn add(h: &mut [f32], y: &[f32]) {
    h.iter_mut().zip(y).for_each(|(a, &b)| *a += b);
}

/// Index of the largest value, the lowest index among equals; NaNs are never chosen (0 when all
/// are NaN or the slice is empty).
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = (0u32, f32::NEG_INFINITY);
    for (i, &v) in x.iter().enumerate() {
        if v > best.1 {
            best = (i as u32, v);
        }
    }
    best.0
}

/// `y = W x` for `batch` vectors, read straight from the stored codes with the affine identity
/// `sum_g s_g * sum(q x) + b_g * sum(x)` (f32 within a group, f64 across groups). Much faster than
/// [`super::gemv`], which dequantizes the whole matrix on every call.
pub fn linear(w: &Matrix, x: &[f32], batch: usize) -> Result<Vec<f32>> {
    let (rows, cols) = (w.rows(), w.cols());
    if x.len() != batch * cols {
        return Err(Error::InvalidArgument(format!("x has {} values, expected {batch} x {cols}", x.len())));
    }
    // Row-major [rows][batch], transposed at the end.
    let mut yt = vec![0f32; rows * batch];
    match w {
        Matrix::Affine(m) => {
            let gs = m.spec.group_size as usize;
            let gpr = m.groups_per_row();
            let bits = m.spec.bits;
            let xsum: Vec<f32> = (0..batch)
                .flat_map(|b| (0..gpr).map(move |g| (b, g)))
                .map(|(b, g)| x[b * cols + g * gs..(b * cols + ((g + 1) * gs).min(cols))].iter().sum())
                .collect();
            yt.par_chunks_mut(batch).enumerate().for_each(|(r, out)| {
                let codes = m.row_codes(r);
                let mut q = vec![0f32; cols];
                if bits == 4 {
                    for (c, qc) in q.iter_mut().enumerate() {
                        *qc = ((codes[c / 8] >> (4 * (c % 8))) & 15) as f32;
                    }
                } else if bits == 8 {
                    for (c, qc) in q.iter_mut().enumerate() {
                        *qc = ((codes[c / 4] >> (8 * (c % 4))) & 255) as f32;
                    }
                } else {
                    for (c, qc) in q.iter_mut().enumerate() {
                        *qc = f32::from(crate::quant::pack::get(codes, bits, c));
                    }
                }
                for (b, o) in out.iter_mut().enumerate() {
                    let xb = &x[b * cols..(b + 1) * cols];
                    let mut acc = 0f64;
                    for g in 0..gpr {
                        let (c0, c1) = (g * gs, ((g + 1) * gs).min(cols));
                        let qx: f32 = q[c0..c1].iter().zip(&xb[c0..c1]).map(|(a, b)| a * b).sum();
                        let s = m.scales[r * gpr + g].to_f32();
                        let bias = m.biases[r * gpr + g].to_f32();
                        acc += f64::from(s * qx) + f64::from(bias * xsum[b * gpr + g]);
                    }
                    *o = acc as f32;
                }
            });
        }
        _ => {
            yt.par_chunks_mut(batch).enumerate().for_each(|(r, out)| {
                let mut row = vec![0f32; cols];
                w.row_f32(r, &mut row);
                for (b, o) in out.iter_mut().enumerate() {
                    *o = row.iter().zip(&x[b * cols..(b + 1) * cols]).map(|(a, b)| a * b).sum();
                }
            });
        }
    }
    let mut y = vec![0f32; batch * rows];
    for (r, vals) in yt.chunks_exact(batch).enumerate() {
        for (b, &v) in vals.iter().enumerate() {
            y[b * rows + r] = v;
        }
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::AffineSpec;
    use crate::rng::Rng;
    use crate::weights::WeightFormat;

    #[test]
    fn rmsnorm_has_unit_rms_before_the_gain() {
        let x = [3.0f32, 4.0, -3.0, -4.0, 1.0, 1.0, 1.0, 1.0];
        let y = rmsnorm(&x, &[1.0, 2.0, 1.0, 1.0], 0.0);
        let r = (50.0f32 / 4.0).sqrt();
        assert!((y[0] - 3.0 / r).abs() < 1e-6 && (y[1] - 8.0 / r).abs() < 1e-6);
        assert_eq!(&y[4..], &[1.0, 2.0, 1.0, 1.0]);
    }

    #[test]
    fn rope_adjacent_pairs_on_gguf_rows_equals_neox_on_hf_rows() {
        // The permutation llama.cpp applies to Q/K rows turns NeoX pairs into adjacent pairs, so
        // rotating the projections of permuted rows adjacently is rotating HF rows half-wise.
        let (n_heads, hd) = (3, 8);
        let table = rope_table(10000.0, hd, 16);
        let mut rng = Rng::new(5);
        let hf: Vec<f32> = rng.signed(n_heads * hd);
        let map = crate::io::gguf::llama_unpermute_rows(n_heads * hd, n_heads).unwrap();
        let mut gguf = vec![0f32; hf.len()];
        for (r, &src) in map.iter().enumerate() {
            gguf[src] = hf[r];
        }
        let (mut a, mut b) = (gguf.clone(), hf.clone());
        rope(&mut a, n_heads, hd, 11, &table);
        rope_neox(&mut b, n_heads, hd, 11, &table);
        for (r, &src) in map.iter().enumerate() {
            assert!((a[src] - b[r]).abs() < 1e-6, "row {r}");
        }
        // Position 0 is the identity; norms are preserved.
        let mut c = hf.clone();
        rope(&mut c, n_heads, hd, 0, &table);
        assert_eq!(c, hf);
        let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>();
        assert!((n(&a) - n(&gguf)).abs() < 1e-5);
    }

    #[test]
    fn attention_with_one_position_returns_its_value() {
        let s = AttentionShape { n_heads: 4, n_kv_heads: 2, head_dim: 2 };
        let q = vec![1.0f32; 8];
        let k = vec![0.5f32; 4];
        let v = vec![1.0, 2.0, 3.0, 4.0];
        let o = attention(&q, &k, &v, 0, s);
        assert_eq!(o, [1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0]);
        // Two positions with equal scores average their values; the second query sees both.
        let k2 = vec![0.5f32; 8];
        let v2 = vec![1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 5.0, 6.0];
        let o2 = attention(&[q.clone(), q].concat(), &k2, &v2, 0, s);
        assert_eq!(&o2[..8], &o[..]);
        assert_eq!(&o2[8..10], &[2.0, 3.0]);
    }

    #[test]
    fn argmax_prefers_the_first_maximum_and_skips_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[f32::NAN, -1.0, f32::NAN]), 1);
        assert_eq!(argmax(&[]), 0);
    }

    #[test]
    fn linear_matches_the_f64_reference() {
        let (mut rng, seed) = Rng::fresh();
        let (rows, cols) = (67, 200);
        let w = rng.weights(rows * cols, 0.05);
        for format in ["q4g32", "q8g32", "q3g64", "f16", "f32"] {
            let m = Matrix::from_f32("w", &w, rows, cols, WeightFormat::parse(format).unwrap()).unwrap();
            let x = rng.signed(3 * cols);
            let e = super::super::rel_err(&linear(&m, &x, 3).unwrap(), &super::super::gemv(&m, &x, 3).unwrap());
            assert!(e < 1e-5, "seed {seed} {format}: {e}");
        }
        let m = Matrix::from_f32("w", &w, rows, cols, WeightFormat::Affine(AffineSpec::new(4, 64).unwrap())).unwrap();
        assert!(linear(&m, &[0.0; 10], 1).is_err());
    }
}
