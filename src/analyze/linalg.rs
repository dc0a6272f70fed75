//! Dense linear algebra for the analysis methods, on top of faer: thin and randomized SVD,
//! low-rank reconstruction from f16 factors, and conversions between row-major slices and faer
//! matrices.

use faer::{Mat, MatRef};
use rayon::prelude::*;

use super::f16_round;
use crate::rng::Rng;
use crate::{Error, Result};

/// A (possibly truncated) singular value decomposition `A ≈ U diag(s) V^T`.
#[derive(Clone, Debug)]
pub struct Svd {
    /// Left singular vectors, `rows x k`.
    pub u: Mat<f32>,
    /// Singular values, descending, `k` of them.
    pub s: Vec<f32>,
    /// Right singular vectors, `cols x k`.
    pub v: Mat<f32>,
}

/// A faer view of a row-major `rows x cols` slice.
pub fn view(data: &[f32], rows: usize, cols: usize) -> MatRef<'_, f32> {
    MatRef::from_row_major_slice(data, rows, cols)
}

/// A faer matrix as a row-major `Vec`.
pub fn to_row_major(m: MatRef<'_, f32>) -> Vec<f32> {
    let (rows, cols) = (m.nrows(), m.ncols());
    let mut out = vec![0f32; rows * cols];
    out.par_chunks_mut(cols.max(1)).enumerate().for_each(|(r, row)| {
        for (c, v) in row.iter_mut().enumerate() {
            *v = m[(r, c)];
        }
    });
    out
}

/// Thin SVD of a row-major matrix: `k = min(rows, cols)` singular triplets, in f32.
pub fn thin_svd(name: &str, data: &[f32], rows: usize, cols: usize) -> Result<Svd> {
    svd_of(name, view(data, rows, cols))
}

fn svd_of(name: &str, a: MatRef<'_, f32>) -> Result<Svd> {
    let svd = a.thin_svd().map_err(|e| Error::tensor(name, format!("SVD did not converge: {e:?}")))?;
    let s: Vec<f32> = svd.S().column_vector().iter().copied().collect();
    Ok(Svd { u: svd.U().to_owned(), s, v: svd.V().to_owned() })
}

/// Rank-`rank` SVD by randomized range finding (Halko, Martinsson & Tropp 2011): a Gaussian
/// sketch with `oversample` extra columns and `power_iters` power iterations (re-orthonormalized
/// by QR each time), then an exact SVD of the small projected matrix. Used when a full SVD of a
/// large matrix would take minutes and only the leading triplets are needed.
pub fn randomized_svd(
    name: &str,
    a: MatRef<'_, f32>,
    rank: usize,
    oversample: usize,
    power_iters: usize,
    seed: u64,
) -> Result<Svd> {
    let (m, n) = (a.nrows(), a.ncols());
    let l = (rank + oversample).min(m.min(n));
    if rank == 0 || rank > m.min(n) {
        return Err(Error::InvalidArgument(format!("`{name}`: rank {rank} of a {m}x{n} matrix")));
    }
    let mut rng = Rng::new(seed);
    let omega = Mat::<f32>::from_fn(n, l, |_, _| rng.normal());
    let mut q = (a * &omega).qr().compute_thin_Q();
    for _ in 0..power_iters {
        let z = (a.transpose() * &q).qr().compute_thin_Q();
        q = (a * &z).qr().compute_thin_Q();
    }
    let b = q.transpose() * a; // l x n
    let small = svd_of(name, b.as_ref())?;
    let u = &q * &small.u;
    let keep = rank.min(small.s.len());
    Ok(Svd { u: u.subcols(0, keep).to_owned(), s: small.s[..keep].to_vec(), v: small.v.subcols(0, keep).to_owned() })
}

/// The factors `A = U_r diag(sqrt s)` (`rows x r`) and `B = V_r diag(sqrt s)` (`cols x r`) of a
/// rank-`r` truncation, each rounded to f16 as they would be stored.
pub fn f16_factors(svd: &Svd, rank: usize) -> (Mat<f32>, Mat<f32>) {
    let r = rank.min(svd.s.len());
    let sq: Vec<f32> = svd.s[..r].iter().map(|s| s.max(0.0).sqrt()).collect();
    let a = Mat::from_fn(svd.u.nrows(), r, |i, k| f16_round(svd.u[(i, k)] * sq[k]));
    let b = Mat::from_fn(svd.v.nrows(), r, |j, k| f16_round(svd.v[(j, k)] * sq[k]));
    (a, b)
}

/// Row-major reconstruction `A B^T` of a low-rank product.
pub fn product(a: &Mat<f32>, b: &Mat<f32>) -> Vec<f32> {
    to_row_major((a * b.transpose()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn low_rank(rows: usize, cols: usize, rank: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let a = Mat::<f32>::from_fn(rows, rank, |_, _| rng.normal());
        let b = Mat::<f32>::from_fn(cols, rank, |_, _| rng.normal());
        product(&a, &b)
    }

    #[test]
    fn thin_svd_reconstructs_at_full_rank() {
        let mut rng = Rng::new(3);
        let (rows, cols) = (37, 23);
        let w = rng.signed(rows * cols);
        let svd = thin_svd("t", &w, rows, cols).unwrap();
        assert_eq!(svd.s.len(), 23);
        assert!(svd.s.windows(2).all(|p| p[0] >= p[1]));
        let sq: Vec<f32> = svd.s.iter().map(|s| s.sqrt()).collect();
        let a = Mat::from_fn(rows, 23, |i, k| svd.u[(i, k)] * sq[k]);
        let b = Mat::from_fn(cols, 23, |j, k| svd.v[(j, k)] * sq[k]);
        let back = product(&a, &b);
        let err = crate::cpu::rel_err(&back, &w);
        assert!(err < 1e-5, "{err}");
    }

    #[test]
    fn randomized_svd_recovers_a_low_rank_matrix() {
        let (rows, cols) = (300, 200);
        let w = low_rank(rows, cols, 7, 5);
        let exact = thin_svd("t", &w, rows, cols).unwrap();
        let svd = randomized_svd("t", view(&w, rows, cols), 7, 5, 1, 9).unwrap();
        for k in 0..7 {
            assert!((svd.s[k] - exact.s[k]).abs() < 1e-3 * exact.s[0], "{k}: {} vs {}", svd.s[k], exact.s[k]);
        }
        let sq: Vec<f32> = svd.s.iter().map(|s| s.sqrt()).collect();
        let a = Mat::from_fn(rows, 7, |i, k| svd.u[(i, k)] * sq[k]);
        let b = Mat::from_fn(cols, 7, |j, k| svd.v[(j, k)] * sq[k]);
        assert!(crate::cpu::rel_err(&product(&a, &b), &w) < 1e-4);
        assert!(randomized_svd("t", view(&w, rows, cols), 201, 5, 1, 9).is_err());
    }

    #[test]
    fn row_major_round_trip() {
        let w: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let v = view(&w, 3, 4);
        assert_eq!(v[(1, 2)], 6.0);
        assert_eq!(to_row_major(v), w);
    }
}
