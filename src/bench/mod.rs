//! GPU benchmarks: timestamp-timed runs (warm-up, median), bandwidth of the bytes that must move,
//! and the copy roofline measured on the same device in the same run. Benchmarks are not tests.

pub mod decode;
pub mod gemv;
#[cfg(not(target_arch = "wasm32"))]
pub mod strategies;

use serde::Serialize;

use crate::gpu::{GpuContext, GpuTimer, timer::median};
use crate::kernels::copy::{Copy, CopyKind};
use crate::{Error, Result};

/// Least wall time of warm-up before timed runs (native).
pub const WARMUP_SECS: f64 = 0.3;

/// How long to measure.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Untimed runs first (pipeline warm-up, clocks up).
    pub warmup: u32,
    /// Timed runs; the median is reported.
    pub runs: u32,
}

impl Timing {
    /// Defaults for real GPUs (`quick` for software adapters and smoke runs).
    pub fn new(quick: bool) -> Self {
        if quick { Timing { warmup: 3, runs: 10 } } else { Timing { warmup: 20, runs: 100 } }
    }
}

/// Bandwidth ceilings measured with the copy kernels.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Roofline {
    /// Copy bandwidth, bytes read + written per second / 1e9.
    pub copy_gbps: f64,
    /// Read-only bandwidth, GB/s.
    pub read_gbps: f64,
    /// Buffer size used, bytes.
    pub bytes: u64,
}

/// Times `timing.runs` compute passes, each recorded by `record(pass, i)`, after
/// `timing.warmup` untimed ones; returns the per-pass GPU times in nanoseconds.
pub async fn time_passes(
    ctx: &GpuContext,
    timing: Timing,
    record: &mut dyn FnMut(&mut wgpu::ComputePass<'_>, u32),
) -> Result<Vec<f64>> {
    let timer = GpuTimer::new(ctx, timing.runs)?;
    // Warm up for a minimum number of passes and, natively, at least WARMUP_SECS of wall time:
    // a GPU that idled (while the host generated data) runs at low clocks for a while.
    #[cfg(not(target_arch = "wasm32"))]
    let started = std::time::Instant::now();
    let mut warm = 0;
    loop {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        for i in 0..timing.warmup.max(1) {
            let mut pass = enc.begin_compute_pass(&Default::default());
            record(&mut pass, i);
        }
        ctx.queue.submit([enc.finish()]);
        warm += 1;
        #[cfg(not(target_arch = "wasm32"))]
        {
            ctx.wait_idle()?;
            if started.elapsed().as_secs_f64() >= WARMUP_SECS || timing.warmup == 0 || warm >= 1000 {
                break;
            }
        }
        #[cfg(target_arch = "wasm32")]
        {
            let _ = warm;
            break;
        }
    }
    // Submit timed runs in modest batches so a slow adapter never sees one huge submission.
    let mut done = 0;
    while done < timing.runs {
        let n = (timing.runs - done).min(32);
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        for i in done..done + n {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("ecq bench"),
                timestamp_writes: Some(timer.pass_writes(i)),
            });
            record(&mut pass, timing.warmup + i);
        }
        ctx.queue.submit([enc.finish()]);
        done += n;
    }
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    timer.resolve(&mut enc, timing.runs);
    ctx.queue.submit([enc.finish()]);
    let ns = timer.read_ns(ctx, timing.runs).await?;
    if ns.iter().any(|&t| t <= 0.0) {
        return Err(Error::Gpu("timestamp queries returned non-increasing times".into()));
    }
    Ok(ns)
}

/// Measures the copy and read-only bandwidth on buffers of `bytes` (clamped to the binding limit).
pub async fn roofline(ctx: &GpuContext, bytes: u64, timing: Timing) -> Result<Roofline> {
    let bytes = bytes.min(ctx.caps.max_storage_binding).min(ctx.caps.max_buffer_size) / 16 * 16;
    let copy = Copy::new(ctx);
    let src = ctx.storage_buffer_empty("ecq roofline src", bytes);
    let dst = ctx.storage_buffer_empty("ecq roofline dst", bytes);
    // Fill the source so no driver can treat it as untouched memory.
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    enc.clear_buffer(&src, 0, None);
    ctx.queue.submit([enc.finish()]);
    let fill: Vec<u8> = (0..bytes.min(64 << 20)).map(|i| (i * 2654435761 >> 13) as u8).collect();
    for o in (0..bytes).step_by(fill.len()) {
        let n = (bytes - o).min(fill.len() as u64) as usize;
        ctx.queue.write_buffer(&src, o, &fill[..n]);
    }
    let copy_plan = copy.plan(CopyKind::Copy, &src, &dst)?;
    let read_plan = copy.plan(CopyKind::Read, &src, &dst)?;
    let t_copy = median(&time_passes(ctx, timing, &mut |p, _| copy_plan.encode(p)).await?);
    let t_read = median(&time_passes(ctx, timing, &mut |p, _| read_plan.encode(p)).await?);
    Ok(Roofline { copy_gbps: 2.0 * bytes as f64 / t_copy, read_gbps: bytes as f64 / t_read, bytes })
}

/// How many copies of a `bytes`-sized operand to rotate through so the working set exceeds the
/// last-level cache (`rotate_bytes`, e.g. 4x the L2), capped at 64.
pub fn rotation_copies(bytes: u64, rotate_bytes: u64) -> usize {
    (rotate_bytes.div_ceil(bytes.max(1)) as usize).clamp(1, 64)
}
