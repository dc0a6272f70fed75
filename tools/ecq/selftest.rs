//! `ecq selftest`: every kernel variant against the CPU reference.

use std::process::ExitCode;

/// Arguments of `ecq selftest`.
#[derive(clap::Args)]
pub struct Args {
    /// One JSON object per check, then a summary line.
    #[arg(long)]
    json: bool,
    /// Reproduce a run: the seed printed by a failing run.
    #[arg(long)]
    seed: Option<u64>,
}

pub fn run(a: Args) -> ecq::Result<ExitCode> {
    let ctx = crate::gpu()?;
    let seed = a.seed.unwrap_or_else(|| ecq::rng::Rng::fresh().1);
    if !a.json {
        println!("selftest on {} ({}), seed {seed}", ctx.caps.adapter_name, ctx.caps.backend);
    }
    let json = a.json;
    let mut report = |c: &ecq::selftest::Check| {
        if json {
            println!("{}", serde_json::to_string(c).expect("check serializes"));
        } else if !c.ok {
            let why = c.error.clone().unwrap_or_else(|| format!("rel err {:.3e}", c.rel_err));
            println!("FAIL  {:<8} {:<40} {:<14} {why}", c.kernel, c.variant, c.shape);
        }
    };
    let checks = pollster::block_on(ecq::selftest::run_seeded(&ctx, seed, &mut report))?;
    let failed = checks.iter().filter(|c| !c.ok).count();
    println!("{} passed, {} failed", checks.len() - failed, failed);
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
