//! `ecq bench ...`: GPU benchmarks against the measured roofline.

use std::process::ExitCode;

use ecq::bench::{self, Timing};
use ecq::gpu::GpuContext;
use ecq::kernels::gemv::{Gemv, GemvKey};
use ecq::weights::WeightFormat;

use crate::table;

/// Benchmarks.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Batch-1 and small-batch GEMV per format and shape.
    Gemv(GemvArgs),
    /// The copy and read-only bandwidth ceilings.
    Roofline(CommonArgs),
    /// GPU rANS decode of weight-like codes into the packed GEMV layout, in symbols/s.
    Decode(DecodeArgs),
    /// End-to-end generation tokens/s (SmolLM2-135M, or --synthetic weights of its shapes).
    Model(crate::bench_model::ModelArgs),
    /// Every decode strategy over a layer stack: ms per token, GPU bytes, ratio to plain q4.
    Strategies(StrategiesArgs),
}

/// Options every benchmark takes.
#[derive(clap::Args, Clone)]
pub struct CommonArgs {
    /// One JSON object per result.
    #[arg(long)]
    pub json: bool,
    /// Fewer runs (software adapters, smoke tests).
    #[arg(long)]
    pub quick: bool,
    /// Working set to rotate weight copies through, MiB (default: 256 on GPUs, 64 on CPU adapters).
    #[arg(long)]
    pub rotate_mib: Option<u64>,
}

/// Options of `ecq bench decode`.
#[derive(clap::Args)]
pub struct DecodeArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Shapes ROWSxCOLS of the coded matrices (default: 4096x14336 and 32768x8192, 59M and 268M
    /// symbols; 1536x576 and 4096x4096 with --quick).
    #[arg(long, value_delimiter = ',')]
    shapes: Vec<String>,
    /// Code widths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "4")]
    bits: Vec<u32>,
    /// Also time decoder variants around the tuned one.
    #[arg(long)]
    sweep: bool,
}

/// Options of `ecq bench strategies`.
#[derive(clap::Args)]
pub struct StrategiesArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Layers of the synthetic stack (default 32; 4 with --quick).
    #[arg(long)]
    layers: Option<usize>,
    /// Refuse a stack whose decode-once footprint plus the q4 baseline exceed this, MiB.
    #[arg(long)]
    max_gpu_mib: Option<u64>,
    /// Skip SmolLM2's layers.
    #[arg(long)]
    no_smollm2: bool,
}

/// Options of `ecq bench gemv`.
#[derive(clap::Args)]
pub struct GemvArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Formats, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "q4g64,q8g64,f16")]
    formats: Vec<String>,
    /// Shapes ROWSxCOLS, comma-separated (default: 4096x4096,14336x4096,4096x14336,1536x576,576x1536).
    #[arg(long, value_delimiter = ',')]
    shapes: Vec<String>,
    /// Batch sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    batches: Vec<u32>,
    /// Also time launch-shape variants around the tuned one.
    #[arg(long)]
    sweep: bool,
}

pub fn run(c: Command) -> ecq::Result<ExitCode> {
    let ctx = crate::gpu()?;
    match c {
        Command::Gemv(a) => gemv(&ctx, a),
        Command::Decode(a) => decode(&ctx, a),
        Command::Model(a) => crate::bench_model::run(&ctx, a),
        Command::Strategies(a) => strategies(&ctx, a),
        Command::Roofline(a) => {
            let r = roofline(&ctx, &a)?;
            if a.json {
                println!("{}", serde_json::to_string(&r).expect("serializes"));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn rotate_bytes(ctx: &GpuContext, a: &CommonArgs) -> u64 {
    let default = if ctx.caps.device_type == "cpu" { 64 } else { 256 };
    a.rotate_mib.unwrap_or(default) << 20
}

pub fn roofline(ctx: &GpuContext, a: &CommonArgs) -> ecq::Result<bench::Roofline> {
    let size = if ctx.caps.device_type == "cpu" { 64 << 20 } else { 1 << 30 };
    let r = pollster::block_on(bench::roofline(ctx, size, Timing::new(a.quick)))?;
    if !a.json {
        println!(
            "{} ({}): copy {:.1} GB/s (read+write), read-only {:.1} GB/s, {} MiB buffers",
            ctx.caps.adapter_name,
            ctx.caps.backend,
            r.copy_gbps,
            r.read_gbps,
            r.bytes >> 20
        );
    }
    Ok(r)
}

fn parse_shape(s: &str) -> ecq::Result<(usize, usize)> {
    let bad = || ecq::Error::InvalidArgument(format!("shape `{s}`: expected ROWSxCOLS, e.g. 4096x14336"));
    let (r, c) = s.split_once('x').ok_or_else(bad)?;
    Ok((r.trim().parse().map_err(|_| bad())?, c.trim().parse().map_err(|_| bad())?))
}

fn gemv(ctx: &GpuContext, a: GemvArgs) -> ecq::Result<ExitCode> {
    let formats = a.formats.iter().map(|f| WeightFormat::parse(f)).collect::<ecq::Result<Vec<_>>>()?;
    let shapes = if a.shapes.is_empty() {
        bench::gemv::DEFAULT_SHAPES.to_vec()
    } else {
        a.shapes.iter().map(|s| parse_shape(s)).collect::<ecq::Result<Vec<_>>>()?
    };
    let timing = Timing::new(a.common.quick);
    let roof = roofline(ctx, &a.common)?;
    if a.common.json {
        println!(
            "{}",
            serde_json::to_string(&serde_json::json!({"roofline": roof, "adapter": ctx.caps.adapter_name}))
                .expect("serializes")
        );
    }
    let g = Gemv::new(ctx);
    let mut rng = ecq::rng::Rng::new(1);
    let mut rows = Vec::new();
    for &(r, c) in &shapes {
        for &format in &formats {
            let m = bench::gemv::random_matrix(format, r, c, &mut rng);
            let mats = bench::gemv::upload_copies(ctx, &m, rotate_bytes(ctx, &a.common))?;
            for &batch in &a.batches {
                let tuned = GemvKey::tuned(format, batch, r, c, &ctx.caps, None)?;
                let keys = if a.sweep { bench::gemv::sweep_keys(&tuned, r, c, &ctx.caps) } else { vec![tuned] };
                // Sweeps time many variants: half the runs each.
                let timing =
                    if keys.len() > 1 { Timing { warmup: timing.warmup / 2, runs: timing.runs / 2 } } else { timing };
                for key in keys {
                    let res = pollster::block_on(bench::gemv::measure(ctx, &g, &key, &m, &mats, timing, &roof))?;
                    if a.common.json {
                        println!("{}", serde_json::to_string(&res).expect("serializes"));
                    } else {
                        eprintln!("  {} {} b{} {}: {:.1} us", res.shape, res.format, res.batch, res.variant, res.us);
                    }
                    rows.push(res);
                }
            }
        }
    }
    if !a.common.json {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.shape.clone(),
                    r.format.clone(),
                    r.batch.to_string(),
                    format!("{:.2}", r.us),
                    format!("{:.1}", r.gbps),
                    format!("{:.1}%", 100.0 * r.ratio_to_copy),
                    r.copies.to_string(),
                    r.variant.clone(),
                ]
            })
            .collect();
        println!("copy roofline {:.1} GB/s on {}", roof.copy_gbps, ctx.caps.adapter_name);
        table::print(&["shape", "format", "batch", "us", "GB/s", "of copy", "copies", "variant"], &cells);
    }
    Ok(ExitCode::SUCCESS)
}

fn decode(ctx: &GpuContext, a: DecodeArgs) -> ecq::Result<ExitCode> {
    let shapes = if !a.shapes.is_empty() {
        a.shapes.iter().map(|s| parse_shape(s)).collect::<ecq::Result<Vec<_>>>()?
    } else if a.common.quick {
        vec![(1536, 576), (4096, 4096)]
    } else {
        vec![(4096, 14336), (32768, 8192)]
    };
    let timing = Timing::new(a.common.quick);
    let roof = roofline(ctx, &a.common)?;
    let mut rows = Vec::new();
    for &(r, c) in &shapes {
        for &bits in &a.bits {
            for res in pollster::block_on(bench::decode::measure(ctx, r, c, bits, a.sweep, timing, &roof))? {
                if a.common.json {
                    println!("{}", serde_json::to_string(&res).expect("serializes"));
                }
                rows.push((format!("{r}x{c}"), res));
            }
        }
    }
    if !a.common.json {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|(shape, r)| {
                vec![
                    shape.clone(),
                    r.bits.to_string(),
                    format!("{:.3}", r.entropy_bits),
                    format!("{:.3}", r.coded_bits_per_symbol),
                    format!("{:.1}", r.us),
                    format!("{:.1}", r.gsym_per_s),
                    format!("{:.1}", r.gbps),
                    format!("{:.1}%", 100.0 * r.ratio_to_copy),
                    format!("{:.3}", r.symbols_per_byte),
                    r.variant.clone(),
                ]
            })
            .collect();
        println!(
            "copy roofline {:.1} GB/s on {}; fused decode breaks even at {:.2} symbols per byte/s",
            roof.copy_gbps,
            ctx.caps.adapter_name,
            bench::decode::BREAK_EVEN_SYMBOLS_PER_BYTE
        );
        table::print(
            &["shape", "bits", "entropy", "coded b/s", "us", "Gsym/s", "GB/s", "of copy", "sym/B", "variant"],
            &cells,
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn strategies(ctx: &GpuContext, a: StrategiesArgs) -> ecq::Result<ExitCode> {
    use bench::strategies as bs;
    let timing = if a.common.quick { Timing { warmup: 3, runs: 9 } } else { Timing::new(false) };
    let roof = roofline(ctx, &a.common)?;
    let n = a.layers.unwrap_or(if a.common.quick { 4 } else { 32 });
    let shapes: &[(usize, usize)] =
        if a.common.quick { &[(1024, 1024), (2816, 1024)] } else { &[(4096, 4096), (14336, 4096)] };
    let desc = |s: &[(usize, usize)]| s.iter().map(|(r, c)| format!("{r}x{c}")).collect::<Vec<_>>().join(",");
    let mut stacks = vec![(format!("synthetic {n}x[{}] q4g64", desc(shapes)), bs::synthetic_layers(n, shapes, 7)?)];
    if !a.no_smollm2 {
        let path = ecq::model::smollm2::gguf_path();
        if path.is_file() {
            let blocks = if a.common.quick { 1 } else { usize::MAX };
            let name = if a.common.quick { "smollm2-135m block 0" } else { "smollm2-135m all blocks" };
            stacks.push((name.to_string(), bs::smollm2_layers(&path, blocks)?));
        } else {
            eprintln!("SmolLM2 GGUF missing at {}: its stack is skipped (ecq fetch smollm2)", path.display());
        }
    }
    let max = a.max_gpu_mib.map(|m| m << 20);
    let mut rows = Vec::new();
    for (name, layers) in stacks {
        let res = bs::measure(ctx, &name, &layers, timing, &roof, max, &mut |r| {
            if a.common.json {
                println!("{}", serde_json::to_string(r).expect("serializes"));
            } else {
                eprintln!("  {} {}: {:.3} ms/token", r.stack, r.strategy, r.ms_per_token);
            }
        })?;
        drop(layers);
        if a.common.json {
            // The baseline comes last in JSON (strategies were printed as they finished).
            println!("{}", serde_json::to_string(&res[0]).expect("serializes"));
        }
        rows.extend(res);
    }
    if !a.common.json {
        println!(
            "copy roofline {:.1} GB/s on {}; fused breaks even with plain q4 at {:.2} symbols per byte/s",
            roof.copy_gbps,
            ctx.caps.adapter_name,
            bench::decode::BREAK_EVEN_SYMBOLS_PER_BYTE
        );
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.stack.clone(),
                    r.strategy.clone(),
                    format!("{:.3}", r.ms_per_token),
                    format!("{:.1}", r.gpu_bytes as f64 / 1048576.0),
                    format!("{:.2}", r.ratio_to_q4),
                    r.identical_to_decode_once.to_string(),
                    r.symbols_per_byte.map_or(String::new(), |v| format!("{v:.3}")),
                    r.decode_hidden.map_or(String::new(), |v| format!("{:.0}%", 100.0 * v)),
                    r.timing.clone(),
                ]
            })
            .collect();
        table::print(
            &["stack", "strategy", "ms/token", "GPU MiB", "x q4", "identical", "sym/B", "decode hidden", "timing"],
            &cells,
        );
        for r in rows.iter().filter(|r| r.strategy.starts_with("auto")) {
            println!("{}: {}", r.stack, r.explain);
        }
    }
    Ok(ExitCode::SUCCESS)
}
