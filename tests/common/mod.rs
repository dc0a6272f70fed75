//! Shared by the integration tests: a GPU context that fails loudly when none exists.
#![allow(dead_code)]

use ecq::gpu::{ContextOptions, GpuContext};

/// The test device. A missing adapter fails the test: a GPU test that skips is not a test.
/// `tools/test.sh` installs lavapipe on machines without a GPU.
pub fn gpu() -> GpuContext {
    gpu_with(&ContextOptions::from_env())
}

/// A test device with explicit options (e.g. f16 and subgroups disabled).
pub fn gpu_with(opts: &ContextOptions) -> GpuContext {
    match pollster::block_on(GpuContext::new(opts)) {
        Ok(ctx) => ctx,
        Err(e) => panic!(
            "GPU tests need a GPU adapter and none was found: {e}\n\
             On Debian/Ubuntu without a GPU run tools/test.sh (it installs lavapipe), or\n\
             apt-get install mesa-vulkan-drivers and set VK_ICD_FILENAMES to lvp_icd.x86_64.json."
        ),
    }
}

/// The device's best float path: f16 and subgroups where present, packed int8 dot products off
/// (they quantize the GEMV input, so results are no longer within f32 summation-order bounds).
pub fn gpu_without_dot8() -> GpuContext {
    let mut o = ContextOptions::from_env();
    o.disable_dot8 = true;
    gpu_with(&o)
}

/// The device with f16, subgroups and integer dot products disabled: the fallback path every adapter can run.
pub fn gpu_fallback() -> GpuContext {
    let mut o = ContextOptions::from_env();
    o.disable_f16 = true;
    o.disable_subgroups = true;
    o.disable_dot8 = true;
    gpu_with(&o)
}

/// Path of the cached SmolLM2 GGUF. A missing file fails the test with the command that fetches
/// it: CI fetches the model, so these tests must not skip.
pub fn smollm2_path() -> std::path::PathBuf {
    let p = ecq::model::smollm2::gguf_path();
    assert!(
        p.is_file(),
        "{} is missing: run `ecq fetch smollm2` (or tools/fetch-weights.sh smollm2) first",
        p.display()
    );
    p
}

/// The cached SmolLM2 GGUF, parsed.
pub fn smollm2_gguf() -> ecq::io::Gguf {
    ecq::io::Gguf::open(smollm2_path()).expect("the cached SmolLM2 GGUF parses")
}
