//! The `ecq` command line: compress, inspect, verify, benchmark and demo compact LLM weights.

#[cfg(feature = "analyze")]
mod analyze;
mod bench;
mod bench_model;
mod compress;
mod demo;
mod eval;
mod eval_model;
mod fetch;
mod generate;
mod info;
mod inspect;
mod matrices;
mod selftest;
mod table;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Compact quantized and entropy-coded LLM weights on any GPU (wgpu + WGSL).
#[derive(Parser)]
#[command(name = "ecq", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compress a safetensors or GGUF model into a .ecq file (quantize, then entropy-code).
    Compress(compress::Args),
    /// Per tensor: shape, format, entropy of the codes and stored bits per weight.
    Inspect(inspect::Args),
    /// Decode every tensor and check it against its stored checksum.
    Verify(verify::Args),
    /// The main job: real weights (built in) in every format, checked and timed on the GPU.
    Demo(demo::Args),
    /// Show the GPU adapter and the capabilities ecq will use.
    Info(info::Args),
    /// Check every kernel variant against the CPU reference on fresh random data.
    Selftest(selftest::Args),
    /// Can stored weights be replaced by computation? Every compute-for-memory idea on a model's
    /// real weights, against 4-bit affine at equal size (statistics, SQNR, output error, plot).
    #[cfg(feature = "analyze")]
    Analyze(analyze::Args),
    /// Benchmarks (GPU timestamp queries, against the measured copy roofline).
    #[command(subcommand)]
    Bench(bench::Command),
    /// Rate-quality table: affine 2/3/4/8-bit (fixed rate and rANS) and ECSQ at several rates,
    /// bits per weight and SQNR per tensor, and a plot.
    Eval(eval::Args),
    /// Download a model into the cache (`${ECQ_CACHE:-~/.cache/ecq}`).
    Fetch(fetch::Args),
    /// Generate text with a model, streaming tokens and reporting tokens/s.
    Generate(generate::Args),
    /// A model's quality with its linear layers in each format: perplexity on a committed text
    /// and KL divergence against the original weights; --sparsity measures activation sparsity.
    EvalModel(eval_model::Args),
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compress(a) => compress::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Info(a) => info::run(a),
        Command::Selftest(a) => selftest::run(a),
        Command::Bench(c) => bench::run(c),
        Command::Fetch(a) => fetch::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Generate(a) => generate::run(a),
        Command::EvalModel(a) => eval_model::run(a),
        #[cfg(feature = "analyze")]
        Command::Analyze(a) => analyze::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ecq: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The GPU context from the environment, or an error that says what to install.
fn gpu() -> ecq::Result<ecq::gpu::GpuContext> {
    ecq::gpu::GpuContext::new_blocking_from_env().map_err(|e| match e {
        ecq::Error::NoAdapter(why) => ecq::Error::NoAdapter(format!("{why}; {}", ecq::gpu::no_adapter_help())),
        e => e,
    })
}
