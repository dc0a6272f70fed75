//! `ecq compress IN OUT`: a safetensors or GGUF model into a `.ecq` container.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use ecq::container::Coding;
use ecq::container::convert::{self, Options, Progress};
use ecq::weights::WeightFormat;
use indicatif::{ProgressBar, ProgressStyle};

/// How affine codes are stored.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum CodingArg {
    /// rANS when it makes the codes smaller, else packed.
    Auto,
    /// Always rANS.
    Rans,
    /// Always packed (no entropy coding).
    Packed,
}

/// Arguments of `ecq compress`.
#[derive(clap::Args)]
pub struct Args {
    /// Input model: safetensors (f32, f16, bf16) or GGUF.
    input: PathBuf,
    /// Output `.ecq` file (written atomically).
    output: PathBuf,
    /// Format of the matrices that are quantized: qBITS[gGROUP] (bits 2, 3, 4, 8; group 32, 64,
    /// 128), f16 or f32. GGUF Q4_0, Q4_1 and Q8_0 matrices keep their own codes whatever this is;
    /// 1-D tensors (norms) and matrices narrower than a group stay raw. Or ECSQ: ecsqBITS (a
    /// bits-per-weight target per matrix, e.g. ecsq3.5) or ecsq@FORMAT (the SQNR of an affine
    /// format, e.g. ecsq@q4 = ecsq@q4g64).
    #[arg(long, default_value = "q4g64")]
    format: String,
    /// How affine codes are stored.
    #[arg(long, value_enum, default_value_t = CodingArg::Auto)]
    coding: CodingArg,
}

pub fn run(a: Args) -> ecq::Result<ExitCode> {
    let ecsq = ecq::container::convert::EcsqTarget::parse(&a.format).transpose()?;
    let opts = Options {
        format: if ecsq.is_some() { Options::default().format } else { WeightFormat::parse(&a.format)? },
        ecsq,
        coding: match a.coding {
            CodingArg::Auto => Coding::Auto,
            CodingArg::Rans => Coding::Rans,
            CodingArg::Packed => Coding::Packed,
        },
    };
    let input_bytes = std::fs::metadata(&a.input).map_err(|e| ecq::Error::io(&a.input, e))?.len();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {percent:>3}% {pos}/{len} weights, eta {eta}  {msg}")
            .expect("valid template"),
    );
    let start = Instant::now();
    let converted = convert::convert_file(&a.input, opts, &|p| match p {
        Progress::Start { weights, .. } => bar.set_length(weights),
        Progress::Done { name, weights } => {
            bar.set_message(name.to_string());
            bar.inc(weights);
        }
    });
    bar.finish_and_clear();
    let converted = converted?;
    let c = &converted.container;
    c.write(&a.output)?;
    let secs = start.elapsed().as_secs_f64();

    let weights: usize = c.tensors().iter().map(|t| t.n_weights()).sum();
    let out_bytes = c.file_len();
    let bpw = |bytes: u64| if weights == 0 { 0.0 } else { bytes as f64 * 8.0 / weights as f64 };
    println!(
        "{} -> {}: {} tensors, {weights} weights in {secs:.2} s",
        a.input.display(),
        a.output.display(),
        c.tensors().len()
    );
    let kinds: Vec<String> = ecq::container::Kind::ALL
        .iter()
        .map(|k| (k, c.tensors().iter().filter(|t| t.kind() == *k).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!("  stored as: {}", kinds.join(", "));
    println!("  input  {input_bytes:>12} bytes  {:6.3} bits/weight", bpw(input_bytes));
    println!(
        "  output {out_bytes:>12} bytes  {:6.3} bits/weight  ({:.2}x smaller)",
        bpw(out_bytes as u64),
        input_bytes as f64 / out_bytes as f64
    );
    for (name, why) in &converted.skipped {
        println!("  skipped `{name}`: {why}");
    }
    Ok(ExitCode::SUCCESS)
}
