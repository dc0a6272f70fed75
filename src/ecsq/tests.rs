use half::f16;
use proptest::prelude::*;

use super::*;
use crate::rng::Rng;

/// Laplacian-ish weights with a few large values, `rows x cols`.
fn weights(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..rows * cols)
        .map(|i| {
            let u = rng.uniform().max(1e-6);
            let s = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
            let v = s * -u.ln() * 0.02;
            if i % 997 == 3 { v * 40.0 } else { v }
        })
        .collect()
}

fn params() -> EcsqParams {
    EcsqParams::default()
}

#[test]
fn round_trip_bytes_and_bits_per_weight_counts_every_byte() {
    let (rows, cols) = (37, 91);
    let w = weights(rows, cols, 1);
    let input = Input::new("t", &w, rows, cols).unwrap();
    let q = EcsqMatrix::quantize_with_step(&input, 0.01, &params()).unwrap();
    let bytes = q.matrix.to_bytes();
    assert_eq!(bytes.len(), q.matrix.stored_bytes());
    assert_eq!(q.matrix.bits_per_weight(), 8.0 * bytes.len() as f64 / (rows * cols) as f64);
    let back = EcsqMatrix::from_bytes("t", &bytes).unwrap();
    assert_eq!(back, q.matrix);
    assert_eq!(back.dequantize().unwrap(), q.reconstruction);
}

#[test]
fn corrupt_bytes_are_errors_not_panics() {
    let (rows, cols) = (9, 33);
    let w = weights(rows, cols, 2);
    let input = Input::new("t", &w, rows, cols).unwrap();
    let bytes = EcsqMatrix::quantize_with_step(&input, 0.005, &params()).unwrap().matrix.to_bytes();
    for cut in 0..bytes.len() {
        assert!(EcsqMatrix::from_bytes("t", &bytes[..cut]).is_err());
    }
    let mut rng = Rng::new(3);
    for _ in 0..300 {
        let mut b = bytes.clone();
        let i = rng.below(b.len() as u64) as usize;
        b[i] ^= 1 << rng.below(8);
        // Either rejected, or (a flip in a step or outlier value) a valid matrix that decodes.
        if let Ok(m) = EcsqMatrix::from_bytes("t", &b) {
            let _ = m.dequantize();
        }
    }
}

#[test]
fn rdo_beats_plain_rounding_on_the_rate_distortion_curve() {
    let (rows, cols) = (64, 256);
    let w = weights(rows, cols, 4);
    let input = Input::new("t", &w, rows, cols).unwrap();
    let plain = EcsqParams { rdo: 0.0, ..params() };
    for bpw in [2.5, 3.5] {
        let a = EcsqMatrix::quantize_to_bpw(&input, bpw, &plain).unwrap();
        let b = EcsqMatrix::quantize_to_bpw(&input, bpw, &params()).unwrap();
        assert!(a.bits_per_weight() <= bpw && b.bits_per_weight() <= bpw);
        assert!(b.sqnr_db > a.sqnr_db - 0.05, "{bpw}: rdo {} vs plain {}", b.sqnr_db, a.sqnr_db);
    }
}

#[test]
fn sqnr_target_is_met_and_outliers_are_used_for_large_values() {
    let (rows, cols) = (50, 200);
    let w = weights(rows, cols, 5);
    let input = Input::new("t", &w, rows, cols).unwrap();
    let q = EcsqMatrix::quantize_to_sqnr(&input, 20.0, &params()).unwrap();
    assert!(q.sqnr_db >= 20.0 && q.sqnr_db < 20.6, "{}", q.sqnr_db);
    assert_eq!(q.matrix.dequantize().unwrap(), q.reconstruction);
    // With a step this coarse the 40x weights leave [-127, 127]: they must be outliers.
    let coarse = EcsqMatrix::quantize_with_step(&input, 0.002, &params()).unwrap();
    assert!(!coarse.matrix.outliers().is_empty());
    let err: f64 = w.iter().zip(&coarse.reconstruction).map(|(a, b)| f64::from(a - b).powi(2)).sum();
    assert!((err - coarse.squared_error).abs() <= 1e-6 * err.max(1e-12));
}

#[test]
fn runtime_is_the_q8_affine_identity() {
    let (rows, cols) = (13, 70);
    let w = weights(rows, cols, 6);
    let input = Input::new("t", &w, rows, cols).unwrap();
    let q = EcsqMatrix::quantize_with_step(&input, 0.003, &params()).unwrap();
    let rt = q.matrix.to_runtime().unwrap();
    let mut body = rt.matrix.dequantize();
    assert_eq!(body.len(), rows * cols);
    q.matrix.outliers().apply(&mut body);
    assert_eq!(body, q.reconstruction);
}

#[test]
fn importance_weights_the_error() {
    let (rows, cols) = (32, 64);
    let w = weights(rows, cols, 7);
    let imp: Vec<f32> = (0..cols).map(|c| if c < 8 { 20.0 } else { 0.1 }).collect();
    let plain = Input::new("t", &w, rows, cols).unwrap();
    let weighted = Input::new("t", &w, rows, cols).unwrap().with_importance(&imp).unwrap();
    let a = EcsqMatrix::quantize_with_step(&plain, 0.02, &params()).unwrap();
    let b = EcsqMatrix::quantize_with_step(&weighted, 0.02, &params()).unwrap();
    let col_err = |r: &[f32]| -> f64 {
        (0..rows).flat_map(|i| (0..8).map(move |c| i * cols + c)).map(|i| f64::from(w[i] - r[i]).powi(2)).sum()
    };
    assert!(col_err(&b.reconstruction) < col_err(&a.reconstruction));
    assert!(Input::new("t", &w, rows, cols).unwrap().with_importance(&imp[1..]).is_err());
}

#[test]
fn bad_inputs_are_errors() {
    assert!(Input::new("t", &[1.0, f32::NAN], 1, 2).is_err());
    assert!(Input::new("t", &[1.0; 3], 2, 2).is_err());
    let w = [0.5f32; 4];
    let input = Input::new("t", &w, 2, 2).unwrap();
    assert!(EcsqMatrix::quantize_with_step(&input, -1.0, &params()).is_err());
    assert!(EcsqMatrix::quantize_to_bpw(&input, 0.0, &params()).is_err());
    // A constant matrix quantizes exactly.
    let q = EcsqMatrix::quantize_with_step(&input, 0.25, &params()).unwrap();
    assert_eq!(q.reconstruction, w);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn serialization_round_trips(
        rows in 1usize..12, cols in 1usize..40, seed in 0u64..1000, step in 0.0005f32..0.2, rps in 1usize..12,
    ) {
        let w = weights(rows, cols, seed);
        let input = Input::new("p", &w, rows, cols).unwrap();
        let p = EcsqParams { rows_per_step: Some(rps.min(rows)), row_adapt: 0.5, ..params() };
        let q = EcsqMatrix::quantize_with_step(&input, step, &p).unwrap();
        let bytes = q.matrix.to_bytes();
        prop_assert_eq!(bytes.len(), q.matrix.stored_bytes());
        let back = EcsqMatrix::from_bytes("p", &bytes).unwrap();
        prop_assert_eq!(back.dequantize().unwrap(), q.reconstruction.clone());
        prop_assert_eq!(back, q.matrix);
    }

    #[test]
    fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = EcsqMatrix::from_bytes("p", &bytes);
    }
}

#[test]
fn steps_are_exact_in_the_runtime() {
    for bits in [1u16, 0x3c00, 0x5ffc] {
        let s = f16::from_bits(bits);
        if s.to_f32() <= MAX_STEP {
            let (sc, b) = runtime_scale_bias(s);
            assert_eq!(sc, s);
            assert_eq!(b.to_f32(), -128.0 * s.to_f32());
        }
    }
}

#[test]
fn allocation_spends_bits_where_they_lower_the_total_error() {
    // Two tensors of very different scale: one budget beats the same rate on each.
    let (a, b) = (weights(40, 128, 8), weights(40, 128, 9).iter().map(|v| v * 8.0).collect::<Vec<_>>());
    let inputs = [Input::new("a", &a, 40, 128).unwrap(), Input::new("b", &b, 40, 128).unwrap()];
    let alloc = allocate(&inputs, 3.0, Objective::Absolute, &params()).unwrap();
    assert!(alloc.bits_per_weight <= 3.0);
    let err: f64 = alloc.tensors.iter().map(|q| q.squared_error).sum();
    let each: f64 = inputs.iter().map(|i| EcsqMatrix::quantize_to_bpw(i, 3.0, &params()).unwrap().squared_error).sum();
    assert!(err < each, "allocated {err} vs per tensor {each}");
    let rel = allocate(&inputs, 3.0, Objective::Relative, &params()).unwrap();
    assert!(rel.bits_per_weight <= 3.0 && rel.tensors.len() == 2);
    assert!(allocate(&inputs, 0.0, Objective::Absolute, &params()).is_err());
}

#[test]
fn eval_covers_every_format_with_the_json_keys() {
    let (rows, cols) = (48, 256);
    let w = weights(rows, cols, 10);
    let out = eval::evaluate("t", &w, rows, cols, &[3.0]).unwrap();
    let names: Vec<&str> = out.iter().map(|r| r.format.as_str()).collect();
    for f in ["q2g32", "q3g64+rans", "q4g128", "q8g64+rans", "ecsq3", "ecsq3-noout", "ecsq@q4g64"] {
        assert!(names.contains(&f), "{f} missing from {names:?}");
    }
    assert_eq!(out.len(), 24 + 2 + 1);
    let q4 = out.iter().find(|r| r.format == "q4g64").unwrap();
    assert_eq!(q4.bits_per_weight, 4.5);
    let at = out.iter().find(|r| r.format == "ecsq@q4g64").unwrap();
    assert!(at.sqnr_db >= q4.sqnr_db);
    let e3 = out.iter().find(|r| r.format == "ecsq3").unwrap();
    assert!(e3.bits_per_weight <= 3.0);
    let json = serde_json::to_value(e3).unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4);
    for k in ["tensor", "format", "bits_per_weight", "sqnr_db"] {
        assert!(json.get(k).is_some(), "{k}");
    }
}
