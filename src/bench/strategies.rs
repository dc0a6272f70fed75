//! `ecq bench strategies`: every decode strategy over a layer stack — time per token (one GEMV
//! per layer), GPU bytes held, the ratio to plain resident q4 GEMV over the same stack, and
//! whether outputs are bit-identical to `decode-once`.

use std::sync::Arc;

use serde::Serialize;

use super::decode::{BREAK_EVEN_SYMBOLS_PER_BYTE, weight_like_codes};
use super::{Roofline, Timing};
use crate::gpu::timer::median;
use crate::gpu::{GpuContext, GpuTimer};
use crate::quant::AffineSpec;
use crate::rng::Rng;
use crate::sched::{CodedTensor, Layer, LayerStack, LayerWeights, SchedOptions, Strategy, TokenTimestamps};
use crate::weights::Matrix;
use crate::{Error, Result};

/// One strategy on one stack.
#[derive(Clone, Debug, Serialize)]
pub struct StrategyResult {
    /// Which stack (`synthetic 32x[4096x4096,14336x4096] q4g64`, `smollm2-135m`).
    pub stack: String,
    /// The strategy (`lru:...` with its budget).
    pub strategy: String,
    /// Median time of one token (one GEMV per layer), milliseconds.
    pub ms_per_token: f64,
    /// GPU bytes the strategy holds for the weights.
    pub gpu_bytes: u64,
    /// `ms_per_token` over that of plain resident q4 GEMV on the same stack.
    pub ratio_to_q4: f64,
    /// Outputs equal `decode-once`'s bit for bit.
    pub identical_to_decode_once: bool,
    /// `gpu-timestamps` (first pass begin to last pass end) or `wall` (CPU work included).
    pub timing: String,
    /// Layers in the stack.
    pub layers: usize,
    /// For `fused`: decoded symbols/s over the copy roofline's bytes/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbols_per_byte: Option<f64>,
    /// For `fused`: the break-even of that ratio against plain q4 GEMV (1.78).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_even: Option<f64>,
    /// For `async`: the fraction of decode time hidden, `(t_serial - t_async) / (t_serial -
    /// t_decode_once)` with `t_serial` the LRU run that decodes then multiplies every layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decode_hidden: Option<f64>,
    /// What the scheduler says about itself (`auto`: what it picked and why).
    pub explain: String,
    /// Adapter name.
    pub adapter: String,
}

/// A synthetic stack: `n` layers alternating `shapes`, q4g64 codes with the entropy of real
/// weights (~3.7 bits). Layers share host data in pairs of variants per shape; each layer has
/// its own GPU buffers, so the working set is the whole stack.
pub fn synthetic_layers(n: usize, shapes: &[(usize, usize)], seed: u64) -> Result<Vec<Layer>> {
    let spec = AffineSpec::new(4, 64)?;
    let mut rng = Rng::new(seed);
    let mut variants: Vec<Vec<Arc<CodedTensor>>> = Vec::new();
    for &(rows, cols) in shapes {
        let mut v = Vec::new();
        for _ in 0..2.min(n.div_ceil(shapes.len())) {
            let codes = weight_like_codes(rows * cols, 4, &mut rng);
            let groups = rows * cols.div_ceil(64);
            let f = |rng: &mut Rng, s: f32| half::f16::from_f32(rng.normal() * s);
            let scales = (0..groups).map(|_| f(&mut rng, 0.01)).collect();
            let biases = (0..groups).map(|_| f(&mut rng, 0.05)).collect();
            v.push(Arc::new(CodedTensor::from_codes(spec, rows, cols, &codes, scales, biases)?));
        }
        variants.push(v);
    }
    Ok((0..n)
        .map(|i| {
            let v = &variants[i % shapes.len()];
            Layer { name: format!("layer{i}"), weights: LayerWeights::Coded(v[(i / shapes.len()) % v.len()].clone()) }
        })
        .collect())
}

/// The linear layers of SmolLM2-135M (Q4_1 GGUF), rANS-coded; the first `blocks` blocks.
pub fn smollm2_layers(path: &std::path::Path, blocks: usize) -> Result<Vec<Layer>> {
    let g = crate::io::Gguf::open(path)?;
    let w = crate::model::LlamaWeights::from_gguf(&g)?;
    let mut layers = Vec::new();
    for id in crate::model::LinearId::all(w.config.n_layers.min(blocks)) {
        if id == crate::model::LinearId::LmHead {
            continue;
        }
        let name = id.to_string();
        layers.push(match w.linear(id) {
            Matrix::Affine(q) => Layer::coded(&name, CodedTensor::encode(q)?),
            m => Layer::plain(&name, m.clone()),
        });
    }
    Ok(layers)
}

/// Median ms per token of `st`: GPU timestamps from the first pass's beginning to the last
/// pass's end where the device has them (CPU-side work is not counted), else wall time.
fn time_token(ctx: &GpuContext, st: &mut LayerStack, timing: Timing) -> Result<(f64, &'static str)> {
    if st.scheduler().strategy() == Strategy::PrefetchCpu || !ctx.caps.timestamps {
        // Wall-timed runs include CPU decode of the whole stack per token: at most 2 + 10.
        let timing = Timing { warmup: timing.warmup.min(2), runs: timing.runs.min(10) };
        let mut t = Vec::new();
        for i in 0..timing.warmup + timing.runs {
            let t0 = std::time::Instant::now();
            if st.scheduler().strategy() == Strategy::PrefetchCpu {
                st.run_pipelined()?;
            } else {
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                st.record_token(&mut enc, None)?;
                ctx.queue.submit([enc.finish()]);
            }
            ctx.wait_idle()?;
            if i >= timing.warmup {
                t.push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
        return Ok((median(&t), "wall"));
    }
    for _ in 0..timing.warmup {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        st.record_token(&mut enc, None)?;
        ctx.queue.submit([enc.finish()]);
    }
    ctx.wait_idle()?;
    let timer = GpuTimer::new(ctx, timing.runs)?;
    for i in 0..timing.runs {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        let ts = TokenTimestamps { query_set: timer.query_set(), begin: 2 * i, end: 2 * i + 1 };
        st.record_token(&mut enc, Some(ts))?;
        ctx.queue.submit([enc.finish()]);
    }
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    timer.resolve(&mut enc, timing.runs);
    ctx.queue.submit([enc.finish()]);
    let ns = pollster::block_on(timer.read_ns(ctx, timing.runs))?;
    Ok((median(&ns) / 1e6, "gpu-timestamps"))
}

fn same_bits(a: &[Vec<f32>], b: &[Vec<f32>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(u, v)| u.iter().map(|f| f.to_bits()).eq(v.iter().map(|f| f.to_bits())))
}

/// Measures every strategy on `layers`. `lru` gets a budget of one (largest) decoded layer: the
/// case where the stack does not fit, and the serial decode-then-multiply baseline for `async`.
/// `max_gpu_bytes` refuses to build a strategy whose estimated footprint exceeds it.
pub fn measure(
    ctx: &GpuContext,
    stack: &str,
    layers: &[Layer],
    timing: Timing,
    roof: &Roofline,
    max_gpu_bytes: Option<u64>,
    progress: &mut dyn FnMut(&StrategyResult),
) -> Result<Vec<StrategyResult>> {
    let (once_bytes, _, _) = crate::sched::auto::footprints(layers);
    if let Some(max) = max_gpu_bytes.filter(|&m| once_bytes * 2 > m) {
        return Err(Error::InvalidArgument(format!(
            "{stack}: decode-once plus the q4 baseline need ~{} MiB, above the {} MiB limit",
            (once_bytes * 2) >> 20,
            max >> 20
        )));
    }
    let mut rng = Rng::new(99);
    let inputs: Vec<Vec<f32>> = layers.iter().map(|l| rng.signed(l.cols())).collect();
    let symbols: usize =
        layers.iter().filter(|l| matches!(l.weights, LayerWeights::Coded(_))).map(|l| l.rows() * l.cols()).sum();
    let largest = layers
        .iter()
        .filter_map(|l| if let LayerWeights::Coded(t) = &l.weights { Some(t.decoded_bytes()) } else { None });
    let lru_budget = largest.max().unwrap_or(0);
    // The baseline: every layer plain q4, resident, CPU-decoded codes uploaded.
    let plain: Vec<Layer> = layers
        .iter()
        .map(|l| match &l.weights {
            LayerWeights::Coded(t) => Ok(Layer::plain(&l.name, Matrix::Affine(t.to_matrix(&l.name)?))),
            LayerWeights::Plain(_) => Ok(l.clone()),
        })
        .collect::<Result<_>>()?;
    let (q4_ms, reference) = {
        let mut st = LayerStack::new(ctx, plain, Strategy::DecodeOnce, SchedOptions::default())?;
        let y = st.run(&inputs)?;
        (time_token(ctx, &mut st, timing)?.0, y)
    };
    let mut strategies = vec![Strategy::DecodeOnce];
    strategies.extend(Strategy::all(lru_budget).into_iter().filter(|s| *s != Strategy::DecodeOnce));
    // Just below what decode-once needs: auto must pick something else, and say why.
    strategies.push(Strategy::Auto { budget: Some(once_bytes.saturating_sub(1)) });
    let mut out: Vec<StrategyResult> = Vec::new();
    let mut once_out = None;
    let (mut t_once, mut t_lru) = (f64::NAN, f64::NAN);
    for s in strategies {
        let mut st = LayerStack::new(ctx, layers.to_vec(), s, SchedOptions::default())?;
        ctx.check_errors()?;
        let y = st.run(&inputs)?;
        if s == Strategy::DecodeOnce {
            if !same_bits(&y, &reference) {
                return Err(Error::Gpu(format!("{stack}: decode-once differs from the plain q4 GEMV")));
            }
            once_out = Some(y.clone());
        }
        let identical = once_out.as_ref().is_some_and(|o| same_bits(o, &y));
        let (ms, how) = time_token(ctx, &mut st, timing)?;
        match s {
            Strategy::DecodeOnce => t_once = ms,
            Strategy::Lru { .. } => t_lru = ms,
            _ => {}
        }
        let sym_per_byte = (s == Strategy::Fused).then(|| symbols as f64 / (ms * 1e-3) / (roof.copy_gbps * 1e9));
        let r = StrategyResult {
            stack: stack.to_string(),
            strategy: s.to_string(),
            ms_per_token: ms,
            gpu_bytes: st.gpu_bytes(),
            ratio_to_q4: ms / q4_ms,
            identical_to_decode_once: identical,
            timing: how.to_string(),
            layers: layers.len(),
            symbols_per_byte: sym_per_byte,
            break_even: sym_per_byte.map(|_| BREAK_EVEN_SYMBOLS_PER_BYTE),
            decode_hidden: (s == Strategy::Async).then(|| (t_lru - ms) / (t_lru - t_once)),
            explain: st.scheduler().explain().to_string(),
            adapter: ctx.caps.adapter_name.clone(),
        };
        progress(&r);
        out.push(r);
    }
    let q4 = StrategyResult {
        stack: stack.to_string(),
        strategy: "plain-q4".into(),
        ms_per_token: q4_ms,
        gpu_bytes: once_bytes,
        ratio_to_q4: 1.0,
        identical_to_decode_once: true,
        timing: "gpu-timestamps".into(),
        layers: layers.len(),
        symbols_per_byte: None,
        break_even: None,
        decode_hidden: None,
        explain: "baseline: CPU-decoded codes uploaded, resident, plain GEMV".into(),
        adapter: ctx.caps.adapter_name.clone(),
    };
    out.insert(0, q4);
    Ok(out)
}
