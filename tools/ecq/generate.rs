//! `ecq generate MODEL --prompt TEXT`: stream a model's continuation and report tokens/s.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use ecq::gpu::GpuContext;
use ecq::model::WeightSource;
use ecq::model::quality::ModelFormat;
use ecq::model::{
    CpuModel, Decoder, GenerateOptions, GpuModel, GpuModelOptions, LlamaWeights, Sampling, StopReason, generate,
    smollm2,
};
use ecq::sched::Strategy;
use ecq::tokenizer::{ChatTemplate, Message, Tokenizer};

/// Arguments of `ecq generate`.
#[derive(clap::Args)]
pub struct Args {
    /// `smollm2` (the cached model; `ecq fetch smollm2` downloads it) or a path to a Llama GGUF.
    model: String,
    /// The prompt text (special tokens such as `<|im_start|>` are recognized).
    #[arg(long)]
    prompt: String,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// Run the CPU reference forward pass instead of the GPU.
    #[arg(long)]
    cpu: bool,
    /// Wrap the prompt in the model's chat template as a user turn (ChatML, Llama 3 or Gemma).
    #[arg(long)]
    chat: bool,
    /// With --chat: the system message (default: the template's own, if any).
    #[arg(long)]
    system: Option<String>,
    /// Sample at this temperature instead of decoding greedily.
    #[arg(long)]
    temperature: Option<f32>,
    /// Nucleus sampling threshold (with --temperature).
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    /// Seed of the sampler (with --temperature).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Positions the KV cache holds.
    #[arg(long, default_value_t = 2048)]
    max_seq: usize,
    /// Format of the linear layers: `original` (as stored), `rans` (the stored codes rANS-coded
    /// and decoded: lossless), an affine format such as `q3g64`, or `ecsq3.5` (re-quantized).
    #[arg(long, default_value = "original")]
    format: String,
    /// Decode strategy of the linear layers: the layers are rANS-coded at load and run as
    /// `fused`, `decode-once`, `lru[:BYTES]`, `async`, `prefetch-cpu` or `auto[:BUDGET]`
    /// (default: the stored codes resident, no coding).
    #[arg(long)]
    strategy: Option<String>,
}

/// Today's date (UTC) as Llama 3.2's template prints it (`strftime_now("%d %b %Y")`): `05 Dec 2026`.
fn today() -> String {
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    civil_date(days as i64)
}

/// `%d %b %Y` of the day `days` after 1970-01-01 (the proleptic Gregorian calendar).
fn civil_date(days: i64) -> String {
    // Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!("{day:02} {} {year}", MONTHS[month as usize - 1])
}

pub fn model_path(name: &str) -> ecq::Result<PathBuf> {
    if name == "smollm2" {
        let p = smollm2::gguf_path();
        return if p.is_file() { Ok(p) } else { Err(ecq::Error::ModelMissing(smollm2::missing_help())) };
    }
    let p = PathBuf::from(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(ecq::Error::InvalidArgument(format!("`{name}` is neither a known model (smollm2) nor a GGUF file")))
    }
}

/// The forward pass to run on. `--strategy` and `--format` choose among GPU weight sources here
/// once the scheduler and the .ecq container exist.
fn decoder<'w>(
    a: &Args,
    w: &'w LlamaWeights,
    max_seq: usize,
    prompt_len: usize,
) -> ecq::Result<(Box<dyn Decoder + 'w>, String)> {
    if a.cpu {
        let threads = rayon::current_num_threads();
        return Ok((Box::new(CpuModel::new(w, max_seq)?), format!("CPU reference ({threads} threads)")));
    }
    let ctx = crate::gpu()?;
    let opts = GpuModelOptions { max_seq };
    match &a.strategy {
        None => prepared(&ctx, GpuModel::resident(&ctx, w, None, &opts)?, prompt_len),
        Some(s) => {
            let strategy: Strategy = s.parse()?;
            let m = ecq::sched::model_with_strategy(&ctx, w, strategy, &opts)?;
            eprintln!("ecq: strategy {strategy}: {}", m.source().explain());
            prepared(&ctx, m, prompt_len)
        }
    }
}

/// Compiles the pipelines of the prefill chunks and of decode before anything is timed.
fn prepared<'w, S: WeightSource + 'w>(
    ctx: &GpuContext,
    mut m: GpuModel<S>,
    prompt_len: usize,
) -> ecq::Result<(Box<dyn Decoder + 'w>, String)> {
    let chunk = ecq::model::gpu::MAX_CHUNK;
    for n in [prompt_len.min(chunk), prompt_len % chunk, 1] {
        if n > 0 {
            m.prepare(n)?;
        }
    }
    let what = format!(
        "{} ({}, {}), weights {}, {:.1} MB on the GPU",
        ctx.caps.adapter_name,
        ctx.caps.backend,
        ctx.caps.path().name(),
        m.source().describe(),
        m.source().gpu_bytes() as f64 / 1e6
    );
    Ok((Box::new(m), what))
}

pub fn run(a: Args) -> ecq::Result<ExitCode> {
    let path = model_path(&a.model)?;
    let t0 = Instant::now();
    let g = ecq::io::Gguf::open(&path)?;
    let tok = Tokenizer::from_gguf(&g)?;
    let format: ModelFormat = a.format.parse()?;
    let mut w = LlamaWeights::from_gguf(&g)?;
    if format != ModelFormat::Original {
        let r = ecq::model::quality::restore(&w, format)?;
        eprintln!("ecq: linear layers as {format}: {:.3} bits per weight", r.linear_bits_per_weight);
        w = r.weights;
    }
    let prompt = if a.chat {
        let mut msgs = vec![];
        if let Some(s) = &a.system {
            msgs.push(Message::new("system", s.clone()));
        }
        msgs.push(Message::new("user", a.prompt.clone()));
        ChatTemplate::from_gguf(&g)?.with_date(&today()).encode(&tok, &msgs, true)?
    } else {
        tok.encode_prompt(&a.prompt)
    };
    drop(g);
    if prompt.is_empty() {
        return Err(ecq::Error::InvalidArgument("the prompt encodes to no tokens".into()));
    }
    let max_seq = a.max_seq.min(w.config.context_length);
    let (mut model, device) = decoder(&a, &w, max_seq, prompt.len())?;
    let load_s = t0.elapsed().as_secs_f64();
    let sampling = match a.temperature {
        None => Sampling::Greedy,
        Some(temperature) => Sampling::Temperature { temperature, top_p: a.top_p, seed: a.seed },
    };
    let room = max_seq.saturating_sub(prompt.len());
    // End of sequence, of turn (`<|eot_id|>`, `<|im_end|>`, `<end_of_turn>`) and the rest of the
    // tokens llama.cpp stops on.
    let stop = tok.end_of_generation().to_vec();
    let opts = GenerateOptions { max_tokens: a.max_tokens.min(room), sampling, stop };
    eprintln!(
        "ecq: {} ({} layers, {:.1} MB of weights) on {device}; loaded in {load_s:.2} s; prompt {} tokens",
        path.file_name().map_or_else(|| path.display().to_string(), |f| f.to_string_lossy().into_owned()),
        w.config.n_layers,
        w.stored_bytes() as f64 / 1e6,
        prompt.len()
    );
    // Control tokens the model emits without stopping (`<|im_start|>`) are not shown, as in llama.cpp.
    let mut stream = tok.stream().hide_control();
    let mut stdout = std::io::stdout().lock();
    let start = Instant::now();
    let mut stamps: Vec<Instant> = Vec::new();
    let (out, why) = generate(model.as_mut(), &prompt, &opts, |id| {
        stamps.push(Instant::now());
        let piece = stream.push(id)?;
        stdout.write_all(piece.as_bytes()).and_then(|()| stdout.flush()).map_err(|e| ecq::Error::io("stdout", e))?;
        Ok(true)
    })?;
    let tail = stream.finish();
    writeln!(stdout, "{tail}").map_err(|e| ecq::Error::io("stdout", e))?;
    drop(stdout);

    let prefill_s = stamps.first().map_or(start.elapsed(), |t| *t - start).as_secs_f64();
    let why = match why {
        StopReason::Stop => "end of sequence",
        StopReason::MaxTokens => "max tokens",
        StopReason::ContextFull => "KV cache full",
        StopReason::Callback => "stopped",
    };
    eprintln!(
        "ecq: prefill {} tokens in {prefill_s:.3} s = {:.1} tokens/s",
        prompt.len(),
        prompt.len() as f64 / prefill_s
    );
    if let [first, .., last] = stamps[..] {
        let s = (last - first).as_secs_f64();
        let n = stamps.len() - 1;
        eprintln!("ecq: decode {n} tokens in {s:.3} s = {:.1} tokens/s ({} generated, {why})", n as f64 / s, out.len());
    } else {
        eprintln!("ecq: {} token generated ({why})", out.len());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_date(0), "01 Jan 1970");
        assert_eq!(super::civil_date(19_930), "26 Jul 2024");
        assert_eq!(super::civil_date(11_016), "29 Feb 2000");
        assert_eq!(super::civil_date(-1), "31 Dec 1969");
    }
}
