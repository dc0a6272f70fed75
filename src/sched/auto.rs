//! `auto`: picks a strategy from the memory budget, the device and a quick measurement on the
//! largest coded layer, and says why.

use super::layer::{Layer, LayerWeights};
use super::scheduler::{SchedOptions, Scheduler, io};
use super::strategy::{Strategy, format_bytes};
use crate::Result;
use crate::gpu::{GpuContext, KernelPath};

/// GPU bytes each strategy needs for `layers`: (decode-once, fused, async) — scales, coded
/// streams, decoded codes and slots as each keeps them.
pub fn footprints(layers: &[Layer]) -> (u64, u64, u64) {
    let f = footprints_all(layers);
    (f[0], f[1], f[2])
}

/// Like [`footprints`], with `prefetch-cpu` driven layer by layer (scales and a ring of
/// `ring` slots) fourth.
pub fn footprints_all(layers: &[Layer]) -> [u64; 4] {
    let (mut decoded, mut coded, mut plain, mut largest, mut scales_all) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for l in layers {
        match &l.weights {
            LayerWeights::Coded(t) => {
                let scales = (t.scales.len() * 4) as u64;
                scales_all += scales;
                decoded += t.decoded_bytes() + scales;
                coded += t.stream.sizes().total() as u64 + scales;
                largest = largest.max(t.decoded_bytes());
            }
            LayerWeights::Plain(m) => {
                plain += (m.format().words_per_row(m.cols()) * m.rows() * 4) as u64;
            }
        }
    }
    [decoded + plain, coded + plain, coded + plain + 2 * largest, scales_all + plain + 3 * largest]
}

/// Seconds per layer of `strategy` over `layers` (wall clock, a few repetitions, median).
fn seconds_per_layer(
    ctx: &GpuContext,
    layers: Vec<Layer>,
    strategy: Strategy,
    path: Option<KernelPath>,
) -> Result<f64> {
    let n = layers.len();
    let (rows, cols) = (layers[0].rows(), layers[0].cols());
    let mut s = Scheduler::new(ctx, layers, strategy, SchedOptions { path, ring: None })?;
    let x = ctx.storage_buffer("auto x", bytemuck::cast_slice(&vec![0.5f32; cols.div_ceil(4) * 4]));
    let y = ctx.storage_buffer_empty("auto y", rows as u64 * 4);
    let xs = cols.div_ceil(4) as u32 * 4;
    let mut times = Vec::new();
    for rep in 0..4 {
        let t0 = std::time::Instant::now();
        s.prepare()?;
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for i in 0..n {
                s.encode_layer(&mut pass, i, &io(1, &x, xs, &y, rows as u32))?;
            }
        }
        ctx.queue.submit([enc.finish()]);
        ctx.wait_idle()?;
        if rep > 0 {
            times.push(t0.elapsed().as_secs_f64() / n as f64);
        }
    }
    Ok(crate::gpu::timer::median(&times))
}

/// Resolves `auto` for `layers` under an optional GPU byte budget: returns the strategy and why.
///
/// Without a budget, or when every layer fits decoded, `decode-once` (plain GEMV per token is
/// the fastest). Otherwise the largest coded layer is timed under `fused`, `async` (three copies,
/// so each use decodes) and CPU decode, and the fastest strategy that fits the budget is chosen.
/// `lru` is never chosen: a model reads its layers in a cycle, which an LRU cache smaller than
/// the cycle misses on every use.
pub fn choose(
    ctx: &GpuContext,
    layers: &[Layer],
    budget: Option<u64>,
    path: Option<KernelPath>,
) -> Result<(Strategy, String)> {
    let [once, fused, asy, ring] = footprints_all(layers);
    let Some(budget) = budget else {
        return Ok((
            Strategy::DecodeOnce,
            format!("decode-once: no memory budget given, {} decoded", format_bytes(once)),
        ));
    };
    if once <= budget {
        return Ok((
            Strategy::DecodeOnce,
            format!("decode-once: all layers decoded ({} B) fit the budget ({} B)", once, budget),
        ));
    }
    let Some(big) = layers
        .iter()
        .filter(|l| matches!(l.weights, LayerWeights::Coded(_)))
        .max_by_key(|l| l.rows() * l.cols())
        .cloned()
    else {
        return Ok((Strategy::DecodeOnce, "decode-once: no coded layers".into()));
    };
    let plain = seconds_per_layer(ctx, vec![big.clone()], Strategy::DecodeOnce, path)?;
    let t_fused = seconds_per_layer(ctx, vec![big.clone()], Strategy::Fused, path).ok();
    // Three copies: with two, both would stay in the two slots and nothing would be decoded.
    let t_async = seconds_per_layer(ctx, vec![big.clone(), big.clone(), big.clone()], Strategy::Async, path)?;
    let t_cpu = {
        let LayerWeights::Coded(t) = &big.weights else { unreachable!("filtered to coded layers") };
        let t0 = std::time::Instant::now();
        t.decode_packed_cpu(&big.name)?;
        t0.elapsed().as_secs_f64()
    };
    let ms = |t: f64| t * 1e3;
    let measured = format!(
        "largest layer {} ({}x{}): plain GEMV {:.3} ms, fused {}, async {:.3} ms, CPU decode {:.3} ms",
        big.name,
        big.rows(),
        big.cols(),
        ms(plain),
        t_fused.map_or("unsupported".to_string(), |t| format!("{:.3} ms", ms(t))),
        ms(t_async),
        ms(t_cpu)
    );
    let mut options: Vec<(f64, Strategy, &str)> = Vec::new();
    if asy <= budget {
        options.push((t_async, Strategy::Async, "two decoded slots fit"));
    }
    if let Some(t) = t_fused.filter(|_| fused <= budget) {
        options.push((t, Strategy::Fused, "coded layers fit"));
    }
    if t_cpu < t_async - plain && ring <= budget {
        options.push((plain.max(t_cpu), Strategy::PrefetchCpu, "CPU decode beats GPU decode here"));
    }
    options.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(match options.first() {
        Some(&(_, s, why)) => (
            s,
            format!(
                "{s}: decoded layers ({once} B) exceed the budget ({budget} B); {why} and it is the fastest that fits; {measured}"
            ),
        ),
        None => (
            Strategy::Fused,
            format!(
                "fused: nothing fits the budget ({budget} B; coded layers need {fused} B), fused holds the least; {measured}"
            ),
        ),
    })
}
