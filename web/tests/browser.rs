//! ecq's GPU kernels in a real browser (headless Chromium, WebGPU on SwiftShader in CI):
//! `tools/web-test.sh` runs these through wasm-bindgen-test-runner and chromedriver.
//!
//! They fail when WebGPU gives no adapter: a browser test that skips the GPU is not a GPU test.

#![cfg(target_arch = "wasm32")]

use ecq::selftest;
use ecq_web::{context, default_file, plain_error, run};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Every kernel variant the browser's device supports — GEMV in every format, batch and path,
/// dequant, and the rANS decoder into the packed layouts (bit-exact) — on random data and odd
/// shapes against the WASM CPU reference: `ecq selftest` in the browser.
#[wasm_bindgen_test]
async fn selftest_passes_in_the_browser() {
    let ctx = context().await.expect("WebGPU device");
    assert_eq!(ctx.caps.backend, "webgpu");
    assert!(!ctx.caps.dot8, "WebGPU has no packed int8 dot product in wgpu");
    let checks = selftest::run_seeded(&ctx, 0x5eed, &mut |_| {}).await.expect("selftest ran");
    let decodes = checks.iter().filter(|c| c.kernel == "rans_decode").count();
    let gemvs = checks.iter().filter(|c| c.kernel == "gemv").count();
    assert!(decodes >= 5 && gemvs >= 20, "{decodes} decodes, {gemvs} GEMVs");
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{} {} {}: err {} {:?}", c.kernel, c.variant, c.shape, c.scaled_err, c.error))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} checks failed on {}:\n{}",
        failed.len(),
        checks.len(),
        ctx.caps.adapter_name,
        failed.join("\n")
    );
}

/// The demo page's run on the built-in file (real MiniLM weights, q4g64, rANS): every matrix
/// decoded on the GPU bit-exactly, GEMV within bound, fused decode + GEMV within bound and
/// bit-identical to decode-then-GEMV (several groups of rows per workgroup: the case the plain
/// GEMV never runs).
#[wasm_bindgen_test]
async fn demo_on_the_builtin_file_passes() {
    let ctx = context().await.expect("WebGPU device");
    let (bytes, build_ms) = default_file().expect("built-in file");
    let report = run(&ctx, &bytes, "fixture", Some(build_ms), &mut |_| {}).await.expect("demo ran");
    assert!(report.ok, "{}\n{}", report.verdict, serde_json::to_string_pretty(&report.tensors).unwrap());
    assert_eq!(report.tensors.len(), 6);
    for t in &report.tensors {
        assert_eq!(t.decode_exact, Some(true), "{}", t.name);
        assert!(t.gemv_ok, "{}: {} > {}", t.name, t.gemv_err, t.gemv_bound);
        assert_eq!(t.fused_ok, Some(true), "{}: fused error {:?}", t.name, t.fused_err);
        assert_eq!(t.fused_identical, Some(true), "{}: fused differs from decode-then-GEMV", t.name);
    }
    assert!(report.file.bytes < report.file.q4_bytes && report.file.q4_bytes < report.file.f16_bytes);
}

/// A damaged file is an error in plain words, not a panic; so is a corrupted rANS stream.
#[wasm_bindgen_test]
async fn bad_files_are_plain_errors() {
    let ctx = context().await.expect("WebGPU device");
    let e = run(&ctx, b"definitely not an ecq file", "junk", None, &mut |_| {}).await.unwrap_err();
    assert!(plain_error(&e).starts_with("This is not a valid .ecq file"), "{}", plain_error(&e));
    let (mut bytes, _) = default_file().unwrap();
    let n = bytes.len();
    for b in &mut bytes[n - 4096..n - 2048] {
        *b ^= 0x5a;
    }
    match run(&ctx, &bytes, "damaged", None, &mut |_| {}).await {
        Err(e) => assert!(!plain_error(&e).is_empty()),
        Ok(r) => assert!(!r.ok, "a damaged file passed: {}", r.verdict),
    }
}
