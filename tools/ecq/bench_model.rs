//! `ecq bench model`: end-to-end tokens/s of the Llama forward pass on the GPU, on SmolLM2-135M
//! or on a synthetic model of its shapes (random weights: what a remote GPU can time without the
//! 98 MB file).

use std::process::ExitCode;
use std::time::Instant;

use ecq::gpu::GpuContext;
use ecq::model::{Decoder, GpuModel, GpuModelOptions, LlamaWeights, WeightSource, smollm2};
use ecq::quant::AffineSpec;
use ecq::sched::Strategy;

use super::table;

/// Options of `ecq bench model`.
#[derive(clap::Args)]
pub struct ModelArgs {
    #[command(flatten)]
    common: super::bench::CommonArgs,
    /// Random weights of SmolLM2-135M's shapes (q4g32 linear layers, q8g32 embedding) instead of
    /// the cached model.
    #[arg(long)]
    synthetic: bool,
    /// Tokens generated (greedy) after the prompt.
    #[arg(long, default_value_t = 64)]
    tokens: usize,
    /// Prompt tokens prefilled first.
    #[arg(long, default_value_t = 32)]
    prompt_tokens: usize,
    /// How the linear layers run: `resident` (the stored codes, no coding) or a decode strategy
    /// over rANS-coded layers (`fused`, `decode-once`, `lru:BYTES`, `async`, `prefetch-cpu`,
    /// `auto`), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "resident")]
    strategies: Vec<String>,
}

/// One timed run.
#[derive(serde::Serialize)]
struct ModelResult {
    model: String,
    weights: String,
    strategy: String,
    adapter: String,
    gpu_bytes: u64,
    identical_tokens: bool,
    prefill_tokens_per_s: f64,
    decode_tokens_per_s: f64,
    ms_per_token_median: f64,
    weight_bytes_per_token: u64,
    gbps: f64,
    ratio_to_copy: f64,
}

pub fn run(ctx: &GpuContext, a: ModelArgs) -> ecq::Result<ExitCode> {
    let (w, name) = if a.synthetic {
        (LlamaWeights::synthetic(smollm2::config(), AffineSpec::new(4, 32)?, 1)?, "synthetic SmolLM2-135M shapes")
    } else {
        let p = smollm2::gguf_path();
        if !p.is_file() {
            return Err(ecq::Error::ModelMissing(format!("{} (or pass --synthetic)", smollm2::missing_help())));
        }
        (LlamaWeights::from_gguf(&ecq::io::Gguf::open(&p)?)?, "SmolLM2-135M-Instruct Q4_1")
    };
    let (tokens, prompt) =
        if a.common.quick { (a.tokens.min(8), a.prompt_tokens.min(8)) } else { (a.tokens, a.prompt_tokens) };
    if tokens < 2 || prompt == 0 {
        return Err(ecq::Error::InvalidArgument("bench model: need --tokens >= 2 and --prompt-tokens >= 1".into()));
    }
    let strategies: Vec<Option<Strategy>> = a
        .strategies
        .iter()
        .map(|s| if s == "resident" { Ok(None) } else { s.parse().map(Some) })
        .collect::<ecq::Result<_>>()?;
    let roof = super::bench::roofline(ctx, &a.common)?;
    let opts = GpuModelOptions { max_seq: prompt + tokens + 1 };
    let mut results = vec![];
    let mut first_tokens: Option<Vec<u32>> = None;
    for s in strategies {
        let (mut res, ids) = match s {
            None => {
                let mut m = GpuModel::resident(ctx, &w, None, &opts)?;
                time_generation(ctx, &mut m, &w, name, prompt, tokens, roof.copy_gbps)?
            }
            Some(st) => {
                let mut m = ecq::sched::model_with_strategy(ctx, &w, st, &opts)?;
                if !a.common.json {
                    eprintln!("{st}: {}", m.source().explain());
                }
                time_generation(ctx, &mut m, &w, name, prompt, tokens, roof.copy_gbps)?
            }
        };
        res.strategy = s.map_or("resident".into(), |s| s.to_string());
        res.identical_tokens = *first_tokens.get_or_insert_with(|| ids.clone()) == ids;
        if a.common.json {
            println!("{}", serde_json::to_string(&res).expect("serializes"));
        } else {
            eprintln!("  {}: {:.1} tokens/s", res.strategy, res.decode_tokens_per_s);
        }
        results.push(res);
    }
    if !a.common.json {
        println!("copy roofline {:.1} GB/s on {}; {name}", roof.copy_gbps, ctx.caps.adapter_name);
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                vec![
                    r.strategy.clone(),
                    r.weights.clone(),
                    format!("{:.1}", r.gpu_bytes as f64 / 1e6),
                    format!("{:.1}", r.prefill_tokens_per_s),
                    format!("{:.1}", r.decode_tokens_per_s),
                    format!("{:.3}", r.ms_per_token_median),
                    format!("{:.1}", r.gbps),
                    format!("{:.1}%", 100.0 * r.ratio_to_copy),
                    r.identical_tokens.to_string(),
                ]
            })
            .collect();
        table::print(
            &[
                "strategy",
                "weights",
                "GPU MB",
                "prefill tok/s",
                "decode tok/s",
                "ms/token",
                "GB/s",
                "of copy",
                "same tokens",
            ],
            &rows,
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prefills `prompt` tokens, then times `tokens` greedy steps one by one (each a submission and a
/// 4-byte readback, as generation runs); returns the generated tokens too. Bytes per token: every linear layer's stored weights
/// (the tied embedding once, as the output head) — what one decode step must read.
fn time_generation<S: WeightSource>(
    ctx: &GpuContext,
    m: &mut GpuModel<S>,
    w: &LlamaWeights,
    name: &str,
    prompt: usize,
    tokens: usize,
    copy_gbps: f64,
) -> ecq::Result<(ModelResult, Vec<u32>)> {
    let prompt_ids: Vec<u32> = (0..prompt as u32).map(|i| (i * 7919 + 13) % w.config.vocab_size as u32).collect();
    // Warm-up: compile every pipeline, touch every buffer.
    m.forward_greedy(&prompt_ids)?;
    m.forward_greedy(&[1])?;
    m.reset();
    let t0 = Instant::now();
    let mut next = m.forward_greedy(&prompt_ids)?;
    let prefill_s = t0.elapsed().as_secs_f64();
    let mut times = Vec::with_capacity(tokens);
    let mut ids = Vec::with_capacity(tokens);
    let start = Instant::now();
    for _ in 0..tokens {
        let t = Instant::now();
        next = m.forward_greedy(&[next])?;
        times.push(t.elapsed().as_secs_f64());
        ids.push(next);
    }
    let total = start.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let bytes = w.layers.iter().flat_map(|l| l.proj.iter()).map(|p| p.stored_bytes() as u64).sum::<u64>()
        + w.linear(ecq::model::LinearId::LmHead).stored_bytes() as u64;
    let gbps = bytes as f64 / median / 1e9;
    let res = ModelResult {
        model: name.to_string(),
        weights: m.source().describe(),
        strategy: String::new(),
        adapter: ctx.caps.adapter_name.clone(),
        gpu_bytes: m.source().gpu_bytes(),
        identical_tokens: true,
        prefill_tokens_per_s: prompt as f64 / prefill_s,
        decode_tokens_per_s: tokens as f64 / total,
        ms_per_token_median: median * 1e3,
        weight_bytes_per_token: bytes,
        gbps,
        ratio_to_copy: gbps / copy_gbps,
    };
    Ok((res, ids))
}
