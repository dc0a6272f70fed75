//! `ecq eval`: the rate-quality table of every format (affine fixed-rate and rANS-coded, ECSQ at
//! several rates) on the same tensors, with a plot of SQNR against bits per weight.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ecq::ecsq::eval::{DEFAULT_RATES, EvalRow, evaluate};
use ecq::plot::{Plot, Series, Style};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `ecq eval`.
#[derive(clap::Args)]
pub struct Args {
    /// A safetensors (F32/F16/BF16) or GGUF file; its 2-D tensors are evaluated.
    file: PathBuf,
    /// Only tensors whose name contains this substring.
    #[arg(long)]
    tensors: Option<String>,
    /// At most this many tensors (after --tensors), in file order.
    #[arg(long)]
    max_tensors: Option<usize>,
    /// ECSQ target rates in bits per weight, comma-separated.
    #[arg(long, value_delimiter = ',')]
    rates: Vec<f64>,
    /// One JSON object per (tensor, format) on stdout (keys tensor, format, bits_per_weight,
    /// sqnr_db), nothing else.
    #[arg(long)]
    json: bool,
    /// Write the plot of SQNR against bits per weight (SVG; medians over tensors) here.
    #[arg(long, default_value = "ecq-eval.svg")]
    plot: PathBuf,
    /// Skip tensors with fewer rows or columns than this.
    #[arg(long, default_value_t = 16)]
    min_dim: usize,
}

pub fn run(a: Args) -> ecq::Result<ExitCode> {
    let tensors = crate::matrices::load(
        &a.file,
        |n| a.tensors.as_deref().is_none_or(|p| n.contains(p)),
        a.max_tensors,
        a.min_dim,
    )?;
    if tensors.is_empty() {
        return Err(ecq::Error::InvalidArgument(format!("{}: no 2-D tensors to evaluate", a.file.display())));
    }
    let rates = if a.rates.is_empty() { DEFAULT_RATES.to_vec() } else { a.rates.clone() };
    let bar = ProgressBar::new(tensors.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} [{elapsed}<{eta}]").expect("valid template"),
    );
    let mut rows = Vec::new();
    for t in &tensors {
        bar.set_message(t.name.clone());
        let (r, c) = t.matrix_shape()?;
        let out = evaluate(&t.name, &t.data, r, c, &rates)?;
        if a.json {
            let mut stdout = std::io::stdout().lock();
            for row in &out {
                let line = serde_json::to_string(row).expect("serializable");
                writeln!(stdout, "{line}").map_err(|e| ecq::Error::io(Path::new("stdout"), e))?;
            }
        }
        rows.extend(out);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let summary = medians(&rows);
    if !a.json {
        println!("{} tensors of {}; medians over tensors", tensors.len(), a.file.display());
        println!("{:<16} {:>8} {:>9}", "format", "bpw", "SQNR dB");
        for (f, (b, s)) in &summary {
            println!("{f:<16} {b:>8.3} {s:>9.2}");
        }
    }
    let title =
        format!("{}: weight SQNR vs size", a.file.file_name().map_or("weights".into(), |n| n.to_string_lossy()));
    std::fs::write(&a.plot, plot(&summary, &title).to_svg(900, 560)?).map_err(|e| ecq::Error::io(&a.plot, e))?;
    Ok(ExitCode::SUCCESS)
}

/// Median bits per weight and SQNR per format, formats sorted by family then rate.
fn medians(rows: &[EvalRow]) -> Vec<(String, (f64, f64))> {
    let mut by: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for r in rows {
        let e = by.entry(r.format.clone()).or_default();
        e.0.push(r.bits_per_weight);
        e.1.push(r.sqnr_db);
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
    };
    let mut out: Vec<(String, (f64, f64))> = by.into_iter().map(|(f, (b, s))| (f, (med(b), med(s)))).collect();
    out.sort_by(|a, b| family(&a.0).cmp(&family(&b.0)).then(a.1.0.total_cmp(&b.1.0)));
    out
}

/// The plot series a format belongs to.
fn family(format: &str) -> String {
    if format == "ecsq@q4g64" {
        return "ecsq@q4g64".into();
    }
    if let Some(rest) = format.strip_prefix("ecsq") {
        return if rest.ends_with("-noout") { "ecsq, no outlier list".into() } else { "ecsq (RDO + outliers)".into() };
    }
    // qBgG[+rans] -> affine gG[ + rANS]
    let g = format.split('g').nth(1).unwrap_or("").trim_end_matches("+rans");
    if format.ends_with("+rans") { format!("affine g{g} + rANS") } else { format!("affine g{g}") }
}

fn plot(summary: &[(String, (f64, f64))], title: &str) -> Plot {
    let mut p = Plot::new(title, "bits per weight (all overhead included)", "weight SQNR (dB)");
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (f, pt) in summary {
        series.entry(family(f)).or_default().push(*pt);
    }
    for (name, mut points) in series {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let style = if points.len() == 1 { Style::Points } else { Style::LinesAndPoints };
        p.series.push(Series { name, points, style });
    }
    if let Some((_, (b, _))) = summary.iter().find(|(f, _)| f == "q4g64") {
        p.x_marks.push((*b, "q4g64".into()));
    }
    p
}
