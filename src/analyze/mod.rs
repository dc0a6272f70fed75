//! `ecq analyze`: can stored weights be replaced by computation? Every idea from the research notes
//! ("compute for memory") as a [`Method`] that compresses a real weight matrix at several
//! [`Setting`]s, with its storage counted honestly, and is judged against group-wise affine
//! quantization at the same size.
//!
//! For each tensor the analysis reports statistics ([`TensorStats`]: kurtosis, code entropy,
//! effective rank) and, for each (method, setting), a [`Record`]: bits per weight, weight SQNR,
//! and the error of `y = W x` for random or real inputs ([`Inputs`]).
//!
//! **Adding a method** (ECSQ is the next one): write one module with a type implementing
//! [`Method`], and add it to [`all_methods`]. Its [`Approx::bits`] must count everything a
//! decoder needs: codes, scales, factors in their stored dtype, indices, codebooks.

pub mod affine;
pub mod dct;
pub mod hashed;
pub mod kronecker;
pub mod linalg;
pub mod lowrank_sparse;
pub mod polyicdf;
pub mod polypos;
pub mod svd;
pub mod ternary;
pub mod vq;

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use faer::Mat;

use crate::quant::sqnr_db;
use crate::stats;
use crate::{Error, Result};

/// Bits per weight of the reference format, 4-bit affine with groups of 64 (MLX default).
pub const Q4_BITS_PER_WEIGHT: f64 = 4.5;
/// Bits of a stored f16 value.
pub const F16_BITS: f64 = 16.0;
/// Target sizes (bits per weight) for methods with a continuous size knob (rank, kept
/// coefficients, buckets): spans the range around 4-bit affine.
pub const TARGET_BITS: [f64; 6] = [0.5, 1.0, 2.0, 3.0, 4.5, 6.0];
/// Fraction of the spectrum's energy that defines the effective rank.
pub const EFFECTIVE_RANK_ENERGY: f64 = 0.9;

/// One setting of a method: a stable label (the same for every tensor, so results can be
/// summarized across tensors) and method-defined parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// Label such as `q4g64`, `~3 bpw` or `deg=8`.
    pub label: String,
    /// The method's main numeric parameter (target bits per weight, degree, outlier fraction...).
    pub value: f64,
    /// A secondary integer parameter (bits, vector dimension...), 0 when unused.
    pub aux: usize,
}

impl Setting {
    /// A setting with a label and parameters.
    pub fn new(label: impl Into<String>, value: f64, aux: usize) -> Self {
        Setting { label: label.into(), value, aux }
    }

    /// A setting that targets a size in bits per weight (label `~B bpw`).
    pub fn target_bits(bits: f64) -> Self {
        Setting::new(format!("~{bits} bpw"), bits, 0)
    }
}

/// What a method produced: the matrix a decoder would rebuild, and what storing it costs.
#[derive(Clone, Debug, PartialEq)]
pub struct Approx {
    /// Row-major `rows x cols` reconstruction.
    pub reconstruction: Vec<f32>,
    /// Total stored bits, everything included (codes, scales, factors, indices, codebooks).
    pub bits: f64,
    /// What was actually stored, e.g. `rank 48, factors f16`.
    pub detail: String,
    /// Shannon entropy of the method's main code stream in bits per code, when it has one
    /// (what an ideal entropy coder would need per code).
    pub code_entropy_bits: Option<f64>,
}

/// A compression method under evaluation.
pub trait Method: Send + Sync {
    /// Short name used in tables, JSON and `--methods` (e.g. `svd`).
    fn name(&self) -> &'static str;
    /// One line: what is stored and how the weights are rebuilt.
    fn description(&self) -> &'static str;
    /// The settings to evaluate on a `rows x cols` matrix (only those that apply to the shape).
    fn settings(&self, rows: usize, cols: usize) -> Vec<Setting>;
    /// Compresses the tensor at one setting.
    fn compress(&self, t: &Tensor, setting: &Setting) -> Result<Approx>;
}

/// Every method, in the order of the tables. ECSQ (entropy-coded scalar quantization, developed
/// on its own branch) is added here as one more module: `Box::new(ecsq::Ecsq)`.
pub fn all_methods() -> Vec<Box<dyn Method>> {
    vec![
        Box::new(affine::Affine),
        Box::new(affine::AffineClip),
        Box::new(polyicdf::PolyIcdf),
        Box::new(polypos::PolyPosition),
        Box::new(svd::TruncatedSvd),
        Box::new(lowrank_sparse::LowRankSparse),
        Box::new(dct::Dct2d),
        Box::new(kronecker::KroneckerSum),
        Box::new(vq::VectorQuant),
        Box::new(ternary::TernaryOutliers),
        Box::new(hashed::HashedSharing),
    ]
}

/// The methods whose names are listed (all when `names` is empty). Unknown names are an error.
pub fn select_methods(names: &[String]) -> Result<Vec<Box<dyn Method>>> {
    let all = all_methods();
    if names.is_empty() {
        return Ok(all);
    }
    let known: Vec<&str> = all.iter().map(|m| m.name()).collect();
    if let Some(bad) = names.iter().find(|n| !known.contains(&n.as_str())) {
        return Err(Error::InvalidArgument(format!("unknown method `{bad}` (known: {})", known.join(", "))));
    }
    Ok(all.into_iter().filter(|m| names.iter().any(|n| n == m.name())).collect())
}

/// A weight matrix under analysis, with a per-tensor cache for expensive intermediate results
/// (the SVD, the DCT coefficients) that several settings or methods share.
pub struct Tensor {
    /// Tensor name.
    pub name: String,
    /// Output features.
    pub rows: usize,
    /// Inputs.
    pub cols: usize,
    /// Row-major weights.
    pub data: Vec<f32>,
    cache: Mutex<HashMap<&'static str, Arc<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor({} {}x{})", self.name, self.rows, self.cols)
    }
}

impl Tensor {
    /// Wraps a row-major matrix. Errors on a length mismatch, an empty matrix or non-finite values.
    pub fn new(name: impl Into<String>, data: Vec<f32>, rows: usize, cols: usize) -> Result<Self> {
        let name = name.into();
        if rows == 0 || cols == 0 || data.len() != rows * cols {
            return Err(Error::tensor(&name, format!("{} values for a {rows}x{cols} matrix", data.len())));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::tensor(&name, format!("weight [{}, {}] is not finite", i / cols, i % cols)));
        }
        Ok(Tensor { name, rows, cols, data, cache: Mutex::new(HashMap::new()) })
    }

    /// Number of weights.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Always false: a tensor has at least one weight.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Computes `f` once per tensor and key and keeps the result for later calls (other settings
    /// and methods). The lock is not held while computing, so `f` may use the cache itself.
    pub fn cached<T: Any + Send + Sync>(&self, key: &'static str, f: impl FnOnce() -> Result<T>) -> Result<Arc<T>> {
        let lookup = |c: &HashMap<&'static str, Arc<dyn Any + Send + Sync>>| {
            c.get(key).map(|v| {
                Arc::clone(v)
                    .downcast::<T>()
                    .map_err(|_| Error::InvalidArgument(format!("analysis cache key `{key}` used with two types")))
            })
        };
        if let Some(v) = lookup(&self.cache.lock().unwrap_or_else(|e| e.into_inner())) {
            return v;
        }
        let v: Arc<T> = Arc::new(f()?);
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, v.clone());
        Ok(v)
    }

    /// The thin SVD of the matrix (computed once).
    pub fn svd(&self) -> Result<Arc<linalg::Svd>> {
        self.cached("svd", || linalg::thin_svd(&self.name, &self.data, self.rows, self.cols))
    }
}

/// Rounds to the nearest f16 and back: what a value costs 16 bits to store.
pub fn f16_round(v: f32) -> f32 {
    half::f16::from_f32(v).to_f32()
}

/// `ceil(log2(n))`, at least 1: bits of an index into `n` things.
pub fn index_bits(n: usize) -> f64 {
    (usize::BITS - n.saturating_sub(1).leading_zeros()).max(1) as f64
}

/// Bits to store the positions of `kept` entries of a `rows x cols` array, the cheapest of: a
/// bitmap (one bit per entry), a flat index per kept entry, or a column index per kept entry plus
/// a count per row.
pub fn position_bits(kept: usize, rows: usize, cols: usize) -> f64 {
    let n = rows * cols;
    let bitmap = n as f64;
    let flat = kept as f64 * index_bits(n);
    let per_row = kept as f64 * index_bits(cols) + rows as f64 * index_bits(cols + 1);
    bitmap.min(flat).min(per_row)
}

/// Indices of the `k` entries of largest magnitude (in no particular order).
pub fn top_k_indices(values: &[f32], k: usize) -> Vec<usize> {
    if k == 0 {
        return Vec::new();
    }
    let mut idx: Vec<usize> = (0..values.len()).collect();
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, |&a, &b| values[b].abs().total_cmp(&values[a].abs()));
        idx.truncate(k);
    }
    idx
}

/// Inputs for the output-fidelity check `y = W x`: `n` vectors of `cols` values, back to back.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    /// `n * cols` values, one input vector after another.
    pub x: Vec<f32>,
    /// Number of vectors.
    pub n: usize,
    /// Where they came from (`random` or the activations file).
    pub source: String,
}

impl Inputs {
    /// `n` standard Gaussian vectors of length `cols`.
    pub fn random(n: usize, cols: usize, seed: u64) -> Self {
        let mut rng = crate::rng::Rng::new(seed);
        Inputs { x: (0..n * cols).map(|_| rng.normal()).collect(), n, source: "random".into() }
    }

    /// Real activations as a row-major `[n, cols]` matrix.
    pub fn real(x: Vec<f32>, n: usize, cols: usize, source: impl Into<String>) -> Result<Self> {
        let source = source.into();
        if n == 0 || x.len() != n * cols {
            return Err(Error::tensor(&source, format!("{} activation values do not fill [n, {cols}]", x.len())));
        }
        Ok(Inputs { x, n, source })
    }

    fn matrix(&self, cols: usize) -> faer::MatRef<'_, f32> {
        faer::MatRef::from_column_major_slice(&self.x, cols, self.n)
    }
}

/// `W X` for a row-major `rows x cols` matrix and the inputs as columns: `rows x n`.
fn outputs(w: &[f32], rows: usize, cols: usize, x: &Inputs) -> Mat<f32> {
    linalg::view(w, rows, cols) * x.matrix(cols)
}

/// Relative L2 error and mean cosine similarity of `y' = W' x` against `y = W x`.
fn output_error(reference: &Mat<f32>, approx: &Mat<f32>) -> (f64, f64) {
    let (mut num, mut den, mut cos) = (0f64, 0f64, 0f64);
    for b in 0..reference.ncols() {
        let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
        for i in 0..reference.nrows() {
            let (y, z) = (f64::from(reference[(i, b)]), f64::from(approx[(i, b)]));
            num += (z - y) * (z - y);
            den += y * y;
            dot += y * z;
            na += y * y;
            nb += z * z;
        }
        cos += if na > 0.0 && nb > 0.0 { dot / (na.sqrt() * nb.sqrt()) } else { 0.0 };
    }
    let rel = if den > 0.0 { (num / den).sqrt() } else { num.sqrt() };
    (rel, cos / reference.ncols().max(1) as f64)
}

/// Statistics of one tensor.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TensorStats {
    /// Tensor name.
    pub tensor: String,
    /// Output features.
    pub rows: usize,
    /// Inputs.
    pub cols: usize,
    /// Standard deviation of the weights.
    pub std: f64,
    /// Pearson kurtosis (3 for a Gaussian); above 3 means heavy tails.
    pub kurtosis: f64,
    /// Largest magnitude in standard deviations.
    pub max_abs_over_std: f64,
    /// Entropy of 4-bit affine codes (groups of 64), bits per code.
    pub entropy_q4g64: f64,
    /// Entropy of 8-bit affine codes (groups of 64), bits per code.
    pub entropy_q8g64: f64,
    /// Singular values needed for 90% of the energy.
    pub effective_rank_90: usize,
    /// `effective_rank_90 / min(rows, cols)`.
    pub effective_rank_fraction: f64,
}

/// Computes [`TensorStats`] (uses the cached SVD).
pub fn tensor_stats(t: &Tensor) -> Result<TensorStats> {
    let m = stats::moments(&t.data);
    let max_abs = t.data.iter().fold(0f32, |a, v| a.max(v.abs()));
    let svd = t.svd()?;
    let s: Vec<f64> = svd.s.iter().map(|&v| f64::from(v)).collect();
    let rank = stats::energy_rank(&s, EFFECTIVE_RANK_ENERGY);
    Ok(TensorStats {
        tensor: t.name.clone(),
        rows: t.rows,
        cols: t.cols,
        std: m.std,
        kurtosis: m.kurtosis,
        max_abs_over_std: f64::from(max_abs) / m.std,
        entropy_q4g64: affine::codes_entropy(&t.data, t.cols, 4, 64),
        entropy_q8g64: affine::codes_entropy(&t.data, t.cols, 8, 64),
        effective_rank_90: rank,
        effective_rank_fraction: rank as f64 / t.rows.min(t.cols) as f64,
    })
}

/// The result of one (tensor, method, setting). Serialized as one JSON object per line
/// ([`record_json`]), and read back by [`parse_records`] (non-finite numbers are written as null:
/// a null SQNR reads back as infinite, an exact reconstruction; other nulls as NaN).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// Tensor name.
    pub tensor: String,
    /// Method name.
    pub method: String,
    /// Setting label.
    pub setting: String,
    /// What was stored.
    pub detail: String,
    /// Output features.
    pub rows: usize,
    /// Inputs.
    pub cols: usize,
    /// Stored bits per weight, everything included.
    #[serde(deserialize_with = "null_as_nan")]
    pub bits_per_weight: f64,
    /// Size relative to f16 (`bits_per_weight / 16`).
    #[serde(deserialize_with = "null_as_nan")]
    pub size_vs_f16: f64,
    /// Size relative to 4-bit affine with groups of 64 (`bits_per_weight / 4.5`).
    #[serde(deserialize_with = "null_as_nan")]
    pub size_vs_q4: f64,
    /// Weight SQNR in dB (infinite when exact, serialized as null).
    #[serde(deserialize_with = "null_as_inf")]
    pub sqnr_db: f64,
    /// Relative L2 error of `y = W x` over the inputs.
    #[serde(deserialize_with = "null_as_nan")]
    pub output_rel_err: f64,
    /// Mean cosine similarity of `y' = W' x` with `y = W x`.
    #[serde(deserialize_with = "null_as_nan")]
    pub output_cosine: f64,
    /// Where the inputs came from (`random` or the activations file).
    pub inputs: String,
    /// Entropy of the main code stream, bits per code, when the method has one.
    pub code_entropy_bits: Option<f64>,
    /// SQNR of affine quantization (the best of min-max and clipped ranges) at the same bits per
    /// weight, interpolated on the affine frontier, when that size is inside the affine range.
    pub affine_sqnr_at_same_bits_db: Option<f64>,
    /// `sqnr_db - affine_sqnr_at_same_bits_db`: positive means better than affine at equal size.
    pub gain_vs_affine_db: Option<f64>,
    /// Pearson kurtosis of the tensor.
    #[serde(deserialize_with = "null_as_nan")]
    pub kurtosis: f64,
    /// Effective rank (90% energy) of the tensor.
    pub effective_rank_90: usize,
    /// Seconds spent compressing.
    #[serde(deserialize_with = "null_as_nan")]
    pub seconds: f64,
}

/// A size/quality frontier: (bits per weight, SQNR) points where more bits always buy more SQNR
/// (dominated points dropped). The affine frontier of a tensor judges every method at equal size.
#[derive(Clone, Debug, PartialEq)]
pub struct Frontier {
    points: Vec<(f64, f64)>,
}

impl Frontier {
    /// The best of scalar affine quantization: every setting of [`affine::Affine`] (min-max) and
    /// [`affine::AffineClip`] (clipping search), Pareto frontier.
    pub fn affine(t: &Tensor) -> Result<Self> {
        let mut pts = Vec::new();
        let methods: [&dyn Method; 2] = [&affine::Affine, &affine::AffineClip];
        for m in methods {
            for s in m.settings(t.rows, t.cols) {
                let a = m.compress(t, &s)?;
                pts.push((a.bits / t.len() as f64, sqnr_db(&t.data, &a.reconstruction)));
            }
        }
        Ok(Self::from_points(pts))
    }

    /// The frontier of arbitrary (bits, SQNR) points: sorted by size, dominated points dropped
    /// (at equal size the best SQNR is kept). An infinite SQNR (an exact format, e.g. q4g32 on
    /// weights already on a 4-bit grid of 32) is kept, and ends the frontier.
    pub fn from_points(mut pts: Vec<(f64, f64)>) -> Self {
        pts.retain(|p| p.0.is_finite() && !p.1.is_nan());
        pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        let mut points: Vec<(f64, f64)> = Vec::new();
        for p in pts {
            if points.last().is_none_or(|l| p.0 > l.0 && p.1 > l.1) {
                points.push(p);
            }
        }
        Frontier { points }
    }

    /// The frontier points, by increasing size.
    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }

    /// SQNR at `bits` per weight, linear between frontier points; None outside their range.
    pub fn sqnr_at(&self, bits: f64) -> Option<f64> {
        let (first, last) = (self.points.first()?, self.points.last()?);
        if bits < first.0 || bits > last.0 {
            return None;
        }
        let i = self.points.partition_point(|p| p.0 < bits);
        if self.points[i].0 == bits {
            return Some(self.points[i].1);
        }
        let (a, b) = (self.points[i - 1], self.points[i]);
        if b.1.is_infinite() {
            return Some(a.1); // no interpolating towards an exact format: the smaller one is what fits
        }
        Some(a.1 + (b.1 - a.1) * (bits - a.0) / (b.0 - a.0))
    }
}

/// Shared per-tensor context for evaluating methods.
pub struct Evaluation<'a> {
    tensor: &'a Tensor,
    stats: TensorStats,
    frontier: Frontier,
    inputs: &'a Inputs,
    reference: Mat<f32>,
}

impl<'a> Evaluation<'a> {
    /// Prepares a tensor: statistics, the affine frontier (min-max and clipped affine at every
    /// setting) and the reference outputs `W x`.
    pub fn new(tensor: &'a Tensor, inputs: &'a Inputs) -> Result<Self> {
        if inputs.x.len() != inputs.n * tensor.cols {
            return Err(Error::tensor(
                &tensor.name,
                format!(
                    "inputs from {} have {} values, not a multiple of {}",
                    inputs.source,
                    inputs.x.len(),
                    tensor.cols
                ),
            ));
        }
        let stats = tensor_stats(tensor)?;
        let frontier = Frontier::affine(tensor)?;
        let reference = outputs(&tensor.data, tensor.rows, tensor.cols, inputs);
        Ok(Evaluation { tensor, stats, frontier, inputs, reference })
    }

    /// The tensor's statistics.
    pub fn stats(&self) -> &TensorStats {
        &self.stats
    }

    /// Runs one method at one setting and measures it.
    pub fn run(&self, method: &dyn Method, setting: &Setting) -> Result<Record> {
        let t = self.tensor;
        let start = Instant::now();
        let a = method.compress(t, setting)?;
        let seconds = start.elapsed().as_secs_f64();
        if a.reconstruction.len() != t.len() {
            return Err(Error::tensor(
                &t.name,
                format!("method {} returned {} values, expected {}", method.name(), a.reconstruction.len(), t.len()),
            ));
        }
        let bpw = a.bits / t.len() as f64;
        let sqnr = sqnr_db(&t.data, &a.reconstruction);
        let y = outputs(&a.reconstruction, t.rows, t.cols, self.inputs);
        let (rel, cos) = output_error(&self.reference, &y);
        let affine = self.frontier.sqnr_at(bpw);
        Ok(Record {
            tensor: t.name.clone(),
            method: method.name().to_string(),
            setting: setting.label.clone(),
            detail: a.detail,
            rows: t.rows,
            cols: t.cols,
            bits_per_weight: bpw,
            size_vs_f16: bpw / F16_BITS,
            size_vs_q4: bpw / Q4_BITS_PER_WEIGHT,
            sqnr_db: sqnr,
            output_rel_err: rel,
            output_cosine: cos,
            inputs: self.inputs.source.clone(),
            code_entropy_bits: a.code_entropy_bits,
            affine_sqnr_at_same_bits_db: affine,
            gain_vs_affine_db: affine.map(|s| sqnr - s),
            kurtosis: self.stats.kurtosis,
            effective_rank_90: self.stats.effective_rank_90,
            seconds,
        })
    }
}

/// Median of a (method, setting) over tensors.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Method name.
    pub method: String,
    /// Setting label.
    pub setting: String,
    /// Number of tensors.
    pub tensors: usize,
    /// Median bits per weight.
    pub bits_per_weight: f64,
    /// Median weight SQNR, dB.
    pub sqnr_db: f64,
    /// Median output relative error.
    pub output_rel_err: f64,
    /// Median output cosine similarity.
    pub output_cosine: f64,
    /// Median SQNR gain over affine at equal size, over the tensors where it is defined.
    pub gain_vs_affine_db: Option<f64>,
    /// Median code entropy, bits per code.
    pub code_entropy_bits: Option<f64>,
}

/// Median of the finite values (None when there are none).
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) })
}

/// Medians per (method, setting) over tensors, in the order the pairs first appear.
pub fn summarize(records: &[Record]) -> Vec<Summary> {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for r in records {
        let k = (r.method.as_str(), r.setting.as_str());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(m, s)| {
            let rs: Vec<&Record> = records.iter().filter(|r| r.method == m && r.setting == s).collect();
            let med = |f: &dyn Fn(&Record) -> f64| median(rs.iter().map(|r| f(r))).unwrap_or(f64::NAN);
            Summary {
                method: m.to_string(),
                setting: s.to_string(),
                tensors: rs.len(),
                bits_per_weight: med(&|r| r.bits_per_weight),
                sqnr_db: med(&|r| r.sqnr_db),
                output_rel_err: med(&|r| r.output_rel_err),
                output_cosine: med(&|r| r.output_cosine),
                gain_vs_affine_db: median(rs.iter().filter_map(|r| r.gain_vs_affine_db)),
                code_entropy_bits: median(rs.iter().filter_map(|r| r.code_entropy_bits)),
            }
        })
        .collect()
}

fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn null_as_inf<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// Reads records written by [`record_json`], one JSON object per line (blank lines skipped);
/// `source` names the input in errors, with the line number.
pub fn parse_records(text: &str, source: &str) -> Result<Vec<Record>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| Error::invalid_file(source, format!("line {}: not an analysis record: {e}", i + 1)))
        })
        .collect()
}

/// Serializes a record as one line of JSON (non-finite numbers become null).
pub fn record_json(r: &Record) -> String {
    serde_json::to_string(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// A rate-distortion plot: median SQNR against median bits per weight, one line per method
/// through its frontier (settings beaten by a smaller setting of the same method are omitted).
pub fn plot(summary: &[Summary], title: &str) -> crate::plot::Plot {
    use crate::plot::{Plot, Series, Style};
    let mut p = Plot::new(title, "bits per weight (all storage counted)", "weight SQNR (dB), median over tensors");
    let mut methods: Vec<&str> = Vec::new();
    for s in summary {
        if !methods.contains(&s.method.as_str()) {
            methods.push(&s.method);
        }
    }
    for m in methods {
        let pts: Vec<(f64, f64)> =
            summary.iter().filter(|s| s.method == m).map(|s| (s.bits_per_weight, s.sqnr_db)).collect();
        let points = Frontier::from_points(pts).points().to_vec();
        p.series.push(Series { name: m.to_string(), points, style: Style::LinesAndPoints });
    }
    p.x_marks.push((Q4_BITS_PER_WEIGHT, "q4g64".into()));
    p
}

#[cfg(test)]
mod tests;
