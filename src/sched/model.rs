//! A [`Scheduler`] over every linear layer of a Llama model, so that [`GpuModel`] generates
//! with any decode strategy (`ecq generate --strategy`).
//!
//! Affine layers are rANS-coded on the CPU at load (their codes losslessly, as a `.ecq` file
//! stores them); other layers stay resident. The output head of a tied model is the embedding,
//! kept resident as a second copy (the model's lookup table is a separate buffer).

use std::sync::Arc;

use rayon::prelude::*;

use super::{CodedTensor, Layer, SchedOptions, Scheduler, Strategy};
use crate::Result;
use crate::gpu::GpuContext;
use crate::kernels::GpuMatrix;
use crate::model::{GpuModel, GpuModelOptions, LinearId, LlamaWeights, Proj};
use crate::weights::Matrix;

/// Every linear layer of `w`, coded where affine, named as [`LinearId`] prints.
pub fn model_layers(w: &LlamaWeights) -> Result<Vec<Layer>> {
    let ids = linear_ids(w);
    ids.par_iter()
        .map(|&id| {
            let name = id.to_string();
            match (id, w.linear(id)) {
                (LinearId::Block { .. }, Matrix::Affine(q)) => Ok(Layer::coded(&name, CodedTensor::encode(q)?)),
                (_, m) => Ok(Layer::plain(&name, m.clone())),
            }
        })
        .collect()
}

/// The model's linear layers in the order a forward pass uses them.
pub fn linear_ids(w: &LlamaWeights) -> Vec<LinearId> {
    let mut ids: Vec<LinearId> =
        (0..w.layers.len()).flat_map(|layer| Proj::ALL.map(|proj| LinearId::Block { layer, proj })).collect();
    ids.push(LinearId::LmHead);
    ids
}

/// A scheduler holding `w`'s linear layers under `strategy`, mapped to the model's layer ids.
pub fn model_scheduler(
    ctx: &GpuContext,
    w: &LlamaWeights,
    strategy: Strategy,
    opts: SchedOptions,
) -> Result<Scheduler> {
    let mut s = Scheduler::new(ctx, model_layers(w)?, strategy, opts)?;
    s.map_by_name(linear_ids(w))?;
    Ok(s)
}

/// `w` on the GPU with its linear layers under `strategy`.
pub fn model_with_strategy(
    ctx: &GpuContext,
    w: &LlamaWeights,
    strategy: Strategy,
    opts: &GpuModelOptions,
) -> Result<GpuModel<Scheduler>> {
    let embedding = Arc::new(GpuMatrix::upload(ctx, "token_embd", &w.embedding)?);
    let source = model_scheduler(ctx, w, strategy, SchedOptions::default())?;
    GpuModel::new(ctx, w, embedding, source, opts)
}
