//! GPU rANS decode against the CPU reference decoder: bit-exact, on every path and layout.

mod common;

use ecq::gpu::GpuContext;
use ecq::kernels::rans_decode::{CodeLayout, decode_packed, decode_symbols};
use ecq::quant::pack;
use ecq::rans::{self, Encoded, FreqTable};
use ecq::rng::Rng;

/// `n` symbols below `alphabet` with a skew: small values far more likely (like codes of
/// real weights), or uniform.
fn symbols(rng: &mut Rng, n: usize, alphabet: u32, skewed: bool) -> Vec<u8> {
    (0..n)
        .map(|_| {
            if skewed {
                let g = (rng.normal() * alphabet as f32 / 6.0 + alphabet as f32 / 2.0).round();
                g.clamp(0.0, alphabet as f32 - 1.0) as u8
            } else {
                rng.below(u64::from(alphabet)) as u8
            }
        })
        .collect()
}

fn encode(s: &[u8], prob_bits: u32, block_len: usize) -> Encoded {
    let table = FreqTable::from_symbols(s, prob_bits).unwrap();
    rans::encode(s, &table, block_len).unwrap()
}

/// Decodes codes of `bits` in rows of `cols` (blocks of whole rows) and compares with packing
/// the CPU decode.
fn check_packed(
    ctx: &GpuContext,
    rng: &mut Rng,
    seed: u64,
    bits: u32,
    rows: usize,
    cols: usize,
    rows_per_block: usize,
) {
    let s = symbols(rng, rows * cols, 1 << bits, true);
    let enc = encode(&s, 12, rows_per_block * cols);
    let cpu = enc.decode().unwrap();
    assert_eq!(cpu, s);
    let row_words = pack::words_for(cols.div_ceil(32) * 32, bits) as u32;
    let layout = CodeLayout { bits, row_len: cols as u32, row_words };
    let got = pollster::block_on(decode_packed(ctx, "t", &enc, &layout)).unwrap();
    let mut want = vec![0u32; rows * row_words as usize];
    for r in 0..rows {
        pack::pack_into(
            &cpu[r * cols..(r + 1) * cols],
            bits,
            &mut want[r * row_words as usize..(r + 1) * row_words as usize],
        );
    }
    assert!(got == want, "seed {seed}: {bits}-bit codes {rows}x{cols}, {rows_per_block} rows per block differ");
}

fn check_all_layouts(ctx: &GpuContext) {
    let (mut rng, seed) = Rng::fresh();
    // Whole-word path (rows a multiple of 32) and any-layout path (odd rows, 3-bit codes).
    for bits in [2, 3, 4, 8] {
        check_packed(ctx, &mut rng, seed, bits, 67, 256, 5);
        check_packed(ctx, &mut rng, seed, bits, 9, 200, 2);
        check_packed(ctx, &mut rng, seed, bits, 1, 32, 1);
    }
    // Byte output of arbitrary streams: tiny, odd, single-symbol, uniform, 256-symbol alphabets.
    for (n, alphabet, skewed, block_len, p) in [
        (1usize, 16u32, true, 32usize, 12u32),
        (31, 16, false, 32, 10),
        (33, 2, true, 64, 11),
        (1000, 256, false, 96, 12),
        (5000, 1, true, 1024, 12),
        (100_000, 16, true, 28_672, 12),
        (4097, 200, true, 4000, 12),
    ] {
        let s = symbols(&mut rng, n, alphabet, skewed);
        let enc = encode(&s, p, block_len);
        let got = pollster::block_on(decode_symbols(ctx, &enc)).unwrap();
        assert!(got == s, "seed {seed}: {n} symbols of {alphabet}, blocks of {block_len}, P={p} differ");
    }
}

#[test]
fn gpu_decode_is_bit_exact() {
    check_all_layouts(&common::gpu());
}

#[test]
fn gpu_decode_fallback_path_is_bit_exact() {
    let ctx = common::gpu_fallback();
    assert!(!ctx.caps.subgroups);
    check_all_layouts(&ctx);
}

#[test]
fn corrupted_streams_are_reported_or_decode_correctly() {
    let ctx = common::gpu();
    let (mut rng, seed) = Rng::fresh();
    let s = symbols(&mut rng, 20_000, 16, true);
    let enc = encode(&s, 12, 2048);
    let mut reported = 0;
    for trial in 0..24 {
        let mut words = enc.packed_words().to_vec();
        let mut states = enc.states().to_vec();
        if trial % 2 == 0 {
            let i = rng.below(words.len() as u64) as usize;
            words[i] ^= 1 << rng.below(32);
        } else {
            let i = rng.below(states.len() as u64) as usize;
            states[i] ^= 1 << rng.below(32);
        }
        // Corrupt states below 2^16 are rejected on the host; the GPU must then never run.
        let Ok(bad) = Encoded::from_parts(
            enc.table().clone(),
            enc.n_symbols() as u32,
            enc.block_len() as u32,
            states,
            enc.offsets().to_vec(),
            words,
            enc.num_words() as u32,
        ) else {
            continue;
        };
        match pollster::block_on(decode_symbols(&ctx, &bad)) {
            Err(e) => {
                assert!(e.to_string().contains("corrupted block"), "{e}");
                reported += 1;
            }
            Ok(got) => {
                assert_eq!(got, bad.decode().unwrap(), "seed {seed}: GPU accepted a stream the CPU decodes differently")
            }
        }
    }
    assert!(reported > 0, "seed {seed}: no corruption was detected in 24 trials");
}
