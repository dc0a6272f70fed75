//! The sparse correction `y += S x` — the Rust side of `wgsl/sparse_add.wgsl` (reference:
//! [`SparseRows::add_to`]). It adds an ECSQ matrix's outliers after the q8 GEMV of its body.

use super::{Bound, Family};
use crate::gpu::GpuContext;
use crate::gpu::pipeline::PipelineKey;
use crate::gpu::shader::Defines;
use crate::weights::SparseRows;
use crate::{Error, Result};

/// Relative error against the f64 reference: an f32 sum of a few products per row, added once
/// to `y` (the outliers of a row are a handful).
pub const REL_ERR_BOUND: f64 = 1e-6;

/// One compiled variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SparseAddKey {
    /// Invocations per workgroup.
    pub wg_size: u32,
}

impl PipelineKey for SparseAddKey {
    fn shader(&self) -> &'static str {
        "sparse_add.wgsl"
    }
    fn defines(&self) -> Defines {
        Defines::new()
    }
    fn constants(&self) -> Vec<(&'static str, f64)> {
        vec![("WG_SIZE", f64::from(self.wg_size))]
    }
    fn label(&self) -> String {
        format!("sparse_add wg{}", self.wg_size)
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_listed: u32,
    x_stride: u32,
    y_stride: u32,
    _pad: u32,
}

/// A sparse matrix resident on the GPU.
#[derive(Debug)]
pub struct GpuSparseRows {
    /// Listed rows (0: nothing to add).
    pub n_listed: u32,
    rows: usize,
    cols: usize,
    row_index: wgpu::Buffer,
    row_ptr: wgpu::Buffer,
    col: wgpu::Buffer,
    value: wgpu::Buffer,
}

impl GpuSparseRows {
    /// Uploads `s` (one-word placeholders when it is empty: bindings cannot be empty).
    pub fn upload(ctx: &GpuContext, name: &str, s: &SparseRows) -> Self {
        let buf = |part: &str, v: &[u32]| {
            let v = if v.is_empty() { &[0u32][..] } else { v };
            ctx.storage_buffer(&format!("{name} outliers {part}"), bytemuck::cast_slice(v))
        };
        let value: Vec<u32> = s.value.iter().map(|v| v.to_bits()).collect();
        GpuSparseRows {
            n_listed: s.row_index.len() as u32,
            rows: s.rows,
            cols: s.cols,
            row_index: buf("rows", &s.row_index),
            row_ptr: buf("ptr", &s.row_ptr),
            col: buf("cols", &s.col),
            value: buf("values", &value),
        }
    }
}

/// The kernel family on one device.
#[derive(Debug)]
pub struct SparseAdd {
    fam: Family<SparseAddKey>,
}

/// A prepared dispatch.
#[derive(Debug)]
pub struct SparseAddPlan {
    bound: Bound,
    key: SparseAddKey,
    n_listed: u32,
    batch: u32,
    _params: wgpu::Buffer,
}

impl SparseAdd {
    /// Creates the family.
    pub fn new(ctx: &GpuContext) -> Self {
        SparseAdd { fam: Family::new(ctx, "ecq sparse add", 1, &[true, true, true, true, true, false]) }
    }

    /// Prepares `y += S x` for `batch` vectors (`x` vectors `x_stride` apart, `y` vectors
    /// `y_stride` apart).
    pub fn plan(
        &self,
        s: &GpuSparseRows,
        x: &wgpu::Buffer,
        x_stride: usize,
        y: &wgpu::Buffer,
        y_stride: usize,
        batch: u32,
    ) -> Result<SparseAddPlan> {
        let b = u64::from(batch.max(1));
        if x_stride < s.cols
            || y_stride < s.rows
            || x.size() < 4 * ((b - 1) * x_stride as u64 + s.cols as u64)
            || y.size() < 4 * ((b - 1) * y_stride as u64 + s.rows as u64)
        {
            return Err(Error::InvalidArgument(format!(
                "sparse add: buffers of {} and {} bytes for {batch} vectors of a {}x{} matrix",
                x.size(),
                y.size(),
                s.rows,
                s.cols
            )));
        }
        let key = SparseAddKey { wg_size: 64 };
        let params = self.fam.uniform(
            "ecq sparse add params",
            &Params { n_listed: s.n_listed, x_stride: x_stride as u32, y_stride: y_stride as u32, _pad: 0 },
        );
        let bound = self.fam.bind(&key, &[&params, &s.row_index, &s.row_ptr, &s.col, &s.value, x, y])?;
        Ok(SparseAddPlan { bound, key, n_listed: s.n_listed, batch, _params: params })
    }
}

impl SparseAddPlan {
    /// Records the correction (nothing when there are no entries).
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        if self.n_listed > 0 {
            self.bound.dispatch(pass, self.n_listed.div_ceil(self.key.wg_size), self.batch);
        }
    }
}
