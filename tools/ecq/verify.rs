//! `ecq verify FILE`: decode every tensor and compare with the stored checksums.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use ecq::container::Container;
use rayon::prelude::*;

/// Arguments of `ecq verify`.
#[derive(clap::Args)]
pub struct Args {
    /// A `.ecq` file.
    file: PathBuf,
}

pub fn run(a: Args) -> ecq::Result<ExitCode> {
    let c = Container::open(&a.file)?;
    let start = Instant::now();
    let failures: Vec<String> =
        c.tensors().par_iter().filter_map(|t| t.decode_cpu().err().map(|e| e.to_string())).collect();
    let cpu_secs = start.elapsed().as_secs_f64();
    for f in &failures {
        eprintln!("ecq: {f}");
    }
    let n = c.tensors().len();
    if failures.is_empty() {
        println!("{}: {n} tensors bit-exact (CPU in {cpu_secs:.2} s)", a.file.display());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{}: {} of {n} tensors failed", a.file.display(), failures.len());
        Ok(ExitCode::FAILURE)
    }
}
