//! Vector quantization with learned codebooks (the idea behind AQLM and QuIP#): rows are scaled
//! by their RMS (one f16 per row), cut into vectors of `d` consecutive weights, and coded by
//! residual VQ: each stage is a 256-entry codebook learned by k-means (k-means++ seeding, Lloyd
//! iterations) on the previous stages' residuals. Stored per stage: an 8-bit index per vector
//! and the f16 codebook. K-means is trained on at most [`TRAIN_VECTORS`] randomly sampled
//! vectors (stated in the detail); every vector is then coded with the f16 codebook.

use rayon::prelude::*;

use super::{Approx, F16_BITS, Method, Setting, Tensor, f16_round};
use crate::rng::Rng;
use crate::stats;
use crate::{Error, Result};

/// Residual vector quantization with 256-entry learned codebooks.
pub struct VectorQuant;

/// Codebook entries per stage (8-bit indices).
pub const CENTROIDS: usize = 256;
/// Most vectors k-means is trained on per stage.
pub const TRAIN_VECTORS: usize = 50_000;
/// Lloyd iterations per stage (stops earlier when no assignment changes).
const ITERATIONS: usize = 25;
/// (vector dimension, stages) evaluated.
const SETTINGS: [(usize, usize); 7] = [(8, 1), (8, 2), (8, 3), (8, 4), (16, 1), (16, 2), (16, 4)];

/// Index of the centroid nearest to `x` (`centroids` holds `k` vectors of `x.len()` values).
pub fn nearest(x: &[f32], centroids: &[f32], norms: &[f32]) -> usize {
    let d = x.len();
    let mut best = (f32::INFINITY, 0);
    for (c, (cv, &n)) in centroids.chunks_exact(d).zip(norms).enumerate() {
        let dot: f32 = x.iter().zip(cv).map(|(a, b)| a * b).sum();
        let dist = n - 2.0 * dot;
        if dist < best.0 {
            best = (dist, c);
        }
    }
    best.1
}

fn norms(centroids: &[f32], d: usize) -> Vec<f32> {
    centroids.chunks_exact(d).map(|c| c.iter().map(|v| v * v).sum()).collect()
}

/// K-means on `n` vectors of dimension `d` (row-major in `data`) with `k` centroids:
/// k-means++ seeding, then Lloyd iterations. Returns the `k * d` centroids. Empty clusters are
/// re-seeded with the point farthest from its centroid.
pub fn kmeans(data: &[f32], d: usize, k: usize, iterations: usize, rng: &mut Rng) -> Result<Vec<f32>> {
    if d == 0 || k == 0 || data.is_empty() || data.len() % d != 0 {
        return Err(Error::InvalidArgument(format!("k-means of {} values, dimension {d}, k {k}", data.len())));
    }
    let n = data.len() / d;
    let point = |i: usize| &data[i * d..(i + 1) * d];
    let dist2 = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>();
    // k-means++ seeding.
    let mut cent: Vec<f32> = point(rng.below(n as u64) as usize).to_vec();
    let mut best: Vec<f32> = (0..n).into_par_iter().map(|i| dist2(point(i), &cent[..d])).collect();
    while cent.len() < k * d {
        let total: f64 = best.iter().map(|&v| f64::from(v)).sum();
        let pick = if total > 0.0 {
            let mut target = f64::from(rng.uniform()) * total;
            let mut chosen = n - 1;
            for (i, &b) in best.iter().enumerate() {
                target -= f64::from(b);
                if target < 0.0 && b > 0.0 {
                    chosen = i;
                    break;
                }
            }
            chosen
        } else {
            rng.below(n as u64) as usize // every point is already a centroid
        };
        let c = point(pick).to_vec();
        best.par_iter_mut().enumerate().for_each(|(i, b)| *b = b.min(dist2(point(i), &c)));
        cent.extend_from_slice(&c);
    }
    let mut assign = vec![usize::MAX; n];
    for _ in 0..iterations {
        let nrm = norms(&cent, d);
        let new: Vec<usize> = (0..n).into_par_iter().map(|i| nearest(point(i), &cent, &nrm)).collect();
        if new == assign {
            break;
        }
        assign = new;
        let mut sum = vec![0f64; k * d];
        let mut count = vec![0usize; k];
        for (i, &a) in assign.iter().enumerate() {
            count[a] += 1;
            for (s, &v) in sum[a * d..(a + 1) * d].iter_mut().zip(point(i)) {
                *s += f64::from(v);
            }
        }
        for c in 0..k {
            if count[c] > 0 {
                for j in 0..d {
                    cent[c * d + j] = (sum[c * d + j] / count[c] as f64) as f32;
                }
            } else {
                let far = (0..n)
                    .max_by(|&a, &b| {
                        let da = dist2(point(a), &cent[assign[a] * d..(assign[a] + 1) * d]);
                        let db = dist2(point(b), &cent[assign[b] * d..(assign[b] + 1) * d]);
                        da.total_cmp(&db)
                    })
                    .unwrap_or(0);
                cent[c * d..(c + 1) * d].copy_from_slice(point(far));
            }
        }
    }
    Ok(cent)
}

/// The coded stages of one vector dimension: per-row scales, and per stage the f16 codebook and
/// the index of every vector.
struct Stages {
    scales: Vec<f32>,
    codebooks: Vec<Vec<f32>>,
    codes: Vec<Vec<u8>>,
    trained_on: usize,
}

fn code_stages(t: &Tensor, d: usize, stages: usize) -> Result<Stages> {
    let scales: Vec<f32> = t
        .data
        .par_chunks(t.cols)
        .map(|row| f16_round((row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32).sqrt()))
        .collect();
    // Residual in the normalized domain.
    let mut res: Vec<f32> = t
        .data
        .par_chunks(t.cols)
        .zip(&scales)
        .flat_map_iter(|(row, &s)| row.iter().map(move |&v| if s > 0.0 { v / s } else { 0.0 }))
        .collect();
    let n = res.len() / d;
    let mut rng = Rng::new(0x5eed ^ d as u64);
    let (mut codebooks, mut codes) = (Vec::new(), Vec::new());
    let train_n = n.min(TRAIN_VECTORS);
    for _ in 0..stages {
        let train: Vec<f32> = if train_n == n {
            res.clone()
        } else {
            (0..train_n)
                .flat_map(|_| {
                    let i = rng.below(n as u64) as usize;
                    res[i * d..(i + 1) * d].to_vec()
                })
                .collect()
        };
        let k = CENTROIDS.min(train_n);
        let cb: Vec<f32> = kmeans(&train, d, k, ITERATIONS, &mut rng)?.into_iter().map(f16_round).collect();
        let nrm = norms(&cb, d);
        let idx: Vec<u8> = res.par_chunks(d).map(|x| nearest(x, &cb, &nrm) as u8).collect();
        res.par_chunks_mut(d).zip(idx.par_iter()).for_each(|(x, &c)| {
            for (v, &cv) in x.iter_mut().zip(&cb[usize::from(c) * d..]) {
                *v -= cv;
            }
        });
        codebooks.push(cb);
        codes.push(idx);
    }
    Ok(Stages { scales, codebooks, codes, trained_on: train_n })
}

impl Method for VectorQuant {
    fn name(&self) -> &'static str {
        "vq"
    }

    fn description(&self) -> &'static str {
        "residual VQ, 256-entry k-means codebooks (f16) on d-dim vectors, 8-bit indices, f16 row scale"
    }

    fn settings(&self, _rows: usize, cols: usize) -> Vec<Setting> {
        SETTINGS
            .iter()
            .filter(|&&(d, _)| cols % d == 0)
            .map(|&(d, s)| Setting::new(format!("d{d} x{s}"), s as f64, d))
            .collect()
    }

    fn compress(&self, t: &Tensor, setting: &Setting) -> Result<Approx> {
        let (d, stages) = (setting.aux, setting.value as usize);
        if d == 0 || t.cols % d != 0 || stages == 0 || stages > 4 {
            return Err(Error::InvalidArgument(format!("vq: dimension {d} with {} columns, {stages} stages", t.cols)));
        }
        let coded = match d {
            8 => t.cached("vq8", || code_stages(t, 8, 4))?,
            16 => t.cached("vq16", || code_stages(t, 16, 4))?,
            _ => std::sync::Arc::new(code_stages(t, d, stages)?),
        };
        let n = t.len() / d;
        let mut recon = vec![0f32; t.len()];
        recon.par_chunks_mut(d).enumerate().for_each(|(v, x)| {
            for s in 0..stages {
                let c = usize::from(coded.codes[s][v]);
                for (o, &cv) in x.iter_mut().zip(&coded.codebooks[s][c * d..(c + 1) * d]) {
                    *o += cv;
                }
            }
        });
        recon.par_chunks_mut(t.cols).zip(&coded.scales).for_each(|(row, &s)| row.iter_mut().for_each(|v| *v *= s));
        let k = coded.codebooks[0].len() / d;
        let entropy = (0..stages).map(|s| stats::entropy_bits_u8(&coded.codes[s])).sum::<f64>() / stages as f64;
        Ok(Approx {
            reconstruction: recon,
            bits: stages as f64 * (n as f64 * 8.0 + (k * d) as f64 * F16_BITS) + t.rows as f64 * F16_BITS,
            detail: format!("{stages} x {k} centroids of dim {d}, k-means on {} vectors", coded.trained_on),
            code_entropy_bits: Some(entropy),
        })
    }
}
