//! GPU timing with timestamp queries written at compute-pass boundaries.

use super::GpuContext;
use crate::{Error, Result};

/// A set of `capacity` timed intervals. Each interval is one compute pass whose begin and end
/// timestamps are written by the GPU; [`GpuTimer::read_ns`] returns the durations.
#[derive(Debug)]
pub struct GpuTimer {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    capacity: u32,
    period_ns: f64,
}

impl GpuTimer {
    /// Creates a timer for `capacity` intervals, or an error when timestamps are unavailable.
    pub fn new(ctx: &GpuContext, capacity: u32) -> Result<Self> {
        if !ctx.caps.timestamps {
            return Err(Error::Unsupported(format!("timestamp queries on {}", ctx.caps.adapter_name)));
        }
        let count = capacity * 2;
        let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("ecq timer"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("ecq timer resolve"),
            size: u64::from(count) * 8,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Ok(GpuTimer { queries, resolve, capacity, period_ns: f64::from(ctx.queue.get_timestamp_period()) })
    }

    /// Number of intervals.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The query set (interval `i` is written at indices `2i` and `2i + 1`), for intervals
    /// spanning several passes.
    pub fn query_set(&self) -> &wgpu::QuerySet {
        &self.queries
    }

    /// Timestamp writes that make a compute pass interval `i`.
    pub fn pass_writes(&self, i: u32) -> wgpu::ComputePassTimestampWrites<'_> {
        assert!(i < self.capacity, "timer interval {i} out of {}", self.capacity);
        wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(2 * i),
            end_of_pass_write_index: Some(2 * i + 1),
        }
    }

    /// Records the resolution of intervals `0..n` into the readback buffer.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder, n: u32) {
        encoder.resolve_query_set(&self.queries, 0..2 * n.min(self.capacity), &self.resolve, 0);
    }

    /// Durations in nanoseconds of intervals `0..n` (after [`GpuTimer::resolve`] was submitted).
    pub async fn read_ns(&self, ctx: &GpuContext, n: u32) -> Result<Vec<f64>> {
        let n = n.min(self.capacity);
        let bytes = ctx.read_bytes(&self.resolve, 0, u64::from(n) * 16).await?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        Ok(ticks.chunks_exact(2).map(|p| p[1].wrapping_sub(p[0]) as f64 * self.period_ns).collect())
    }
}

/// Median of a sample (NaN for an empty one).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 { s[m] } else { 0.5 * (s[m - 1] + s[m]) }
}
