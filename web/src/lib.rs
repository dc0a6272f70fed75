//! ecq in the browser: the demo page's engine (exported to JavaScript through wasm-bindgen) and
//! the checks the browser tests run.
//!
//! [`run`] takes the bytes of a `.ecq` file and, on the page's WebGPU device, for every matrix:
//! decodes the rANS-coded codes on the GPU and compares them bit for bit with the CPU decoder
//! (compiled to WASM), runs GEMV on the decoded matrix and the fused decode + GEMV on the coded
//! one and compares both with the CPU reference within the kernel's error bound, and times both
//! sides. Everything is async: the
//! browser resolves buffer mappings on its event loop, nothing blocks.

use std::cell::OnceCell;
use std::path::Path;

use ecq::container::convert::{self, Options};
use ecq::container::{Coding, Container, Payload, Tensor};
use ecq::gpu::{Capabilities, ContextOptions, GpuContext, PipelineKey};
use ecq::kernels::GpuMatrix;
use ecq::kernels::gemv::{self, Gemv, Vectors};
use ecq::kernels::gemv_fused::{CodedAffine, FusedKey, GemvFused, GpuCodedMatrix};
use ecq::kernels::rans_decode;
use ecq::quant::AffineSpec;
use ecq::rng::Rng;
use ecq::weights::{Matrix, WeightFormat};
use ecq::{Error, cpu};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// Format of the built-in file: 4-bit codes in groups of 64, rANS-coded.
pub const DEFAULT_FORMAT: AffineSpec = AffineSpec { bits: 4, group_size: 64 };
/// Matrices checked per file (the largest files would otherwise take minutes on a CPU adapter).
pub const MAX_MATRICES: usize = 16;
/// Timed repetitions of each GPU step (after one untimed warm-up run).
const REPEATS: usize = 3;

/// What the page shows.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The device's capabilities as enabled.
    pub caps: Capabilities,
    /// Kernel path the device takes (`f32`, `f16+sg`, ...).
    pub path: String,
    /// The file.
    pub file: FileReport,
    /// One row per checked matrix.
    pub tensors: Vec<TensorReport>,
    /// Matrices in the file that were not checked (over [`MAX_MATRICES`]).
    pub skipped: usize,
    /// All checks passed.
    pub ok: bool,
    /// One line that says so (or what failed).
    pub verdict: String,
}

/// The file against the same weights in plain 4-bit and in f16.
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    /// Where it came from (`built-in fixture` or the file's name).
    pub source: String,
    /// Bytes of the file.
    pub bytes: usize,
    /// Tensors in it.
    pub tensors: usize,
    /// Weights in it.
    pub weights: usize,
    /// The weights in f16: 2 bytes each.
    pub f16_bytes: usize,
    /// The weights in plain 4-bit with an f16 scale and bias per 64 (4.5 bits per weight).
    pub q4_bytes: usize,
    /// Milliseconds to parse and validate the file (WASM).
    pub load_ms: f64,
    /// Milliseconds it took to build it (built-in fixture only: quantize + rANS-code in WASM).
    pub build_ms: Option<f64>,
}

/// The checks of one matrix.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TensorReport {
    /// Tensor name.
    pub name: String,
    /// `rows x cols`.
    pub shape: String,
    /// Stored format (`q4g64 rANS`, `f16`, ...).
    pub format: String,
    /// Stored bytes, its share of the header included.
    pub stored_bytes: usize,
    /// GPU rANS decode equals the CPU decode bit for bit (None: not rANS-coded).
    pub decode_exact: Option<bool>,
    /// CPU (WASM) rANS decode, ms.
    pub cpu_decode_ms: Option<f64>,
    /// GPU rANS decode including readback, ms (median).
    pub gpu_decode_ms: Option<f64>,
    /// GEMV variant.
    pub gemv_variant: String,
    /// Largest GEMV error relative to each output's error scale.
    pub gemv_err: f64,
    /// The bound it must stay within.
    pub gemv_bound: f64,
    /// GEMV within bound.
    pub gemv_ok: bool,
    /// CPU (WASM) reference GEMV, ms.
    pub cpu_gemv_ms: f64,
    /// GPU GEMV including readback, ms (median).
    pub gpu_gemv_ms: f64,
    /// Fused decode + GEMV's largest error relative to each output's error scale (None: not
    /// available for this matrix on this device).
    pub fused_err: Option<f64>,
    /// Fused decode + GEMV within the GEMV bound (None: not available).
    pub fused_ok: Option<bool>,
    /// Fused decode + GEMV equals decode-then-GEMV bit for bit (shown; the bound is what passes).
    pub fused_identical: Option<bool>,
    /// Fused decode + GEMV including readback, ms (median).
    pub fused_ms: Option<f64>,
    /// Why a step failed or was left out, in plain words.
    pub note: Option<String>,
}

impl TensorReport {
    fn ok(&self) -> bool {
        self.decode_exact != Some(false) && self.gemv_ok && self.fused_ok != Some(false) && self.note.is_none()
    }
}

thread_local! {
    static DEFAULT_FILE: OnceCell<(Vec<u8>, f64)> = const { OnceCell::new() };
}

/// The built-in `.ecq` file: the embedded MiniLM layer ([`ecq::io::fixture::DEMO_FIXTURE`])
/// quantized to [`DEFAULT_FORMAT`] and rANS-coded by the CPU encoder, and the milliseconds
/// that took (built once per page).
pub fn default_file() -> ecq::Result<(Vec<u8>, f64)> {
    if let Some(v) = DEFAULT_FILE.with(|c| c.get().cloned()) {
        return Ok(v);
    }
    let t0 = now_ms();
    let opts = Options { format: WeightFormat::Affine(DEFAULT_FORMAT), coding: Coding::Rans, ecsq: None };
    let conv = convert::from_safetensors(ecq::io::fixture::DEMO_FIXTURE, Path::new("built-in fixture"), opts, &|_| ())?;
    let v = (conv.container.to_bytes(), now_ms() - t0);
    DEFAULT_FILE.with(|c| {
        let _ = c.set(v.clone());
    });
    Ok(v)
}

/// Creates the page's device: every feature and limit the adapter offers.
pub async fn context() -> ecq::Result<GpuContext> {
    GpuContext::new(&ContextOptions::default()).await
}

/// Runs every check on `bytes` (a `.ecq` file), calling `progress` with a line per step.
pub async fn run(
    ctx: &GpuContext,
    bytes: &[u8],
    source: &str,
    build_ms: Option<f64>,
    progress: &mut dyn FnMut(&str),
) -> ecq::Result<Report> {
    let t0 = now_ms();
    let container = Container::from_bytes(bytes)?;
    let load_ms = now_ms() - t0;
    let weights: usize = container.tensors().iter().map(Tensor::n_weights).sum();
    let file = FileReport {
        source: source.to_string(),
        bytes: bytes.len(),
        tensors: container.tensors().len(),
        weights,
        f16_bytes: 2 * weights,
        q4_bytes: weights * 9 / 16,
        load_ms,
        build_ms,
    };
    progress(&format!("{source}: {} bytes, {} tensors, {weights} weights", bytes.len(), file.tensors));
    let sizes = container.stored_sizes();
    let matrices: Vec<(&Tensor, usize)> = container
        .tensors()
        .iter()
        .zip(&sizes)
        .filter(|(t, _)| t.shape().len() == 2)
        .map(|(t, s)| (t, s.total()))
        .collect();
    let skipped = matrices.len().saturating_sub(MAX_MATRICES);
    let mut tensors = Vec::new();
    let gemv = Gemv::new(ctx);
    let fused = GemvFused::new(ctx);
    let mut rng = Rng::new(8);
    for (t, stored) in matrices.into_iter().take(MAX_MATRICES) {
        progress(&format!("checking {} {:?}", t.name(), t.shape()));
        let r = check_tensor(ctx, &gemv, &fused, t, stored, &mut rng).await?;
        tensors.push(r);
    }
    let bad: Vec<&TensorReport> = tensors.iter().filter(|r| !r.ok()).collect();
    let coded = tensors.iter().filter(|r| r.decode_exact.is_some()).count();
    let fused_n = tensors.iter().filter(|r| r.fused_ok == Some(true)).count();
    let ok = bad.is_empty() && !tensors.is_empty();
    let verdict = if tensors.is_empty() {
        "FAIL: the file has no matrices to check".to_string()
    } else if ok {
        let mut v = format!(
            "PASS: {coded} rANS-coded matrices decoded on the GPU bit-exactly, GEMV on {} matrices within bound \
             of the CPU reference",
            tensors.len()
        );
        if fused_n > 0 {
            v += &format!(", fused decode + GEMV on {fused_n} too");
        }
        v
    } else {
        let names: Vec<&str> = bad.iter().map(|r| r.name.as_str()).collect();
        format!("FAIL: {} of {} matrices failed: {}", bad.len(), tensors.len(), names.join(", "))
    };
    progress(&verdict);
    Ok(Report { caps: ctx.caps.clone(), path: ctx.caps.path().name(), file, tensors, skipped, ok, verdict })
}

async fn check_tensor(
    ctx: &GpuContext,
    gemv: &Gemv,
    fused: &GemvFused,
    t: &Tensor,
    stored_bytes: usize,
    rng: &mut Rng,
) -> ecq::Result<TensorReport> {
    let (rows, cols) = (t.shape()[0], t.shape()[1]);
    let mut r = TensorReport {
        name: t.name().to_string(),
        shape: format!("{rows} x {cols}"),
        format: match t.payload() {
            Payload::AffineRans(a) => format!("{} rANS", a.spec().name()),
            _ => t.format().to_string(),
        },
        stored_bytes,
        ..Default::default()
    };
    // The CPU decode (checked against the stored checksum) is the reference for everything.
    let t0 = now_ms();
    let m = t.decode_cpu()?;
    if let Some(enc) = t.rans() {
        r.cpu_decode_ms = Some(now_ms() - t0);
        let want = t.codes_cpu()?.unwrap_or_default();
        let (got, ms) = timed(|| rans_decode::decode_symbols(ctx, enc)).await;
        match got {
            Ok(got) => {
                r.gpu_decode_ms = Some(ms);
                let exact = got == want;
                r.decode_exact = Some(exact && t.check_codes(&got, "GPU").is_ok());
            }
            Err(e) => {
                r.decode_exact = Some(false);
                r.note = Some(format!("GPU decode failed: {}", plain_error(&e)));
            }
        }
    }
    // GEMV on the decoded matrix against the CPU reference.
    let x: Vec<f32> = (0..cols).map(|_| rng.normal()).collect();
    let key = gemv.key(m.format(), 1, rows, cols)?;
    r.gemv_variant = key.label();
    r.gemv_bound = gemv::error_bound(&key);
    let t0 = now_ms();
    let (want, scale) = gemv::reference(&key, &m, &x, 1)?;
    r.cpu_gemv_ms = now_ms() - t0;
    let gm = GpuMatrix::upload(ctx, t.name(), &m)?;
    let (got, ms) = timed(|| gemv::run_once(ctx, gemv, &key, &gm, &x)).await;
    let got = match got {
        Ok(y) => y,
        Err(e) => {
            r.gemv_err = f64::NAN;
            r.note = Some(format!("GPU GEMV failed: {}", plain_error(&e)));
            return Ok(r);
        }
    };
    r.gpu_gemv_ms = ms;
    r.gemv_err = cpu::max_scaled_err(&got, &want, &scale);
    r.gemv_ok = r.gemv_err <= r.gemv_bound;
    // Fused decode + GEMV straight from the coded stream: bit-identical to decode-then-GEMV.
    if let (Payload::AffineRans(a), Matrix::Affine(_)) = (t.payload(), &m) {
        let coded = CodedAffine {
            spec: a.spec(),
            rows,
            cols,
            block_rows: a.block_rows(),
            stream: a.stream(),
            scales: a.scales(),
            biases: a.biases(),
        };
        let gcm = GpuCodedMatrix::upload(ctx, t.name(), coded)?;
        match FusedKey::for_matrix(&ctx.caps, &key, &gcm) {
            Ok(fkey) => {
                let (y, ms) = timed(|| run_fused(ctx, fused, &fkey, &gcm, &x)).await;
                match y {
                    Ok(y) => {
                        let err = cpu::max_scaled_err(&y, &want, &scale);
                        r.fused_ms = Some(ms);
                        r.fused_err = Some(err);
                        r.fused_ok = Some(err <= r.gemv_bound);
                        r.fused_identical = Some(y.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()));
                    }
                    Err(e) => {
                        r.fused_ok = Some(false);
                        r.note = Some(format!("fused decode + GEMV failed: {}", plain_error(&e)));
                    }
                }
            }
            Err(Error::Unsupported(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(r)
}

/// Runs `f` once untimed, then [`REPEATS`] times; returns the last result and the median ms.
async fn timed<T, F: std::future::Future<Output = ecq::Result<T>>>(mut f: impl FnMut() -> F) -> (ecq::Result<T>, f64) {
    let mut out = f().await;
    let mut times = Vec::new();
    for _ in 0..REPEATS {
        if out.is_err() {
            break;
        }
        let t0 = now_ms();
        out = f().await;
        times.push(now_ms() - t0);
    }
    times.sort_by(f64::total_cmp);
    (out, times.get(times.len() / 2).copied().unwrap_or(f64::NAN))
}

/// `y = W x` straight from the coded matrix, read back (checks the decoder status).
pub async fn run_fused(
    ctx: &GpuContext,
    fused: &GemvFused,
    key: &FusedKey,
    w: &GpuCodedMatrix,
    x: &[f32],
) -> ecq::Result<Vec<f32>> {
    let stride = w.cols.div_ceil(4) * 4;
    let mut xs = vec![0f32; stride];
    xs[..w.cols].copy_from_slice(x);
    let xbuf = ctx.storage_buffer("ecq x", bytemuck::cast_slice(&xs));
    let ybuf = ctx.storage_buffer("ecq y", bytemuck::cast_slice(&vec![f32::NAN; w.rows]));
    let status = rans_decode::status_buffer(ctx);
    let plan = fused.plan(
        key,
        w,
        Vectors { buffer: &xbuf, stride: stride as u32 },
        Vectors { buffer: &ybuf, stride: w.rows as u32 },
        &status,
    )?;
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        plan.encode(&mut pass);
    }
    ctx.queue.submit([enc.finish()]);
    rans_decode::check_status(ctx, "fused", &status).await?;
    let mut y: Vec<f32> = ctx.read_vec(&ybuf).await?;
    y.truncate(w.rows);
    Ok(y)
}

/// An error as a sentence for the page: what happened and what to do about it.
pub fn plain_error(e: &Error) -> String {
    match e {
        Error::NoAdapter(_) => format!(
            "This browser has WebGPU but gave the page no GPU adapter ({e}). The GPU may be blocklisted: in Chrome \
             or Edge open chrome://gpu, or start the browser with --enable-unsafe-webgpu (on Linux also \
             --enable-features=Vulkan)."
        ),
        Error::RequestDevice(m) => format!("The GPU adapter refused to create a device: {m}."),
        Error::Container(_) | Error::InvalidFile { .. } | Error::Rans(_) => {
            format!("This is not a valid .ecq file, or it is damaged: {e}.")
        }
        Error::Gpu(m) => format!("The GPU reported an error: {m}."),
        Error::Unsupported(m) => format!("This device cannot run a step the file needs: {m}."),
        _ => format!("{e}."),
    }
}

/// Milliseconds from an arbitrary origin: `performance.now()` in the browser.
pub fn now_ms() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        web_sys::window().and_then(|w| w.performance()).map_or_else(js_sys::Date::now, |p| p.now())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
        ORIGIN.get_or_init(std::time::Instant::now).elapsed().as_secs_f64() * 1e3
    }
}

// ---- JavaScript API ----

/// Installs a panic hook that writes the panic to the console (called once by the page).
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| web_sys::console::error_1(&format!("ecq panicked: {info}").into())));
}

/// Runs the demo on `bytes` (a `.ecq` file's content), or on the built-in file when `bytes` is
/// `undefined`. `log` is called with a line per step. Resolves to the report as JSON; rejects
/// with an error in plain words.
#[wasm_bindgen(js_name = runDemo)]
pub async fn run_demo(bytes: Option<Vec<u8>>, name: Option<String>, log: js_sys::Function) -> Result<String, JsValue> {
    let mut progress = |s: &str| {
        let _ = log.call1(&JsValue::NULL, &JsValue::from_str(s));
    };
    let err = |e: Error| JsValue::from_str(&plain_error(&e));
    let (bytes, source, build_ms) = match bytes {
        Some(b) => (b, name.unwrap_or_else(|| "chosen file".into()), None),
        None => {
            progress("building the built-in file: quantizing the MiniLM layer to q4g64 and rANS-coding it in WASM");
            let (b, ms) = default_file().map_err(err)?;
            (b, "built-in fixture (MiniLM layer 0, q4g64 rANS)".to_string(), Some(ms))
        }
    };
    progress("requesting a WebGPU device");
    let ctx = context().await.map_err(err)?;
    progress(&format!("adapter: {} ({})", ctx.caps.adapter_name, ctx.caps.backend));
    let report = run(&ctx, &bytes, &source, build_ms, &mut progress).await.map_err(err)?;
    serde_json::to_string(&report).map_err(|e| JsValue::from_str(&e.to_string()))
}

/// The built-in `.ecq` file's bytes (to offer as a download).
#[wasm_bindgen(js_name = defaultFile)]
pub fn default_file_js() -> Result<Vec<u8>, JsValue> {
    default_file().map(|(b, _)| b).map_err(|e| JsValue::from_str(&plain_error(&e)))
}
