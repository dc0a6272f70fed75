//! A small real-weights fixture compiled into the crate, so tests, examples and benchmarks have
//! trained weights without a download.
//!
//! [`DEMO_FIXTURE`] holds the six 2-D linear weights of transformer layer 0 of all-MiniLM-L6-v2
//! (Apache-2.0; provenance in `assets/NOTICE`), converted from F32 to F16 by `tools/make-fixture.py`:
//!
//! | tensor | shape |
//! |---|---|
//! | `encoder.layer.0.attention.self.query.weight` | 384 x 384 |
//! | `encoder.layer.0.attention.self.key.weight` | 384 x 384 |
//! | `encoder.layer.0.attention.self.value.weight` | 384 x 384 |
//! | `encoder.layer.0.attention.output.dense.weight` | 384 x 384 |
//! | `encoder.layer.0.intermediate.dense.weight` | 1536 x 384 |
//! | `encoder.layer.0.output.dense.weight` | 384 x 1536 |

use std::path::Path;

use super::FloatTensor;
use crate::Result;

/// The fixture file: f16 safetensors, 1,769,472 weights (3.5 MB).
pub const DEMO_FIXTURE: &[u8] = include_bytes!("../../assets/minilm-l6-layer0.f16.safetensors");

/// Loads the [`DEMO_FIXTURE`] weights as f32 (exactly the f16 values), sorted by name, each
/// `[out, in]`.
pub fn load_demo_fixture() -> Result<Vec<FloatTensor>> {
    super::safetensors::load_floats_from_bytes(DEMO_FIXTURE, Path::new("assets/minilm-l6-layer0.f16.safetensors"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_has_the_six_layer0_matrices() {
        let t = load_demo_fixture().unwrap();
        let shapes: Vec<(&str, &[usize])> = t.iter().map(|t| (t.name.as_str(), &t.shape[..])).collect();
        assert_eq!(
            shapes,
            [
                ("encoder.layer.0.attention.output.dense.weight", &[384, 384][..]),
                ("encoder.layer.0.attention.self.key.weight", &[384, 384]),
                ("encoder.layer.0.attention.self.query.weight", &[384, 384]),
                ("encoder.layer.0.attention.self.value.weight", &[384, 384]),
                ("encoder.layer.0.intermediate.dense.weight", &[1536, 384]),
                ("encoder.layer.0.output.dense.weight", &[384, 1536]),
            ]
        );
        for t in &t {
            // Trained weights: finite, centred near zero, not constant.
            assert!(t.data.iter().all(|v| v.is_finite() && v.abs() < 16.0), "{}", t.name);
            let mean = t.data.iter().map(|&v| f64::from(v)).sum::<f64>() / t.len() as f64;
            let var = t.data.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / t.len() as f64;
            assert!(mean.abs() < 0.01 && var > 1e-4, "{}: mean {mean} var {var}", t.name);
        }
    }
}
