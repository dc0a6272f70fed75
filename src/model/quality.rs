//! Model-level quality of weight formats: every linear layer of a model re-stored in a format,
//! then perplexity on a fixed text and the KL divergence of each next-token distribution against
//! the original weights' ([`score`]). `ecq eval-model` prints the table.
//!
//! The token embedding (tied to the output projection in SmolLM2) and the norms are kept as
//! stored in every format, so the comparison isolates the 210 linear layers.

use rayon::prelude::*;
use std::fmt;
use std::str::FromStr;

use super::{Decoder, LlamaWeights};
use crate::container::{Coding, Container, Tensor};
use crate::quant::AffineSpec;
use crate::weights::{Matrix, WeightFormat};
use crate::{Error, Result};

/// The fixed text perplexity is measured on (committed: the opening of Lewis Carroll's *Alice's
/// Adventures in Wonderland*, 1865, in the public domain).
pub const EVAL_TEXT: &str = include_str!("../../assets/eval-text.txt");

/// How the linear layers of a model are stored for an evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ModelFormat {
    /// As loaded (SmolLM2: the GGUF's Q4_1 codes).
    Original,
    /// The original codes rANS-coded in a `.ecq` container and decoded back: lossless.
    Rans,
    /// Dequantized and re-quantized to group-wise affine codes (min-max), stored packed.
    Affine(AffineSpec),
    /// Dequantized and re-quantized with ECSQ at this many bits per weight (all overhead
    /// included); the model runs its exact reconstruction as f32 weights.
    Ecsq(f64),
}

impl fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelFormat::Original => f.write_str("original"),
            ModelFormat::Rans => f.write_str("rans"),
            ModelFormat::Affine(s) => f.write_str(&s.name()),
            ModelFormat::Ecsq(bpw) => write!(f, "ecsq{bpw:.1}"),
        }
    }
}

impl FromStr for ModelFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "original" => Ok(ModelFormat::Original),
            "rans" => Ok(ModelFormat::Rans),
            _ if s.starts_with("ecsq") => match s["ecsq".len()..].parse::<f64>() {
                Ok(b) if (1.0..=8.0).contains(&b) => Ok(ModelFormat::Ecsq(b)),
                _ => Err(Error::InvalidArgument(format!("model format `{s}`: ecsq takes 1 to 8 bits, e.g. ecsq3.5"))),
            },
            _ => AffineSpec::parse(s).map(ModelFormat::Affine).map_err(|_| {
                Error::InvalidArgument(format!(
                    "model format `{s}`: expected original, rans, an affine format such as q4g64, or ecsq3.5"
                ))
            }),
        }
    }
}

/// A model with its linear layers in one format.
#[derive(Debug)]
pub struct Restored {
    /// The weights the model runs.
    pub weights: LlamaWeights,
    /// Stored bits per weight of the linear layers (codes, scales, biases; rANS tables, states
    /// and offsets for coded layers).
    pub linear_bits_per_weight: f64,
}

/// Re-stores every linear layer of `w` as `format` (in parallel over layers).
pub fn restore(w: &LlamaWeights, format: ModelFormat) -> Result<Restored> {
    let mut out = w.clone();
    let n_weights: usize = w.layers.iter().flat_map(|l| l.proj.iter()).map(|m| m.rows() * m.cols()).sum();
    let bits: Vec<usize> = out
        .layers
        .par_iter_mut()
        .enumerate()
        .map(|(l, layer)| {
            let mut bits = 0;
            for (p, m) in layer.proj.iter_mut().enumerate() {
                let name = format!("blk.{l}.proj{p}");
                let (new, b) = restore_matrix(&name, m, format)?;
                *m = new;
                bits += b;
            }
            Ok(bits)
        })
        .collect::<Result<_>>()?;
    Ok(Restored { weights: out, linear_bits_per_weight: bits.iter().sum::<usize>() as f64 / n_weights as f64 })
}

/// One matrix in `format` and its stored size in bits.
fn restore_matrix(name: &str, m: &Matrix, format: ModelFormat) -> Result<(Matrix, usize)> {
    match format {
        ModelFormat::Original => Ok((m.clone(), m.stored_bytes() * 8)),
        ModelFormat::Rans => {
            let Matrix::Affine(q) = m else {
                return Err(Error::tensor(name, format!("rANS needs affine codes, the layer is {}", m.format())));
            };
            // Through the file format and its validating reader, as a user's file would go.
            let bytes = Container::new(vec![Tensor::affine(name, q.clone(), Coding::Rans)?])?.to_bytes();
            let c = Container::from_bytes(&bytes)?;
            let t = &c.tensors()[0];
            Ok((t.decode_cpu()?, c.stored_sizes()[0].total() * 8))
        }
        ModelFormat::Ecsq(bpw) => {
            let (q, recon) = crate::ecsq::quantize_f32(name, &m.to_f32(), m.rows(), m.cols(), bpw)?;
            let bits = (q.bits_per_weight() * (m.rows() * m.cols()) as f64).round() as usize;
            Ok((Matrix::F32 { rows: m.rows(), cols: m.cols(), data: recon }, bits))
        }
        ModelFormat::Affine(spec) => {
            let q = Matrix::from_f32(name, &m.to_f32(), m.rows(), m.cols(), WeightFormat::Affine(spec))?;
            let bits = q.stored_bytes() * 8;
            Ok((q, bits))
        }
    }
}

/// Next-token log-probabilities of a reference run, one row per scored position.
#[derive(Clone, Debug)]
pub struct Reference {
    /// The scored text's tokens.
    pub tokens: Vec<u32>,
    /// `log p(. | tokens[..=i])` for each position `i` but the last.
    pub log_probs: Vec<Vec<f32>>,
    /// The raw logits, to check lossless formats bit for bit.
    pub logits: Vec<Vec<f32>>,
}

/// Quality of one run against the text and, when given, a reference run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scores {
    /// Tokens predicted (the text's tokens but the first).
    pub predicted: usize,
    /// `exp` of the mean negative log-likelihood of the text.
    pub perplexity: f64,
    /// Mean KL divergence `KL(reference || this)` in nats over positions (0 without reference).
    pub kl_mean: f64,
    /// Largest KL divergence at one position.
    pub kl_max: f64,
    /// Share of positions whose most likely token equals the reference's.
    pub top1_agreement: f64,
    /// Whether every logit equals the reference's bit for bit.
    pub identical_logits: bool,
}

/// Runs `model` over `tokens` one token at a time (the decode path generation uses) and scores
/// it. `progress` is called after each token. Returns the scores and this run as a reference.
pub fn score(
    model: &mut dyn Decoder,
    tokens: &[u32],
    reference: Option<&Reference>,
    mut progress: impl FnMut(usize),
) -> Result<(Scores, Reference)> {
    if tokens.len() < 2 || tokens.len() > model.capacity() {
        return Err(Error::InvalidArgument(format!(
            "scoring {} tokens: need 2..={} (the model's KV capacity)",
            tokens.len(),
            model.capacity()
        )));
    }
    if let Some(r) = reference
        && r.tokens != tokens
    {
        return Err(Error::InvalidArgument("the reference was scored on other tokens".into()));
    }
    model.reset();
    let mut run = Reference { tokens: tokens.to_vec(), log_probs: vec![], logits: vec![] };
    let (mut nll, mut kl_sum, mut kl_max, mut agree, mut identical) = (0f64, 0f64, 0f64, 0usize, true);
    for (i, &t) in tokens[..tokens.len() - 1].iter().enumerate() {
        let logits = model.forward(&[t])?;
        let lp = log_softmax(&logits);
        nll -= f64::from(lp[tokens[i + 1] as usize]);
        if let Some(r) = reference {
            let kl = kl_divergence(&r.log_probs[i], &lp);
            kl_sum += kl;
            kl_max = kl_max.max(kl);
            agree += usize::from(crate::cpu::argmax(&r.logits[i]) == crate::cpu::argmax(&logits));
            identical &= r.logits[i].iter().zip(&logits).all(|(a, b)| a.to_bits() == b.to_bits());
        }
        run.log_probs.push(lp);
        run.logits.push(logits);
        progress(i + 1);
    }
    let n = tokens.len() - 1;
    let scores = Scores {
        predicted: n,
        perplexity: (nll / n as f64).exp(),
        kl_mean: kl_sum / n as f64,
        kl_max,
        top1_agreement: if reference.is_some() { agree as f64 / n as f64 } else { 1.0 },
        identical_logits: reference.is_some() && identical,
    };
    Ok((scores, run))
}

/// `log softmax(logits)`, computed in f64.
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let lse = f64::from(max) + logits.iter().map(|&v| f64::from(v - max).exp()).sum::<f64>().ln();
    logits.iter().map(|&v| (f64::from(v) - lse) as f32).collect()
}

/// `KL(p || q)` in nats from log-probabilities.
pub fn kl_divergence(log_p: &[f32], log_q: &[f32]) -> f64 {
    log_p.iter().zip(log_q).map(|(&a, &b)| f64::from(a).exp() * f64::from(a - b)).sum::<f64>().max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_is_zero_for_equal_and_positive_for_different_distributions() {
        let a = log_softmax(&[1.0, 2.0, 3.0]);
        let b = log_softmax(&[3.0, 2.0, 1.0]);
        assert!(kl_divergence(&a, &a) < 1e-12);
        assert!(kl_divergence(&a, &b) > 0.5);
        let total: f64 = a.iter().map(|&v| f64::from(v).exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
    }

    #[test]
    fn formats_parse_and_print() {
        for s in ["original", "rans", "q4g64", "q3g128", "ecsq3.5", "ecsq3.0"] {
            assert_eq!(s.parse::<ModelFormat>().unwrap().to_string(), s);
        }
        assert!("f16".parse::<ModelFormat>().is_err());
        assert!("q5g64".parse::<ModelFormat>().is_err());
        assert!("ecsq0.5".parse::<ModelFormat>().is_err());
    }
}
