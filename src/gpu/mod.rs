//! The GPU side: device and capabilities, shader preprocessing, pipelines and timing.

mod caps;
mod context;
pub mod pipeline;
pub mod shader;
pub mod timer;

pub use caps::{Capabilities, KernelPath};
pub use context::{ContextOptions, GpuContext};
pub use pipeline::{PipelineCache, PipelineKey};
pub use timer::GpuTimer;
