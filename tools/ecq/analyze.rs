//! `ecq analyze`: every compute-for-memory idea measured on a model's real weights, against
//! 4-bit affine quantization at equal size.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use ecq::analyze::{self, Evaluation, Inputs, Record, Summary, Tensor, TensorStats};
use ecq::io::FloatTensor;
use indicatif::{ProgressBar, ProgressStyle};

use crate::table;

/// Arguments of `ecq analyze`.
#[derive(clap::Args)]
pub struct Args {
    /// A safetensors (F32/F16/BF16) or GGUF (any dequantizable type) file. Its 2-D tensors are
    /// analyzed.
    file: Option<PathBuf>,
    /// Only tensors whose name matches this regular expression (a plain substring works too).
    #[arg(long)]
    tensors: Option<String>,
    /// At most this many tensors (after --tensors), in file order.
    #[arg(long)]
    max_tensors: Option<usize>,
    /// Only these methods, comma-separated (see --list-methods).
    #[arg(long, value_delimiter = ',')]
    methods: Vec<String>,
    /// List the methods and exit.
    #[arg(long)]
    list_methods: bool,
    /// Summarize (tables, verdict, --plot) the JSON lines of an earlier run instead of analyzing.
    #[arg(long, conflicts_with = "file")]
    replot: Option<PathBuf>,
    /// Analyze at most this many rows of each tensor (evenly spaced rows; the tensor is renamed
    /// `NAME[rows a of b]` so the sampling shows in every output).
    #[arg(long)]
    max_rows: Option<usize>,
    /// Real activations: a safetensors file with, for each weight name, a tensor of the same name
    /// shaped [n, in_features] (or [in_features]). Weights without one use random inputs.
    #[arg(long)]
    activations: Option<PathBuf>,
    /// Number of random Gaussian input vectors for the output check.
    #[arg(long, default_value_t = 8)]
    inputs: usize,
    /// One JSON object per (tensor, method, setting) on stdout, nothing else.
    #[arg(long)]
    json: bool,
    /// Also write the JSON lines to this file (keeping the tables on stdout).
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Print every (tensor, method, setting), not only the medians over tensors.
    #[arg(long)]
    per_tensor: bool,
    /// Write a plot of median SQNR against bits per weight (SVG) to this file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Title of the plot (default: the file name).
    #[arg(long)]
    title: Option<String>,
    /// Skip tensors with fewer rows or columns than this.
    #[arg(long, default_value_t = 16)]
    min_dim: usize,
}

pub fn run(a: Args) -> ecq::Result<ExitCode> {
    let methods = analyze::select_methods(&a.methods)?;
    if a.list_methods {
        for m in &methods {
            println!("{:<18} {}", m.name(), m.description());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(p) = &a.replot {
        let text = std::fs::read_to_string(p).map_err(|e| ecq::Error::io(p, e))?;
        let records = analyze::parse_records(&text, &p.display().to_string())?;
        let summary = analyze::summarize(&records);
        write_plot(&a, &summary, p)?;
        print_summary(&summary);
        println!();
        print_verdict(&summary);
        return Ok(ExitCode::SUCCESS);
    }
    let file = a.file.as_ref().ok_or_else(|| ecq::Error::InvalidArgument("no weights file given".into()))?;
    let pattern = match &a.tensors {
        Some(p) => Some(regex::Regex::new(p).map_err(|e| ecq::Error::InvalidArgument(format!("--tensors: {e}")))?),
        None => None,
    };
    let started = Instant::now();
    let tensors =
        crate::matrices::load(file, |n| pattern.as_ref().is_none_or(|p| p.is_match(n)), a.max_tensors, a.min_dim)?;
    if tensors.is_empty() {
        return Err(ecq::Error::InvalidArgument(format!("{}: no 2-D tensor matches", file.display())));
    }
    let activations = match &a.activations {
        Some(p) => Some(ecq::io::safetensors::load_floats(p)?),
        None => None,
    };

    let total: u64 = tensors
        .iter()
        .map(|t| {
            let (r, c) = t.matrix_shape().unwrap_or((0, 0));
            let r = a.max_rows.map_or(r, |m| r.min(m));
            methods.iter().map(|m| m.settings(r, c).len() as u64).sum::<u64>()
        })
        .sum();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let params: usize = tensors.iter().map(|t| t.len()).sum();
    if !a.json {
        println!(
            "weights: {}: {} matrices, {:.2} M parameters; methods: {}",
            file.display(),
            tensors.len(),
            params as f64 / 1e6,
            methods.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
        );
    }

    let mut json_out = match &a.json_out {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p).map_err(|e| ecq::Error::io(p, e))?)),
        None => None,
    };
    let mut all_stats: Vec<TensorStats> = Vec::new();
    let mut records: Vec<Record> = Vec::new();
    for ft in tensors {
        let t = to_tensor(ft, a.max_rows)?;
        let inputs = inputs_for(&t, activations.as_deref(), a.inputs, a.activations.as_deref())?;
        bar.set_message(format!("{}: statistics, SVD", t.name));
        let ev = Evaluation::new(&t, &inputs)?;
        all_stats.push(ev.stats().clone());
        for m in &methods {
            for s in m.settings(t.rows, t.cols) {
                bar.set_message(format!("{} {} {}", t.name, m.name(), s.label));
                let r = ev.run(m.as_ref(), &s)?;
                if a.json {
                    bar.suspend(|| println!("{}", analyze::record_json(&r)));
                }
                if let (Some(w), Some(p)) = (json_out.as_mut(), a.json_out.as_ref()) {
                    writeln!(w, "{}", analyze::record_json(&r)).map_err(|e| ecq::Error::io(p, e))?;
                }
                records.push(r);
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    if let (Some(mut w), Some(p)) = (json_out, a.json_out.as_ref()) {
        w.flush().map_err(|e| ecq::Error::io(p, e))?;
    }
    let summary = analyze::summarize(&records);
    write_plot(&a, &summary, file)?;
    if !a.json {
        print_stats(&all_stats);
        if a.per_tensor {
            println!();
            print_records(&records);
        }
        println!();
        print_summary(&summary);
        println!();
        print_verdict(&summary);
        println!("\nanalyzed in {:.1} s", started.elapsed().as_secs_f64());
        if let Some(p) = &a.plot {
            println!("plot: {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the `--plot` SVG, titled by `--title` or the source file's name.
fn write_plot(a: &Args, summary: &[Summary], source: &Path) -> ecq::Result<()> {
    if let Some(p) = &a.plot {
        let title = a.title.clone().unwrap_or_else(|| {
            format!("{}: SQNR vs size", source.file_name().map_or("weights".into(), |n| n.to_string_lossy()))
        });
        let svg = analyze::plot(summary, &title).to_svg(900, 560)?;
        std::fs::write(p, svg).map_err(|e| ecq::Error::io(p, e))?;
    }
    Ok(())
}

/// The analysis tensor, with evenly spaced rows when `max_rows` is below the row count.
fn to_tensor(ft: FloatTensor, max_rows: Option<usize>) -> ecq::Result<Tensor> {
    let (rows, cols) = ft.matrix_shape()?;
    match max_rows {
        Some(m) if m > 0 && m < rows => {
            let data: Vec<f32> = (0..m)
                .flat_map(|i| ft.data[(i * rows / m) * cols..(i * rows / m + 1) * cols].iter().copied())
                .collect();
            Tensor::new(format!("{}[rows {m} of {rows}]", ft.name), data, m, cols)
        }
        _ => Tensor::new(ft.name, ft.data, rows, cols),
    }
}

/// Real activations for the tensor when the file has them, else random Gaussian inputs.
fn inputs_for(t: &Tensor, acts: Option<&[FloatTensor]>, n: usize, path: Option<&Path>) -> ecq::Result<Inputs> {
    let base = t.name.split('[').next().unwrap_or(&t.name);
    if let Some(x) = acts.and_then(|a| a.iter().find(|x| x.name == base)) {
        let count = x.len() / t.cols.max(1);
        if x.shape.last() != Some(&t.cols) {
            return Err(ecq::Error::tensor(
                &x.name,
                format!("activations shaped {:?}, expected [n, {}] (the weight's input features)", x.shape, t.cols),
            ));
        }
        let source = format!("{}:{}", path.map_or("activations".into(), |p| p.display().to_string()), x.name);
        return Inputs::real(x.data.clone(), count, t.cols, source);
    }
    Ok(Inputs::random(n.max(1), t.cols, 0xAC7))
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.filter(|x| x.is_finite()).map_or("-".into(), |x| format!("{x:.digits$}"))
}

fn fmt_db(v: f64) -> String {
    if v.is_finite() { format!("{v:.2}") } else { "inf".into() }
}

fn print_stats(stats: &[TensorStats]) {
    let cells: Vec<Vec<String>> = stats
        .iter()
        .map(|s| {
            vec![
                s.tensor.clone(),
                format!("{}x{}", s.rows, s.cols),
                format!("{:.2}", s.kurtosis),
                format!("{:.1}", s.max_abs_over_std),
                format!("{:.3}", s.entropy_q4g64),
                format!("{:.3}", s.entropy_q8g64),
                s.effective_rank_90.to_string(),
                format!("{:.0}%", 100.0 * s.effective_rank_fraction),
            ]
        })
        .collect();
    table::print(&["tensor", "shape", "kurtosis", "max/std", "H(q4g64)", "H(q8g64)", "rank90", "of full"], &cells);
    let heavy = stats.iter().filter(|s| s.kurtosis > 3.0).count();
    let med = |f: &dyn Fn(&TensorStats) -> f64| analyze::median(stats.iter().map(f)).unwrap_or(f64::NAN);
    println!(
        "heavy-tailed (kurtosis > 3): {heavy} of {} tensors ({:.0}%); median kurtosis {:.2}, H(q4g64) {:.3} bits, \
         rank90 {:.0}% of full",
        stats.len(),
        100.0 * heavy as f64 / stats.len().max(1) as f64,
        med(&|s| s.kurtosis),
        med(&|s| s.entropy_q4g64),
        100.0 * med(&|s| s.effective_rank_fraction)
    );
}

fn print_records(records: &[Record]) {
    let cells: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.tensor.clone(),
                r.method.clone(),
                r.setting.clone(),
                format!("{:.3}", r.bits_per_weight),
                fmt_db(r.sqnr_db),
                opt(r.gain_vs_affine_db, 2),
                format!("{:.2e}", r.output_rel_err),
                format!("{:.4}", r.output_cosine),
                r.detail.clone(),
            ]
        })
        .collect();
    table::print(
        &["tensor", "method", "setting", "bits/w", "SQNR dB", "vs affine", "Wx rel err", "cos", "stored"],
        &cells,
    );
}

fn print_summary(summary: &[Summary]) {
    let cells: Vec<Vec<String>> = summary
        .iter()
        .map(|s| {
            vec![
                s.method.clone(),
                s.setting.clone(),
                s.tensors.to_string(),
                format!("{:.3}", s.bits_per_weight),
                format!("{:.3}", s.bits_per_weight / analyze::F16_BITS),
                format!("{:.3}", s.bits_per_weight / analyze::Q4_BITS_PER_WEIGHT),
                fmt_db(s.sqnr_db),
                opt(s.gain_vs_affine_db, 2),
                format!("{:.2e}", s.output_rel_err),
                format!("{:.4}", s.output_cosine),
                opt(s.code_entropy_bits, 2),
            ]
        })
        .collect();
    println!(
        "median over tensors per (method, setting); 'vs affine' = SQNR minus the best affine's (min-max or clipped) \
         at the same bits/w"
    );
    table::print(
        &[
            "method",
            "setting",
            "n",
            "bits/w",
            "vs f16",
            "vs q4",
            "SQNR dB",
            "vs affine",
            "Wx rel err",
            "cos",
            "H(codes)",
        ],
        &cells,
    );
}

/// One line per method: its median gain over affine at equal size at the setting nearest to
/// 4-bit affine's 4.5 bits per weight, and its best gain anywhere in affine's size range.
fn print_verdict(summary: &[Summary]) {
    println!(
        "verdict: median SQNR gain over the best affine (min-max or clipped) at equal size, at the setting \
         nearest 4.5 bpw (q4g64) and at the best setting inside affine's 2.25-8.5 bpw range:"
    );
    let mut methods: Vec<&str> = Vec::new();
    for s in summary {
        if !s.method.starts_with("affine") && !methods.contains(&s.method.as_str()) {
            methods.push(&s.method);
        }
    }
    for m in methods {
        let rows: Vec<(f64, &Summary)> =
            summary.iter().filter(|s| s.method == m).filter_map(|s| s.gain_vs_affine_db.map(|g| (g, s))).collect();
        let near = rows.iter().min_by(|a, b| {
            let d = |s: &Summary| (s.bits_per_weight - analyze::Q4_BITS_PER_WEIGHT).abs();
            d(a.1).total_cmp(&d(b.1))
        });
        let best = rows.iter().max_by(|a, b| a.0.total_cmp(&b.0));
        match (near, best) {
            (Some(&(gn, n)), Some(&(gb, b))) => println!(
                "  {m:<17} near q4: {:+6.2} dB ({}, {:.2} bpw) -> {:<14} best: {:+6.2} dB ({}, {:.2} bpw)",
                gn,
                n.setting,
                n.bits_per_weight,
                if gn > 0.0 { "BEATS q4" } else { "loses to q4" },
                gb,
                b.setting,
                b.bits_per_weight
            ),
            _ => println!("  {m:<17} no setting inside affine's size range"),
        }
    }
}
