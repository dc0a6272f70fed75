//! `ecq bench decode`: GPU rANS decode throughput in symbols/s, against the copy roofline and the
//! break-even rate at which fused decode would beat reading plain 4-bit codes.

use serde::Serialize;

use super::{Roofline, Timing, time_passes};
use crate::Result;
use crate::gpu::timer::median;
use crate::gpu::{GpuContext, PipelineKey};
use crate::kernels::rans_decode::{
    CodeLayout, GpuRansStream, RansDecode, RansDecodeKey, check_status, key_for, status_buffer,
};
use crate::rans::{self, FreqTable};
use crate::rng::Rng;

/// Decoded symbols per byte/s of bandwidth at which fused decode + GEMV matches a plain GEMV over
/// 4.5-bit codes (../shared/notes/field.md): 1 / (0.5625 B per weight) = 1.78.
pub const BREAK_EVEN_SYMBOLS_PER_BYTE: f64 = 1.0 / 0.5625;

/// One measured decode.
#[derive(Clone, Debug, Serialize)]
pub struct DecodeResult {
    /// Symbols decoded.
    pub symbols: usize,
    /// Code width written.
    pub bits: u32,
    /// Entropy of the symbols, bits.
    pub entropy_bits: f64,
    /// Coded size per symbol, all overhead included.
    pub coded_bits_per_symbol: f64,
    /// Median GPU time, microseconds.
    pub us: f64,
    /// Decoded symbols per second / 1e9.
    pub gsym_per_s: f64,
    /// Bytes read (stream) plus written (packed codes) per second / 1e9.
    pub gbps: f64,
    /// gbps over the copy roofline.
    pub ratio_to_copy: f64,
    /// Symbols per second over the copy roofline's bytes per second (break-even: 1.78).
    pub symbols_per_byte: f64,
    /// Decoder variant.
    pub variant: String,
    /// Adapter name.
    pub adapter: String,
}

/// Codes like 4-bit quantized real weights: a rounded Gaussian over `2^bits` levels whose spread
/// gives about `bits - 0.3` bits of entropy (3.7 for 4 bits, as measured on real models).
pub fn weight_like_codes(n: usize, bits: u32, rng: &mut Rng) -> Vec<u8> {
    let levels = (1u32 << bits) as f32;
    let sd = levels / 5.0;
    (0..n).map(|_| (rng.normal() * sd + levels / 2.0).round().clamp(0.0, levels - 1.0) as u8).collect()
}

/// Encodes `rows x cols` weight-like codes (blocks of whole rows) and times decoding them into the
/// packed GEMV layout, with the tuned decoder and, with `sweep`, variants of it.
pub async fn measure(
    ctx: &GpuContext,
    rows: usize,
    cols: usize,
    bits: u32,
    sweep: bool,
    timing: Timing,
    roof: &Roofline,
) -> Result<Vec<DecodeResult>> {
    let mut rng = Rng::new(11);
    let codes = weight_like_codes(rows * cols, bits, &mut rng);
    let hist = rans::histogram(&codes);
    let table = FreqTable::from_histogram(&hist, rans::DEFAULT_PROB_BITS)?;
    let per_block = rans::rows_per_block(&table, cols, rows);
    let enc = rans::encode(&codes, &table, per_block * cols)?;
    let layout = CodeLayout { bits, row_len: cols as u32, row_words: crate::quant::pack::words_for(cols, bits) as u32 };
    let tuned = key_for(&ctx.caps, &enc, &layout);
    let mut keys = vec![tuned];
    if sweep {
        for groups in [1, 2, 4, 8, 16] {
            for table_shared in [tuned.table_shared, false] {
                let k = RansDecodeKey { groups, table_shared, ..tuned };
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
    }
    let dec = RansDecode::new(ctx);
    let stream = GpuRansStream::upload(ctx, "bench", &enc)?;
    let out = ctx.storage_buffer_empty("bench decode out", (layout.words(enc.n_symbols()) * 4) as u64);
    let mut results = Vec::new();
    for key in keys {
        let status = status_buffer(ctx);
        let plan = dec.plan(&key, &stream, &layout, &out, &status)?;
        let ns = time_passes(ctx, timing, &mut |pass, _| plan.encode(pass)).await?;
        check_status(ctx, "bench", &status).await?;
        let t = median(&ns);
        let n = enc.n_symbols();
        let bytes = enc.sizes().total() + layout.words(n) * 4;
        let gsym = n as f64 / t;
        results.push(DecodeResult {
            symbols: n,
            bits,
            entropy_bits: rans::entropy_bits(&hist),
            coded_bits_per_symbol: enc.sizes().bits_per_symbol(n),
            us: t / 1e3,
            gsym_per_s: gsym,
            gbps: bytes as f64 / t,
            ratio_to_copy: bytes as f64 / t / roof.copy_gbps,
            symbols_per_byte: gsym / roof.copy_gbps,
            variant: key.label(),
            adapter: ctx.caps.adapter_name.clone(),
        });
    }
    Ok(results)
}
