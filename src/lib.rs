//! ecq: compact quantized and entropy-coded LLM weights, decoded and multiplied on any GPU
//! through wgpu + WGSL.
//!
//! The crate is layered so that each layer depends only on the ones above it:
//! - [`quant`]: group-wise affine quantization (MLX-compatible packing) on the CPU.
//! - [`io`]: reading float tensors from safetensors and GGUF files.
//! - [`rans`]: the interleaved rANS format, its encoder and reference CPU decoder (no GPU code).
//! - [`cpu`]: plain-Rust reference implementations of every GPU kernel (also the CPU fallback).
//! - [`gpu`]: adapter/device selection, [`gpu::Capabilities`], the WGSL preprocessor, pipeline
//!   cache and timestamp timing.
//! - [`kernels`]: one module per WGSL kernel family; kernels only *encode* into compute passes.

pub mod cpu;
pub mod error;
pub mod gpu;
pub mod io;
pub mod kernels;
pub mod quant;
pub mod rans;

pub use error::{Error, Result};
