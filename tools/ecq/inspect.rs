//! `ecq inspect FILE`: per tensor, the entropy of the codes against what is stored.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use ecq::container::Container;

use crate::table;

/// Arguments of `ecq inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// A `.ecq` file.
    file: PathBuf,
    /// One JSON object per tensor (name, format, shape, entropy_bits, code_bits_per_weight,
    /// total_bits_per_weight, kind, weights, bytes), then one with "total": true for the file.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> ecq::Result<ExitCode> {
    let c = Container::open(&a.file)?;
    let (rows, total) = c.stats()?;
    if a.json {
        // Through a locked handle: `ecq inspect --json | head` ends with an error, not a panic.
        let mut out = std::io::stdout().lock();
        let lines = rows.iter().map(serde_json::to_string).chain([serde_json::to_string(&total)]);
        for line in lines {
            writeln!(out, "{}", line.expect("stats serialize")).map_err(|e| ecq::Error::io("stdout", e))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let f = |v: f64| format!("{v:.3}");
    let overhead = |code: f64, entropy: f64| {
        if entropy > 0.0 { format!("{:+.2}%", 100.0 * (code / entropy - 1.0)) } else { "-".into() }
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let shape: Vec<String> = r.shape.iter().map(|d| d.to_string()).collect();
            vec![
                r.name.clone(),
                r.kind.clone(),
                r.format.clone(),
                shape.join("x"),
                r.entropy_bits.map_or("-".into(), f),
                f(r.code_bits_per_weight),
                r.entropy_bits.map_or("-".into(), |e| overhead(r.code_bits_per_weight, e)),
                f(r.total_bits_per_weight),
            ]
        })
        .collect();
    table::print(&["tensor", "kind", "format", "shape", "entropy", "code b/w", "over H", "total b/w"], &cells);
    println!(
        "\n{} tensors, {} weights, {} bytes: {:.3} bits/weight for the whole file",
        total.tensors, total.weights, total.bytes, total.total_bits_per_weight
    );
    if total.coded_weights > 0 {
        println!(
            "quantized tensors ({} weights): entropy {:.4}, codes {:.4} ({}), all stored {:.4} bits/weight",
            total.coded_weights,
            total.entropy_bits,
            total.code_bits_per_weight,
            overhead(total.code_bits_per_weight, total.entropy_bits),
            total.coded_total_bits_per_weight
        );
    }
    println!(
        "entropy: Shannon entropy of the codes' histogram. code b/w: the codes with rANS states, offsets and\n\
         table (or packed codes, or raw values). over H: code b/w over the entropy. total b/w: everything stored\n\
         for the tensor (scales, biases and header included)."
    );
    Ok(ExitCode::SUCCESS)
}
