//! `ecq demo`: the main job, on the built-in MiniLM layer (or a safetensors file).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::table;

/// Arguments of `ecq demo`.
#[derive(clap::Args)]
pub struct Args {
    /// A safetensors file to use instead of the built-in MiniLM layer (its 2-D tensors).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Use the CPU reference even when a GPU adapter exists.
    #[arg(long)]
    cpu: bool,
    /// One JSON object per format.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> ecq::Result<ExitCode> {
    let (source, tensors) = match &a.weights {
        Some(p) => (p.display().to_string(), ecq::io::safetensors::load_floats(p)?),
        None => ("built-in all-MiniLM-L6-v2 layer 0 (f16)".to_string(), ecq::io::load_demo_fixture()?),
    };
    let tensors: Vec<_> = tensors.into_iter().filter(|t| t.shape.len() == 2).collect();
    let params: usize = tensors.iter().map(|t| t.len()).sum();
    let ctx = if a.cpu {
        None
    } else {
        match crate::gpu() {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("ecq: {e}\necq: running the CPU reference path instead.\n");
                None
            }
        }
    };
    if !a.json {
        println!("weights: {source}: {} matrices, {:.2} M parameters", tensors.len(), params as f64 / 1e6);
        match &ctx {
            Some(c) => println!("device:  {} ({}, {})", c.caps.adapter_name, c.caps.backend, c.caps.path().name()),
            None => println!("device:  CPU reference (no GPU)"),
        }
    }
    let rows = pollster::block_on(ecq::demo::run(ctx.as_ref(), &tensors))?;
    if a.json {
        for r in &rows {
            println!("{}", serde_json::to_string(r).expect("serializes"));
        }
    } else {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.format.clone(),
                    format!("{:.2}", r.bits_per_weight),
                    format!("{:.1}", r.weight_sqnr_db),
                    format!("{:.2e}", r.output_rel_err),
                    if ctx.is_some() { format!("{:.1e}", r.gpu_vs_cpu_rel_err) } else { "-".into() },
                    format!("{:.1}", r.time_us),
                    if ctx.is_none() {
                        "cpu".into()
                    } else if r.gpu_ok {
                        "ok".into()
                    } else {
                        "FAIL".into()
                    },
                ]
            })
            .collect();
        let time = if ctx.is_some() { "GPU us" } else { "CPU us" };
        table::print(&["format", "bits/w", "SQNR dB", "Wx rel err", "GPU vs CPU", time, "check"], &cells);
        println!(
            "\nSQNR: weight signal over quantization noise. Wx rel err: output error against the original weights.\n\
             GPU vs CPU: the kernel against the CPU reference on the same codes. Time: one GEMV per matrix, summed."
        );
    }
    let failed = ctx.is_some() && rows.iter().any(|r| !r.gpu_ok);
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
