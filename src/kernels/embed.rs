//! Embedding lookup with dequantization on the gather — the Rust side of `wgsl/embed.wgsl`
//! (reference: [`crate::cpu::embed`]).

use super::{Bound, Family, GpuMatrix, check_floats};
use crate::gpu::GpuContext;
use crate::gpu::pipeline::PipelineKey;
use crate::gpu::shader::Defines;
use crate::weights::WeightFormat;
use crate::{Error, Result};

/// Relative L2 error against the reference: `scale * q + bias` in f32, possibly fused (an ulp).
pub const REL_ERR_BOUND: f64 = 1e-7;

/// One compiled embedding variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EmbedKey {
    /// Format of the table.
    pub format: WeightFormat,
    /// Invocations per workgroup.
    pub wg_size: u32,
}

impl PipelineKey for EmbedKey {
    fn shader(&self) -> &'static str {
        "embed.wgsl"
    }
    fn defines(&self) -> Defines {
        let (format, bits) = match self.format {
            WeightFormat::Affine(s) => (0, s.bits),
            WeightFormat::F16 => (16, 0),
            WeightFormat::F32 => (32, 0),
        };
        Defines::new().int("FORMAT", format).int("BITS", bits)
    }
    fn constants(&self) -> Vec<(&'static str, f64)> {
        vec![("WG_SIZE", f64::from(self.wg_size))]
    }
    fn label(&self) -> String {
        format!("embed {} wg{}", self.format, self.wg_size)
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    row0: u32,
    cols: u32,
    words_per_row: u32,
    groups_per_row: u32,
    group_size: u32,
    _pad: [u32; 2],
}

/// The embedding kernel family on one device.
#[derive(Debug)]
pub struct Embed {
    fam: Family<EmbedKey>,
}

/// A prepared lookup from one table.
#[derive(Debug)]
pub struct EmbedPlan {
    parts: Vec<(Bound, wgpu::Buffer)>,
    key: EmbedKey,
    cols: u32,
}

impl Embed {
    /// Creates the family.
    pub fn new(ctx: &GpuContext) -> Self {
        Embed { fam: Family::new(ctx, "ecq embed", 1, &[true, true, true, false]) }
    }

    /// Prepares `out[t] = table[tokens[t]]` (`tokens`: u32, each below `table.rows`, which the
    /// caller checks: a row outside the table leaves its output unwritten).
    pub fn plan(&self, tokens: &wgpu::Buffer, table: &GpuMatrix, out: &wgpu::Buffer) -> Result<EmbedPlan> {
        check_floats("embed out", out, table.cols)?;
        check_floats("embed tokens", tokens, 1)?;
        let (gpr, gs) = match table.format {
            WeightFormat::Affine(s) => (table.cols.div_ceil(s.group_size as usize), s.group_size),
            _ => (0, 1),
        };
        if table.rows > u32::MAX as usize || table.cols == 0 {
            return Err(Error::InvalidArgument(format!("embedding table of {}x{}", table.rows, table.cols)));
        }
        let key = EmbedKey { format: table.format, wg_size: 64 };
        let parts = table
            .parts
            .iter()
            .map(|p| {
                let params = self.fam.uniform(
                    "ecq embed params",
                    &Params {
                        rows: p.rows as u32,
                        row0: p.row0 as u32,
                        cols: table.cols as u32,
                        words_per_row: table.format.words_per_row(table.cols) as u32,
                        groups_per_row: gpr as u32,
                        group_size: gs,
                        _pad: [0; 2],
                    },
                );
                let bound = self.fam.bind(&key, &[&params, tokens, &p.weights, &p.scale_bias, out])?;
                Ok((bound, params))
            })
            .collect::<Result<_>>()?;
        Ok(EmbedPlan { parts, key, cols: table.cols as u32 })
    }
}

impl EmbedPlan {
    /// Records the lookup of the pass's `n_tokens` tokens.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, n_tokens: u32) {
        for (bound, _) in &self.parts {
            bound.dispatch(pass, self.cols.div_ceil(self.key.wg_size), n_tokens);
        }
    }
}
