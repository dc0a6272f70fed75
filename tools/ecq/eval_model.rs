//! `ecq eval-model MODEL`: the model's quality with its linear layers in each format (perplexity
//! on a committed text, KL divergence against the original weights), and `--sparsity`: how sparse
//! the inputs of its linear layers are, and what zeroing near-zero inputs costs.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use ecq::model::quality::{self, ModelFormat, Reference, Scores};
use ecq::model::sparsity::{self, SparsityTable, THRESHOLDS};
use ecq::model::{CpuModel, Decoder, GpuModel, GpuModelOptions, LlamaWeights, Proj};
use ecq::tokenizer::Tokenizer;
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `ecq eval-model`.
#[derive(clap::Args)]
pub struct Args {
    /// `smollm2` (the cached model) or a path to a Llama GGUF.
    model: String,
    /// Formats of the linear layers, compared with the first (the reference).
    #[arg(long, value_delimiter = ',', default_value = "original,rans,q8g64,q4g64,q4g32,q3g64,q3g32")]
    formats: Vec<String>,
    /// Score at most this many tokens of the text (default: all of it).
    #[arg(long)]
    tokens: Option<usize>,
    /// Run the CPU reference forward pass instead of the GPU.
    #[arg(long)]
    cpu: bool,
    /// Also measure the sparsity of every linear layer's inputs (CPU), and the quality when the
    /// MLP down projection's inputs below each threshold are zeroed.
    #[arg(long)]
    sparsity: bool,
    /// One JSON object per line instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> ecq::Result<ExitCode> {
    let formats: Vec<ModelFormat> = a.formats.iter().map(|s| s.parse()).collect::<ecq::Result<_>>()?;
    if formats.is_empty() {
        return Err(ecq::Error::InvalidArgument("--formats: give at least one format".into()));
    }
    let path = crate::generate::model_path(&a.model)?;
    let g = ecq::io::Gguf::open(&path)?;
    let tok = Tokenizer::from_gguf(&g)?;
    let w = LlamaWeights::from_gguf(&g)?;
    drop(g);
    let mut tokens = tok.encode(quality::EVAL_TEXT);
    tokens.truncate(a.tokens.unwrap_or(usize::MAX).max(2));
    let ctx = if a.cpu { None } else { Some(crate::gpu()?) };
    let device = ctx.as_ref().map_or("CPU reference".to_string(), |c| {
        format!("{} ({}, {})", c.caps.adapter_name, c.caps.backend, c.caps.path().name())
    });
    if !a.json {
        eprintln!("ecq: {} tokens of assets/eval-text.txt on {device}; reference: {}", tokens.len(), formats[0]);
    }
    let mut reference: Option<Reference> = None;
    let mut rows = vec![];
    for &f in &formats {
        let restored = quality::restore(&w, f)?;
        let bar = progress(tokens.len() as u64 - 1, &format!("{f}"), a.json);
        let (s, run) = {
            let mut model: Box<dyn Decoder> = match &ctx {
                Some(ctx) => Box::new(GpuModel::resident(
                    ctx,
                    &restored.weights,
                    None,
                    &GpuModelOptions { max_seq: tokens.len() },
                )?),
                None => Box::new(CpuModel::new(&restored.weights, tokens.len())?),
            };
            quality::score(model.as_mut(), &tokens, reference.as_ref(), |i| bar.set_position(i as u64))?
        };
        bar.finish_and_clear();
        report(&a, &f.to_string(), restored.linear_bits_per_weight, &s, &mut rows);
        reference.get_or_insert(run);
    }
    if !a.json {
        crate::table::print(
            &["format", "linear bits/w", "perplexity", "KL mean", "KL max", "top-1 agree", "identical logits"],
            &rows,
        );
    }
    if a.sparsity {
        sparsity_report(&a, &w, &tokens)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn progress(len: u64, what: &str, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(ProgressStyle::with_template("{msg:>12} {bar:40} {pos}/{len} tokens eta {eta}").expect("valid"));
    bar.set_message(what.to_string());
    bar
}

fn report(a: &Args, name: &str, bpw: f64, s: &Scores, rows: &mut Vec<Vec<String>>) {
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "format": name, "bits_per_weight": bpw, "tokens": s.predicted, "perplexity": s.perplexity,
                "kl_mean": s.kl_mean, "kl_max": s.kl_max, "top1_agreement": s.top1_agreement,
                "identical_logits": s.identical_logits,
            })
        );
    } else {
        rows.push(vec![
            name.to_string(),
            format!("{bpw:.3}"),
            format!("{:.3}", s.perplexity),
            format!("{:.5}", s.kl_mean),
            format!("{:.4}", s.kl_max),
            format!("{:.1}%", 100.0 * s.top1_agreement),
            if rows.is_empty() { "(reference)".into() } else { s.identical_logits.to_string() },
        ]);
    }
}

/// Input sparsity per projection (one CPU prefill of the text), then the quality of zeroing the
/// down projection's near-zero inputs (CPU, token by token, against the unmodified CPU model).
fn sparsity_report(a: &Args, w: &LlamaWeights, tokens: &[u32]) -> ecq::Result<()> {
    let c = &w.config;
    let cols = Proj::ALL.map(|p| p.shape(c).1);
    let table = Arc::new(Mutex::new(SparsityTable::default()));
    CpuModel::new(w, tokens.len())?.with_input_hook(sparsity::recording_hook(table.clone(), cols)).forward(tokens)?;
    let table = *table.lock().expect("no panics while held");
    let mut rows = vec![];
    for p in Proj::ALL {
        let s = &table[p as usize];
        if a.json {
            let near: serde_json::Map<_, _> = THRESHOLDS
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("{t}"), serde_json::json!(s.near_zero_share(i))))
                .collect();
            println!(
                "{}",
                serde_json::json!({"sparsity": p.gguf_name(), "values": s.values, "zero_share": s.zero_share(),
                    "near_zero_share": near})
            );
        } else {
            let mut r = vec![p.gguf_name().to_string(), format!("{:.2}%", 100.0 * s.zero_share())];
            r.extend((0..THRESHOLDS.len()).map(|i| format!("{:.2}%", 100.0 * s.near_zero_share(i))));
            rows.push(r);
        }
    }
    if !a.json {
        println!("\ninputs of the linear layers ({} tokens, CPU): exact zeros and |x| < t * rms(x)", tokens.len());
        let heads: Vec<String> = THRESHOLDS.iter().map(|t| format!("t={t}")).collect();
        let mut header = vec!["layer", "zeros"];
        header.extend(heads.iter().map(String::as_str));
        crate::table::print(&header, &rows);
    }

    // Lossy: the down projection's inputs under t * rms zeroed, scored against the exact CPU pass.
    let linear_bytes: usize = w.layers[0].proj.iter().map(|m| m.stored_bytes()).sum();
    let down_share = w.layers[0].get(Proj::Down).stored_bytes() as f64 / linear_bytes as f64;
    let bar = progress(tokens.len() as u64 - 1, "exact", a.json);
    let (_, reference) =
        quality::score(&mut CpuModel::new(w, tokens.len())?, tokens, None, |i| bar.set_position(i as u64))?;
    bar.finish_and_clear();
    let mut rows = vec![];
    for (i, &t) in THRESHOLDS.iter().enumerate().skip(1) {
        let bar = progress(tokens.len() as u64 - 1, &format!("t={t}"), a.json);
        let mut m =
            CpuModel::new(w, tokens.len())?.with_input_hook(sparsity::threshold_hook(vec![Proj::Down], t, cols));
        let (s, _) = quality::score(&mut m, tokens, Some(&reference), |i| bar.set_position(i as u64))?;
        bar.finish_and_clear();
        let skipped = table[Proj::Down as usize].near_zero_share(i);
        if a.json {
            println!(
                "{}",
                serde_json::json!({"threshold": t, "layer": "ffn_down", "skipped_share": skipped,
                    "linear_bytes_saved": skipped * down_share, "perplexity": s.perplexity, "kl_mean": s.kl_mean,
                    "top1_agreement": s.top1_agreement})
            );
        } else {
            rows.push(vec![
                format!("{t}"),
                format!("{:.1}%", 100.0 * skipped),
                format!("{:.1}%", 100.0 * skipped * down_share),
                format!("{:.3}", s.perplexity),
                format!("{:.5}", s.kl_mean),
                format!("{:.1}%", 100.0 * s.top1_agreement),
            ]);
        }
    }
    if !a.json {
        println!("\nffn_down inputs with |x| < t * rms(x) zeroed (CPU, against the exact CPU pass)");
        crate::table::print(
            &["t", "columns skipped", "linear bytes saved", "perplexity", "KL mean", "top-1 agree"],
            &rows,
        );
    }
    Ok(())
}
