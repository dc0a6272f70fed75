//! Hashed weight sharing (HashedNets, applied after training): `W[i,j] ≈ sign(i,j) b[h(i,j)]`
//! with `h` and `sign` fixed hash functions of the position and `b` a table of `K` f16 values.
//! Given the hash, the least-squares bucket value is the mean of `sign * w` over its members.
//! Storage: `16 K` bits plus a 64-bit seed.

use super::{Approx, F16_BITS, Method, Setting, TARGET_BITS, Tensor, f16_round};
use crate::{Error, Result};

/// Hashed weight sharing with `K` f16 buckets.
pub struct HashedSharing;

/// Seed of the position hash (stored with the table).
pub const SEED: u64 = 0x0ec9_4a5e_d5ee_d001;

/// Bucket (in `0..buckets`) and sign of position `index` (row-major).
pub fn hash(index: u64, buckets: usize) -> (usize, f32) {
    let mut z = index.wrapping_add(SEED).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let bucket = ((u128::from(z >> 1) * buckets as u128) >> 63) as usize;
    (bucket, if z & 1 == 0 { 1.0 } else { -1.0 })
}

impl Method for HashedSharing {
    fn name(&self) -> &'static str {
        "hashed"
    }

    fn description(&self) -> &'static str {
        "W[i,j] = sign(i,j) * bucket[h(i,j)], K f16 buckets fitted by least squares"
    }

    fn settings(&self, rows: usize, cols: usize) -> Vec<Setting> {
        TARGET_BITS
            .iter()
            .filter_map(|&b| {
                let k = ((b * (rows * cols) as f64 - 64.0) / F16_BITS).floor();
                (k >= 1.0).then(|| Setting { aux: k as usize, ..Setting::target_bits(b) })
            })
            .collect()
    }

    fn compress(&self, t: &Tensor, setting: &Setting) -> Result<Approx> {
        let k = setting.aux;
        if k == 0 {
            return Err(Error::InvalidArgument("hashed: 0 buckets".into()));
        }
        let mut sum = vec![0f64; k];
        let mut count = vec![0u32; k];
        for (i, &w) in t.data.iter().enumerate() {
            let (b, s) = hash(i as u64, k);
            sum[b] += f64::from(s * w);
            count[b] += 1;
        }
        let table: Vec<f32> = sum
            .iter()
            .zip(&count)
            .map(|(&s, &c)| if c > 0 { f16_round((s / f64::from(c)) as f32) } else { 0.0 })
            .collect();
        let reconstruction = (0..t.len())
            .map(|i| {
                let (b, s) = hash(i as u64, k);
                s * table[b]
            })
            .collect();
        Ok(Approx {
            reconstruction,
            bits: F16_BITS * k as f64 + 64.0,
            detail: format!("{k} f16 buckets ({:.1} weights each)", t.len() as f64 / k as f64),
            code_entropy_bits: None,
        })
    }
}
