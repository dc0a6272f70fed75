//! `ecq verify FILE`: decode every tensor on the CPU and every rANS stream on the GPU, and
//! compare with the stored checksums.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use ecq::container::Container;
use ecq::kernels::rans_decode::{CodeLayout, decode_packed_with_symbol_offset};
use rayon::prelude::*;

/// Arguments of `ecq verify`.
#[derive(clap::Args)]
pub struct Args {
    /// A `.ecq` file.
    file: PathBuf,
    /// Decode on the CPU only. Otherwise rANS streams are also decoded on the GPU, and a missing
    /// GPU adapter is an error.
    #[arg(long)]
    cpu_only: bool,
}

pub fn run(a: Args) -> ecq::Result<ExitCode> {
    let c = Container::open(&a.file)?;
    let ctx = if a.cpu_only {
        None
    } else {
        Some(crate::gpu().map_err(|e| match e {
            ecq::Error::NoAdapter(why) => {
                ecq::Error::NoAdapter(format!("{why}; or verify on the CPU only: --cpu-only"))
            }
            e => e,
        })?)
    };
    let start = Instant::now();
    // One entry per tensor: its first failure, CPU before GPU.
    let mut failures: Vec<Option<String>> =
        c.tensors().par_iter().map(|t| t.decode_cpu().err().map(|e| e.to_string())).collect();
    let cpu_secs = start.elapsed().as_secs_f64();

    let mut gpu_note = String::new();
    if let Some(ctx) = &ctx {
        let start = Instant::now();
        let mut streams = 0;
        for (t, failure) in c.tensors().iter().zip(&mut failures) {
            let Some(enc) = t.rans() else { continue };
            if failure.is_some() {
                continue;
            }
            streams += 1;
            let decoded = pollster::block_on(decode_packed_with_symbol_offset(
                ctx,
                t.name(),
                enc,
                &CodeLayout::bytes(),
                t.rans_symbol_offset(),
            ))
            .and_then(|words| {
                let mut codes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                codes.truncate(enc.n_symbols());
                t.check_codes(&codes, "GPU")
            });
            *failure = decoded.err().map(|e| e.to_string());
        }
        gpu_note = format!(
            "; GPU ({}, {}): {streams} rANS streams in {:.2} s",
            ctx.caps.adapter_name,
            ctx.caps.backend,
            start.elapsed().as_secs_f64()
        );
    }

    let n = c.tensors().len();
    let bad: Vec<&String> = failures.iter().flatten().collect();
    for f in &bad {
        eprintln!("ecq: {f}");
    }
    if bad.is_empty() {
        println!("{}: {n} tensors bit-exact (CPU: all in {cpu_secs:.2} s{gpu_note})", a.file.display());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{}: {} of {n} tensors failed", a.file.display(), bad.len());
        Ok(ExitCode::FAILURE)
    }
}
