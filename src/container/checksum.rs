//! The tensor checksum: XXH64 of a descriptor line and the decoded content (see the module docs).

use half::f16;
use xxhash_rust::xxh64::Xxh64;

/// Incremental checksum of one tensor.
pub(crate) struct Checksum(Xxh64);

impl Checksum {
    /// Starts with the descriptor line `"<format> <d0>x<d1>...\n"`.
    pub(crate) fn new(format: &str, shape: &[usize]) -> Self {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let mut h = Xxh64::new(0);
        h.update(format!("{format} {}\n", dims.join("x")).as_bytes());
        Checksum(h)
    }

    pub(crate) fn bytes(mut self, b: &[u8]) -> Self {
        self.0.update(b);
        self
    }

    pub(crate) fn f16s(self, v: &[f16]) -> Self {
        self.le(v, |x| x.to_le_bytes())
    }

    pub(crate) fn f32s(self, v: &[f32]) -> Self {
        self.le(v, |x| x.to_le_bytes())
    }

    /// Hashes values as little-endian bytes, through a small buffer (no full copy).
    fn le<T: Copy, const N: usize>(mut self, v: &[T], to: impl Fn(T) -> [u8; N]) -> Self {
        let mut buf = Vec::with_capacity(4096 * N);
        for chunk in v.chunks(4096) {
            buf.clear();
            buf.extend(chunk.iter().flat_map(|&x| to(x)));
            self.0.update(&buf);
        }
        self
    }

    pub(crate) fn finish(self) -> u64 {
        self.0.digest()
    }
}

/// Checksum of an affine tensor from its codes (one byte each, row-major, no padding), scales
/// and biases.
pub(crate) fn affine(format: &str, rows: usize, cols: usize, codes: &[u8], scales: &[f16], biases: &[f16]) -> u64 {
    Checksum::new(format, &[rows, cols]).bytes(codes).f16s(scales).f16s(biases).finish()
}

/// Checksum of an ECSQ tensor: descriptor `ecsq RxC`, its run-time codes `u = j + 128` (one
/// byte each, row-major), its steps (f16), then each outlier's flat index (u32) and correction
/// (f16).
pub(crate) fn ecsq(rows: usize, cols: usize, codes: &[u8], m: &crate::ecsq::EcsqMatrix) -> u64 {
    let idx: Vec<u8> = m.outliers().index().iter().flat_map(|i| i.to_le_bytes()).collect();
    Checksum::new("ecsq", &[rows, cols]).bytes(codes).f16s(m.steps()).bytes(&idx).f16s(m.outliers().value()).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_xxh64() {
        // XXH64("", seed 0) and XXH64("abc", 0) from the reference implementation.
        assert_eq!(Xxh64::new(0).digest(), 0xEF46_DB37_51D8_E999);
        let mut h = Xxh64::new(0);
        h.update(b"abc");
        assert_eq!(h.digest(), 0x44BC_2CF5_AD77_0999);
        // The descriptor is plain text: "f32 2x3\n" followed by the data.
        let mut h = Xxh64::new(0);
        h.update(b"f32 2x3\n\0\0\x80\x3f");
        assert_eq!(Checksum::new("f32", &[2, 3]).f32s(&[1.0]).finish(), h.digest());
        assert_ne!(Checksum::new("f32", &[6]).finish(), Checksum::new("f32", &[2, 3]).finish());
    }
}
