//! Quantization formats on the CPU.

pub mod affine;
pub mod pack;

pub use affine::{AffineSpec, QuantizedMatrix, quantize, sqnr_db};
