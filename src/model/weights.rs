//! A Llama model's weights on the host: every linear layer as an ecq [`Matrix`].

use rayon::prelude::*;

use super::LlamaConfig;
use half::f16;

use crate::io::Gguf;
use crate::io::gguf::GgmlType;
use crate::quant::{AffineSpec, QuantizedMatrix};
use crate::rng::Rng;
use crate::weights::Matrix;
use crate::{Error, Result};

/// Which projection of a transformer block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proj {
    /// Query projection, `q_dim x d_model`.
    Q,
    /// Key projection, `kv_dim x d_model`.
    K,
    /// Value projection, `kv_dim x d_model`.
    V,
    /// Attention output, `d_model x q_dim`.
    O,
    /// MLP gate, `d_ffn x d_model`.
    Gate,
    /// MLP up, `d_ffn x d_model`.
    Up,
    /// MLP down, `d_model x d_ffn`.
    Down,
}

impl Proj {
    /// All projections of a block, in the order the forward pass uses them.
    pub const ALL: [Proj; 7] = [Proj::Q, Proj::K, Proj::V, Proj::O, Proj::Gate, Proj::Up, Proj::Down];

    /// The GGUF tensor name stem (`attn_q`, `ffn_down`, ...).
    pub fn gguf_name(self) -> &'static str {
        match self {
            Proj::Q => "attn_q",
            Proj::K => "attn_k",
            Proj::V => "attn_v",
            Proj::O => "attn_output",
            Proj::Gate => "ffn_gate",
            Proj::Up => "ffn_up",
            Proj::Down => "ffn_down",
        }
    }

    /// (rows, cols) of this projection in a model of `c`'s shape.
    pub fn shape(self, c: &LlamaConfig) -> (usize, usize) {
        match self {
            Proj::Q => (c.q_dim(), c.d_model),
            Proj::K | Proj::V => (c.kv_dim(), c.d_model),
            Proj::O => (c.d_model, c.q_dim()),
            Proj::Gate | Proj::Up => (c.d_ffn, c.d_model),
            Proj::Down => (c.d_model, c.d_ffn),
        }
    }
}

/// Names one linear layer of the model: what a weight source is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinearId {
    /// A projection of block `layer`.
    Block {
        /// Block index.
        layer: usize,
        /// Which projection.
        proj: Proj,
    },
    /// The output projection to logits (the embedding matrix when tied).
    LmHead,
}

impl LinearId {
    /// Every linear layer of a model with `n_layers` blocks, in forward order.
    pub fn all(n_layers: usize) -> impl Iterator<Item = LinearId> {
        (0..n_layers)
            .flat_map(|layer| Proj::ALL.map(|proj| LinearId::Block { layer, proj }))
            .chain(std::iter::once(LinearId::LmHead))
    }

    /// (rows, cols) in a model of `c`'s shape.
    pub fn shape(self, c: &LlamaConfig) -> (usize, usize) {
        match self {
            LinearId::Block { proj, .. } => proj.shape(c),
            LinearId::LmHead => (c.vocab_size, c.d_model),
        }
    }
}

impl std::fmt::Display for LinearId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinearId::Block { layer, proj } => write!(f, "blk.{layer}.{}", proj.gguf_name()),
            LinearId::LmHead => f.write_str("lm_head"),
        }
    }
}

/// One transformer block's weights.
#[derive(Clone, Debug)]
pub struct LayerWeights {
    /// RMSNorm gain before attention (`d_model`).
    pub attn_norm: Vec<f32>,
    /// RMSNorm gain before the MLP (`d_model`).
    pub ffn_norm: Vec<f32>,
    /// The seven projections, in [`Proj::ALL`] order.
    pub proj: [Matrix; 7],
}

impl LayerWeights {
    /// One projection.
    pub fn get(&self, p: Proj) -> &Matrix {
        &self.proj[p as usize]
    }
}

/// All weights of a Llama model.
#[derive(Clone, Debug)]
pub struct LlamaWeights {
    /// The model's shape.
    pub config: LlamaConfig,
    /// Token embedding, `vocab_size x d_model` (Q8_0 codes for SmolLM2); read row by row.
    pub embedding: Matrix,
    /// Final RMSNorm gain (`d_model`).
    pub output_norm: Vec<f32>,
    /// The blocks.
    pub layers: Vec<LayerWeights>,
    /// A separate output projection, or `None` when it is tied to [`LlamaWeights::embedding`].
    pub lm_head: Option<Matrix>,
}

impl LlamaWeights {
    /// Loads every tensor of a Llama GGUF. Q4_0/Q4_1/Q8_0 matrices keep their codes exactly
    /// ([`Gguf::quantized_matrix`]), F16/F32 stay dense, other ggml types are dequantized to f32.
    /// Q and K rows are used as stored, with llama.cpp's adjacent-pair RoPE ([`crate::cpu::rope`]).
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let config = LlamaConfig::from_gguf(g)?;
        let c = &config;
        let embedding = load_matrix(g, "token_embd.weight", (c.vocab_size, c.d_model))?;
        let output_norm = load_vector(g, "output_norm.weight", c.d_model)?;
        let lm_head = match g.tensor_info("output.weight") {
            Ok(_) => Some(load_matrix(g, "output.weight", (c.vocab_size, c.d_model))?),
            Err(_) => None,
        };
        let layers = (0..c.n_layers)
            .into_par_iter()
            .map(|l| {
                let name = |stem: &str| format!("blk.{l}.{stem}.weight");
                let mats: Vec<Matrix> = Proj::ALL
                    .iter()
                    .map(|&p| load_matrix(g, &name(p.gguf_name()), p.shape(c)))
                    .collect::<Result<_>>()?;
                Ok(LayerWeights {
                    attn_norm: load_vector(g, &name("attn_norm"), c.d_model)?,
                    ffn_norm: load_vector(g, &name("ffn_norm"), c.d_model)?,
                    proj: mats.try_into().expect("seven projections"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(LlamaWeights { config, embedding, output_norm, layers, lm_head })
    }

    /// Random weights of `config`'s shape for timing (not for text): linear layers with random
    /// `linear` codes distributed like real weights' codes, a tied
    /// q8g32 embedding, unit norms. Scales are small enough that activations stay finite.
    pub fn synthetic(config: LlamaConfig, linear: AffineSpec, seed: u64) -> Result<Self> {
        config.validate()?;
        let c = &config;
        let random = |name: &str, (rows, cols): (usize, usize), spec: AffineSpec, seed: u64| {
            let mut rng = Rng::new(seed);
            let mut m = QuantizedMatrix { spec, rows, cols, codes: vec![], scales: vec![], biases: vec![] };
            let groups = rows * m.groups_per_row();
            // Codes with the spread of real weights' codes (~3.7 bits of entropy at 4 bits), so
            // entropy-coded strategies see realistic stream sizes.
            let codes = crate::bench::decode::weight_like_codes(rows * cols, spec.bits, &mut rng);
            m.codes = codes.chunks(cols).flat_map(|r| crate::quant::pack::pack(r, spec.bits)).collect();
            let half = f32::from(1u16 << (spec.bits - 1));
            let scale = 0.5 / (half * (cols as f32).sqrt());
            m.scales = vec![f16::from_f32(scale); groups];
            m.biases = vec![f16::from_f32(-half * scale); groups];
            if cols % spec.group_size as usize != 0 {
                return Err(Error::tensor(name, format!("synthetic weights need whole groups of {}", spec.group_size)));
            }
            m.validate(name).map(|()| Matrix::Affine(m))
        };
        let q8 = AffineSpec::new(8, 32)?;
        let embedding = random("token_embd", (c.vocab_size, c.d_model), q8, seed)?;
        let layers = (0..c.n_layers)
            .into_par_iter()
            .map(|l| {
                let mats: Vec<Matrix> = Proj::ALL
                    .iter()
                    .enumerate()
                    .map(|(i, &p)| random(p.gguf_name(), p.shape(c), linear, seed ^ ((l * 8 + i + 1) as u64) << 20))
                    .collect::<Result<_>>()?;
                Ok(LayerWeights {
                    attn_norm: vec![1.0; c.d_model],
                    ffn_norm: vec![1.0; c.d_model],
                    proj: mats.try_into().expect("seven projections"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(LlamaWeights { output_norm: vec![1.0; c.d_model], config, embedding, layers, lm_head: None })
    }

    /// The matrix of one linear layer.
    pub fn linear(&self, id: LinearId) -> &Matrix {
        match id {
            LinearId::Block { layer, proj } => self.layers[layer].get(proj),
            LinearId::LmHead => self.lm_head.as_ref().unwrap_or(&self.embedding),
        }
    }

    /// Bytes of all stored weights (codes, scales and biases or dense values, norms included).
    pub fn stored_bytes(&self) -> usize {
        let mats: usize = self.layers.iter().flat_map(|l| l.proj.iter()).map(Matrix::stored_bytes).sum();
        let norms = (self.layers.len() * 2 + 1) * self.config.d_model * 4;
        mats + norms + self.embedding.stored_bytes() + self.lm_head.as_ref().map_or(0, Matrix::stored_bytes)
    }
}

fn load_matrix(g: &Gguf, name: &str, (rows, cols): (usize, usize)) -> Result<Matrix> {
    let t = g.tensor_info(name)?;
    if t.dims[..] != [cols as u64, rows as u64] {
        return Err(Error::tensor(
            name,
            format!("GGUF dims {:?}, expected [{cols}, {rows}] (in, out) for this config", t.dims),
        ));
    }
    match t.ty {
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0 => Ok(Matrix::Affine(g.quantized_matrix(name)?)),
        GgmlType::F16 => {
            let data = g.tensor_data(name)?.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]])).collect();
            Ok(Matrix::F16 { rows, cols, data })
        }
        ty => {
            if ty != GgmlType::F32 {
                log::warn!("{name}: {ty} is not imported losslessly; dequantized to f32");
            }
            Ok(Matrix::F32 { rows, cols, data: g.tensor_f32(name)?.data })
        }
    }
}

fn load_vector(g: &Gguf, name: &str, n: usize) -> Result<Vec<f32>> {
    let t = g.tensor_f32(name)?;
    if t.data.len() != n || t.shape.len() != 1 {
        return Err(Error::tensor(name, format!("shape {:?}, expected [{n}]", t.shape)));
    }
    if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::tensor(name, format!("value [{i}] = {} is not finite", t.data[i])));
    }
    Ok(t.data)
}
