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

/// What to install when no adapter was found, for this platform.
pub fn no_adapter_help() -> &'static str {
    if cfg!(target_os = "macos") {
        "Metal ships with macOS; check that WGPU_BACKEND is unset or `metal`, and ECQ_ADAPTER matches."
    } else if cfg!(target_os = "windows") {
        "install your GPU vendor's driver (DX12 or Vulkan), or set WGPU_BACKEND=dx12 to use WARP."
    } else if cfg!(target_arch = "wasm32") {
        "use a browser with WebGPU enabled (Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu)."
    } else {
        "install a Vulkan driver: your GPU vendor's, or the software one with \
         `sudo apt-get install mesa-vulkan-drivers` (lavapipe) on Debian/Ubuntu; \
         tools/test.sh does this for you."
    }
}
