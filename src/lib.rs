//! ecq: compact quantized and entropy-coded LLM weights, decoded and multiplied on any GPU
//! through wgpu + WGSL.
//!
//! The crate is layered so that each layer depends only on the ones above it:
//! - [`quant`]: group-wise affine quantization (MLX-compatible packing) on the CPU.
//! - [`io`]: reading float tensors from safetensors and GGUF files.
//! - [`rans`]: the interleaved rANS format, its encoder and reference CPU decoder (no GPU code).
//! - [`container`]: the `.ecq` file (a safetensors file of coded tensors), writer and validating
//!   reader, and conversion from safetensors and GGUF models.
//! - [`cpu`]: plain-Rust reference implementations of every GPU kernel (also the CPU fallback).
//! - [`gpu`]: adapter/device selection, [`gpu::Capabilities`], the WGSL preprocessor, pipeline
//!   cache and timestamp timing.
//! - [`kernels`]: one module per WGSL kernel family; kernels only *encode* into compute passes.
//! - [`tokenizer`]: the tokenizers of GGUF vocabularies (byte-level BPE, SentencePiece) and chat
//!   templates, token for token as llama.cpp.
//! - [`model`]: the Llama forward pass on the CPU (reference) and on the GPU, and generation.
//! - [`ecsq`]: entropy-coded scalar quantization with rate-distortion-optimized rounding.
//! - `sched` (native): decode strategies (fused, decode-once, LRU, async, CPU prefetch, auto)
//!   behind one scheduler, and the layer-stack API.
//! - [`analyze`] (feature `analyze`): can stored weights be replaced by computation? Every
//!   compute-for-memory idea measured against affine quantization at equal size.
//! - [`stats`] and [`plot`]: small statistics helpers and an SVG plot writer.

#[cfg(feature = "analyze")]
pub mod analyze;
pub mod bench;
pub mod container;
pub mod cpu;
pub mod demo;
pub mod ecsq;
pub mod error;
#[cfg(not(target_arch = "wasm32"))]
pub mod fetch;
pub mod gpu;
pub mod io;
pub mod kernels;
pub mod model;
pub mod plot;
pub mod quant;
pub mod rans;
pub mod rng;
// Blocking readbacks and CPU decode threads: native only for now (the browser runs the kernels
// directly, web/).
#[cfg(not(target_arch = "wasm32"))]
pub mod sched;
pub mod selftest;
pub mod stats;
pub mod tokenizer;
pub mod weights;

pub use error::{Error, Result};
