//! Decode strategies behind one API: how rANS-coded layers become the codes a GEMV reads.
//!
//! - [`Strategy::Fused`]: decode inside the GEMV on every call (`wgsl/gemv_fused.wgsl`); holds
//!   only the coded streams and scales.
//! - [`Strategy::DecodeOnce`]: decode on the GPU at load into the packed runtime layout, then
//!   plain GEMV; fastest per token, holds the decoded codes.
//! - [`Strategy::Lru`]: decoded layers kept up to a byte budget; a miss decodes on demand.
//! - [`Strategy::Async`]: two ping-pong slots sized for the largest layer; the decode of layer
//!   N+1 is recorded before the GEMV of layer N, into the other slot.
//! - [`Strategy::PrefetchCpu`]: CPU (rayon) decode into a ring of staging buffers uploaded
//!   with `queue.write_buffer` ahead of use.
//! - [`Strategy::Auto`]: chosen from a memory budget and a quick measurement
//!   ([`Scheduler::explain`] says what and why).
//!
//! **What wgpu allows for `async`.** wgpu exposes one queue per device. Within it, wgpu tracks
//! buffer usage and inserts barriers where a dispatch writes what an earlier one read (or reads
//! what it wrote). The decode of N+1 and the GEMV of N touch different buffers, so no barrier is
//! *required* between them, but whether the driver runs them concurrently is up to the driver
//! (and to whether wgpu emits a barrier at pass boundaries). `ecq bench strategies` measures it:
//! compare `async` with `decode-once` plus the decode time alone.
//!
//! Layers the whole-word decoder cannot rewrite in place (3-bit codes, rows not a multiple of 32
//! codes) are decoded once at load under every GPU strategy; uncoded layers stay resident.
//! Every strategy multiplies with the arithmetic of `wgsl/gemv_rows.wgsl` on the same codes, so
//! outputs are bit-identical to `decode-once`.

pub mod auto;
pub mod layer;
pub mod model;
pub mod scheduler;
pub mod stack;
pub mod strategy;

pub use layer::{CodedTensor, Layer, LayerWeights};
pub use model::model_with_strategy;
pub use scheduler::{SchedOptions, Scheduler, Stats};
pub use stack::{LayerStack, TokenTimestamps};
pub use strategy::{DEFAULT_LRU_BUDGET, Strategy, format_bytes, parse_bytes};
