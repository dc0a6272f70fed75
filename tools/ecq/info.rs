//! `ecq info`: the adapter and capabilities.

use std::process::ExitCode;

/// Arguments of `ecq info`.
#[derive(clap::Args)]
pub struct Args {
    /// Print the capabilities as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> ecq::Result<ExitCode> {
    let ctx = crate::gpu()?;
    if a.json {
        println!("{}", serde_json::to_string(&ctx.caps).expect("capabilities serialize"));
    } else {
        println!("{}", ctx.caps.describe());
        let path = ctx.caps.path();
        println!(
            "kernel path       {} (f16 arithmetic: {}, subgroup reductions: {})",
            path.name(),
            path.f16,
            path.subgroups
        );
    }
    Ok(ExitCode::SUCCESS)
}
