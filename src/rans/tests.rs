//! Round trips, size against entropy, validation and corruption.

use proptest::prelude::*;

use super::*;

/// splitmix64: deterministic inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` symbols from 16 levels of a discretized Gaussian (sigma 3.4 levels: ~3.70 bits).
fn gaussian16(n: usize, seed: u64) -> Vec<u8> {
    let w: Vec<f64> = (0..16).map(|k| (-((k as f64 - 7.5) / 3.4).powi(2) / 2.0).exp()).collect();
    let total: f64 = w.iter().sum();
    let mut cdf = Vec::new();
    let mut acc = 0.0;
    for x in &w {
        acc += x / total;
        cdf.push(acc);
    }
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let u = rng.unit();
            cdf.iter().position(|&c| u < c).unwrap_or(15) as u8
        })
        .collect()
}

fn round_trip(symbols: &[u8], table: &FreqTable, block_len: usize) -> Encoded {
    let enc = encode(symbols, table, block_len).unwrap();
    assert_eq!(enc.decode().unwrap(), symbols);
    let dec = enc.block_decoder();
    for b in 0..enc.n_blocks() {
        let r = enc.block_symbols(b);
        let mut out = vec![0xAA; r.len()];
        dec.decode_block(b, &mut out).unwrap();
        assert_eq!(out, symbols[r]);
    }
    let bytes = enc.to_bytes();
    assert_eq!(bytes.len(), enc.sizes().total());
    assert_eq!(Encoded::from_bytes(&bytes).unwrap(), enc);
    enc
}

/// Symbols with a random alphabet and a skewed or uniform distribution.
fn symbols_strategy() -> impl Strategy<Value = (Vec<u8>, u8)> {
    (1usize..=256, 0.0f64..3.0, any::<u64>(), prop_oneof![Just(0usize), Just(1), Just(31), Just(33), 0usize..3000])
        .prop_map(|(alphabet, skew, seed, n)| {
            // Weights k^-skew: 0 is uniform, 3 is very skewed.
            let w: Vec<f64> = (1..=alphabet).map(|k| (k as f64).powf(-skew)).collect();
            let total: f64 = w.iter().sum();
            let mut rng = Rng(seed);
            let syms = (0..n)
                .map(|_| {
                    let mut u = rng.unit() * total;
                    w.iter()
                        .position(|&x| {
                            u -= x;
                            u < 0.0
                        })
                        .unwrap_or(alphabet - 1) as u8
                })
                .collect();
            (syms, (alphabet - 1) as u8)
        })
}

/// A table covering `symbols` (and `0..=max_symbol`, so the alphabet may be wider than the data).
fn table_for(symbols: &[u8], max_symbol: u8, prob_bits: u32, wide: bool) -> FreqTable {
    let mut hist = histogram(symbols);
    if wide || symbols.is_empty() {
        hist[..=max_symbol as usize].iter_mut().for_each(|c| *c += 1);
    }
    FreqTable::from_histogram(&hist, prob_bits).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn round_trips((symbols, max_symbol) in symbols_strategy(), prob_bits in 10u32..=12,
                   block_len in prop_oneof![1usize..100, 100usize..5000], wide: bool) {
        let table = table_for(&symbols, max_symbol, prob_bits, wide);
        round_trip(&symbols, &table, block_len);
    }

    #[test]
    fn normalization_is_optimal(hist in prop::collection::vec(prop_oneof![Just(0u64), 1u64..10, 1u64..1_000_000], 1..=256),
                                prob_bits in 10u32..=12) {
        prop_assume!(hist.iter().any(|&c| c > 0));
        let t = FreqTable::from_histogram(&hist, prob_bits).unwrap();
        for (s, &c) in hist.iter().enumerate() {
            prop_assert!(c == 0 || t.freq(s as u8) >= 1);
        }
        // Independent optimum: start from 1 per occurring symbol and hand out the remaining
        // units one by one to the largest marginal gain (optimal for a separable concave gain).
        let mut f: Vec<u32> = hist.iter().map(|&c| u32::from(c > 0)).collect();
        for _ in f.iter().sum::<u32>()..(1 << prob_bits) {
            let j = (0..f.len()).filter(|&s| hist[s] > 0)
                .max_by(|&a, &b| {
                    let g = |s: usize| hist[s] as f64 * ((f[s] + 1) as f64 / f[s] as f64).log2();
                    g(a).total_cmp(&g(b))
                }).unwrap();
            f[j] += 1;
        }
        let greedy = FreqTable::new(prob_bits, f).unwrap().cost_bits(&hist);
        prop_assert!(t.cost_bits(&hist) <= greedy * (1.0 + 1e-12) + 1e-9, "{} > {}", t.cost_bits(&hist), greedy);
    }

    #[test]
    fn corruption_never_panics((symbols, max_symbol) in symbols_strategy(), block_len in 1usize..700,
                               target in 0usize..4, pos: usize, flip in 1u8..=255) {
        let table = table_for(&symbols, max_symbol, 12, false);
        let enc = encode(&symbols, &table, block_len).unwrap();
        let mut bytes = enc.to_bytes();
        // 0: words, 1: states, 2: table, 3: anywhere. A flip is always caught by the checksum;
        // with the checksum recomputed, the decoder's own checks must hold without panicking.
        let sizes = enc.sizes();
        let words_at = bytes.len() - sizes.words;
        let states_at = words_at - sizes.states;
        let (lo, hi) = match target {
            0 => (words_at, bytes.len()),
            1 => (states_at, words_at),
            2 => (HEADER_BYTES, HEADER_BYTES + 2 * table.alphabet_len()),
            _ => (0, bytes.len()),
        };
        prop_assume!(hi > lo);
        let i = lo + pos % (hi - lo);
        bytes[i] ^= flip;
        prop_assert!(Encoded::from_bytes(&bytes).is_err());
        bytes[24..32].fill(0);
        let sum = format::checksum(&bytes);
        bytes[24..32].copy_from_slice(&sum.to_le_bytes());
        if let Ok(bad) = Encoded::from_bytes(&bytes) {
            let _ = bad.decode();
            let dec = bad.block_decoder();
            for b in 0..bad.n_blocks() {
                let mut out = vec![0; bad.block_symbols(b).len()];
                let _ = dec.decode_block(b, &mut out);
            }
        }
    }
}

#[test]
fn tiny_and_odd_sizes() {
    let data = gaussian16(1000, 7);
    let table = FreqTable::from_symbols(&data, 12).unwrap();
    for n in [0, 1, 2, 31, 32, 33, 63, 64, 65, 1000] {
        for block_len in [1, 7, 31, 32, 33, 64, 100, 1000, 5000] {
            round_trip(&data[..n], &table, block_len);
        }
    }
}

#[test]
fn empty_input_has_no_blocks() {
    let table = FreqTable::new(12, vec![4096]).unwrap();
    let enc = round_trip(&[], &table, 64);
    assert_eq!((enc.n_blocks(), enc.num_words(), enc.offsets()), (0, 0, &[0u32][..]));
}

#[test]
fn single_repeated_symbol_costs_no_words() {
    let symbols = vec![9u8; 12345];
    let table = FreqTable::from_symbols(&symbols, 10).unwrap();
    assert_eq!(table.freqs()[9], 1024);
    let enc = round_trip(&symbols, &table, 1000);
    assert_eq!(enc.num_words(), 0);
    assert!(enc.states().iter().all(|&x| x == STATE_LOWER));
}

#[test]
fn lone_symbol_in_a_wider_table() {
    let mut freqs = vec![0; 200];
    freqs[0] = 1;
    freqs[199] = 4095;
    let table = FreqTable::new(12, freqs).unwrap();
    round_trip(&[0], &table, 1);
    round_trip(&[0, 199, 0, 0, 199], &table, 2);
}

#[test]
#[allow(clippy::needless_range_loop)] // Indexed on purpose: it mirrors the per-lane pseudo-code.
fn word_order_matches_the_spec() {
    // Uniform 256 symbols at P = 12: freq 16, so a lane reads one word every two symbols.
    let table = FreqTable::new(12, vec![16; 256]).unwrap();
    let mut rng = Rng(3);
    let symbols: Vec<u8> = (0..32 * 9 + 5).map(|_| rng.next() as u8).collect();
    let enc = encode(&symbols, &table, symbols.len()).unwrap();
    // Re-decode with an independent, literal transcription of the module docs' pseudo-code.
    let t = table.packed_decode_table();
    let mut x: Vec<u32> = enc.states().to_vec();
    let mut cur = 0usize;
    let mut out = vec![0u8; symbols.len()];
    for step in 0..symbols.len().div_ceil(32) {
        let mut need = 0u32;
        for l in 0..32 {
            if step * 32 + l < symbols.len() {
                let slot = x[l] & 4095;
                let e = t[slot as usize];
                out[step * 32 + l] = (e & 0xff) as u8;
                x[l] = (((e >> 8) & 0xfff) + 1) * (x[l] >> 12) + slot - (e >> 20);
                need |= u32::from(x[l] < 1 << 16) << l;
            }
        }
        for l in 0..32 {
            if need >> l & 1 == 1 {
                let w = cur + (need & ((1u32 << l) - 1)).count_ones() as usize;
                x[l] = (x[l] << 16) | u32::from(enc.word(w).unwrap());
            }
        }
        cur += need.count_ones() as usize;
    }
    assert_eq!(out, symbols);
    assert_eq!(cur, enc.num_words());
    assert!(x.iter().all(|&s| s == STATE_LOWER));
}

#[test]
fn packed_words_layout() {
    let table = FreqTable::new(10, vec![4; 256]).unwrap();
    let symbols: Vec<u8> = (0..=255).collect();
    let enc = encode(&symbols, &table, 100).unwrap();
    assert_eq!(enc.packed_words().len(), enc.num_words().div_ceil(2));
    for i in 0..enc.num_words() {
        let w = enc.packed_words()[i / 2];
        assert_eq!(enc.word(i).unwrap(), if i % 2 == 0 { w as u16 } else { (w >> 16) as u16 });
    }
    if enc.num_words() % 2 == 1 {
        assert_eq!(enc.packed_words().last().unwrap() >> 16, 0);
    }
    assert_eq!(enc.word(enc.num_words()), None);
}

#[test]
fn coded_size_within_one_percent_of_entropy() {
    let n = 1 << 20;
    let symbols = gaussian16(n, 42);
    let hist = histogram(&symbols);
    let h = entropy_bits(&hist);
    assert!((3.6..3.8).contains(&h), "entropy {h}");
    let table = FreqTable::from_histogram(&hist, DEFAULT_PROB_BITS).unwrap();
    // Rows of 4096 symbols, as many as the overhead rule asks for.
    let rows = rows_per_block(&table, 4096, n / 4096);
    let enc = round_trip(&symbols, &table, rows * 4096);
    let sizes = enc.sizes();
    let shannon_bytes = h * n as f64 / 8.0;
    let ratio = sizes.total() as f64 / shannon_bytes;
    assert!(ratio < 1.01, "{rows} rows per block: {sizes:?}, {ratio} x entropy");
    // The payload alone is within 0.1% of the table's cross entropy.
    let payload = (sizes.words + sizes.states) as f64 * 8.0;
    let model = table.cost_bits(&hist);
    assert!(payload < model * 1.001 + (enc.n_blocks() * LANES * 32) as f64, "{payload} vs {model}");
}

#[test]
fn table_validation() {
    assert_eq!(FreqTable::new(9, vec![512]), Err(RansError::ProbBits(9)));
    assert_eq!(FreqTable::new(13, vec![8192]), Err(RansError::ProbBits(13)));
    assert_eq!(FreqTable::new(12, vec![]), Err(RansError::EmptyAlphabet));
    assert_eq!(FreqTable::new(12, vec![16; 257]), Err(RansError::TooManySymbols(257)));
    assert_eq!(FreqTable::new(12, vec![0, 0]), Err(RansError::FreqSum { sum: 0, expected: 4096 }));
    assert_eq!(FreqTable::new(12, vec![4096, 1]), Err(RansError::FreqSum { sum: 4097, expected: 4096 }));
    assert_eq!(
        FreqTable::new(12, vec![u32::MAX, 4097]),
        Err(RansError::FreqSum { sum: (1 << 32) + 4096, expected: 4096 })
    );
    assert_eq!(FreqTable::from_histogram(&[0, 0, 0], 12), Err(RansError::ZeroSum));
    assert_eq!(FreqTable::from_histogram(&[1], 11).unwrap().freqs(), &[2048]);
    let mut wide = vec![0u64; 300];
    wide[299] = 1;
    assert_eq!(FreqTable::from_histogram(&wide, 12), Err(RansError::TooManySymbols(300)));
    wide[299] = 0;
    wide[3] = 1;
    assert_eq!(FreqTable::from_histogram(&wide, 12).unwrap().alphabet_len(), 4);
}

#[test]
fn decode_tables() {
    let table = FreqTable::from_symbols(&gaussian16(10_000, 1), 11).unwrap();
    let packed = table.packed_decode_table();
    let bytes = table.slot_symbols_packed();
    let info = table.symbol_info();
    assert_eq!((packed.len(), bytes.len(), info.len()), (2048, 512, 16));
    for (slot, &e) in packed.iter().enumerate() {
        let s = (e & 0xff) as usize;
        let (freq, cdf) = (((e >> 8) & 0xfff) + 1, e >> 20);
        assert_eq!((freq, cdf), (table.freqs()[s], table.cdf()[s]));
        assert!(cdf as usize <= slot && slot < (cdf + freq) as usize);
        assert_eq!((bytes[slot / 4] >> (8 * (slot % 4))) & 0xff, s as u32);
        assert_eq!(info[s], (cdf << 16) | freq);
    }
    // Full-range fields: one symbol with freq 4096 at cdf 0, and a last symbol at cdf 4095.
    let t = FreqTable::new(12, vec![4096]).unwrap();
    assert!(t.packed_decode_table().iter().all(|&e| e == 4095 << 8));
    let mut f = vec![0; 256];
    f[0] = 4095;
    f[255] = 1;
    let t = FreqTable::new(12, f).unwrap();
    assert_eq!(t.packed_decode_table()[4095], (4095 << 20) | 255);
}

#[test]
fn entropy_helpers() {
    assert_eq!(entropy_bits(&[]), 0.0);
    assert_eq!(entropy_bits(&[0, 5, 0]), 0.0);
    assert!((entropy_bits(&[3; 16]) - 4.0).abs() < 1e-12);
    assert!((entropy_bits(&[1, 1, 2]) - 1.5).abs() < 1e-12);
    let symbols = gaussian16(3 << 20, 5);
    let h = histogram(&symbols);
    assert_eq!(h.iter().sum::<u64>(), symbols.len() as u64);
    assert_eq!(h[3], symbols.iter().filter(|&&s| s == 3).count() as u64);
    let t = FreqTable::from_histogram(&h, 12).unwrap();
    assert!((t.entropy_bits() - entropy_bits(&h)).abs() < 0.01);
    assert!(t.cost_bits(&h) >= entropy_bits(&h) * symbols.len() as f64);
    assert_eq!(FreqTable::new(12, vec![4096, 0]).unwrap().cost_bits(&[1, 1]), f64::INFINITY);
}

#[test]
fn prob_bits_choice() {
    assert_eq!(choose_prob_bits(&[5; 16], 0.0).unwrap(), 10);
    let mut skewed = vec![1_000_000u64; 8];
    skewed.extend([1; 200]);
    assert_eq!(choose_prob_bits(&skewed, 1e-6).unwrap(), 12);
    assert_eq!(choose_prob_bits(&[0], 0.0), Err(RansError::ZeroSum));
}

#[test]
fn rows_per_block_rule() {
    let table = FreqTable::from_symbols(&gaussian16(100_000, 9), 12).unwrap();
    let h = table.entropy_bits();
    let overhead = |r: usize| BLOCK_OVERHEAD_BYTES as f64 / (r as f64 * 4096.0 * h / 8.0);
    let r = rows_per_block(&table, 4096, 1000);
    assert!(overhead(r) < 0.01 && overhead(r - 1) >= 0.01, "{r} rows");
    assert_eq!(r, 7);
    assert_eq!(rows_per_block(&table, 4096, 3), 3);
    assert_eq!(rows_per_block(&table, 1 << 20, 100), 1);
    assert_eq!(rows_per_block_with(&table, 4096, 1000, 0.001), 70);
    let single = FreqTable::new(12, vec![4096]).unwrap();
    assert_eq!(rows_per_block(&single, 4096, 50), 50);
    assert_eq!(rows_per_block(&table, 4096, 0), 1);
}

#[test]
fn encode_errors() {
    let table = FreqTable::new(10, vec![512, 0, 512]).unwrap();
    assert_eq!(encode(&[0, 2, 0], &table, 0), Err(RansError::ZeroBlockLen));
    assert_eq!(encode(&[0, 2, 0, 1], &table, 2), Err(RansError::SymbolNotInTable { index: 3, symbol: 1 }));
    assert_eq!(encode(&[0, 2, 7], &table, 2), Err(RansError::SymbolNotInTable { index: 2, symbol: 7 }));
}

/// A stream of several blocks to damage.
fn sample() -> (Vec<u8>, Encoded) {
    let symbols = gaussian16(5000, 11);
    let table = FreqTable::from_symbols(&symbols, 12).unwrap();
    let enc = encode(&symbols, &table, 1000).unwrap();
    (symbols, enc)
}

/// Rebuilds `enc` with block 2's words changed by `edit` (offsets follow).
fn with_block2_words(enc: &Encoded, edit: impl FnOnce(&mut Vec<u16>)) -> Encoded {
    let all: Vec<u16> = (0..enc.num_words()).map(|i| enc.word(i).unwrap()).collect();
    let o = enc.offsets();
    let (a, b) = (o[2] as usize, o[3] as usize);
    let mut mid = all[a..b].to_vec();
    edit(&mut mid);
    let delta = mid.len() as i64 - (b - a) as i64;
    let words16: Vec<u16> = all[..a].iter().chain(&mid).chain(&all[b..]).copied().collect();
    let offsets = o.iter().enumerate().map(|(i, &x)| if i >= 3 { (x as i64 + delta) as u32 } else { x }).collect();
    let packed = words16.chunks(2).map(|c| u32::from(c[0]) | c.get(1).map_or(0, |&h| u32::from(h) << 16)).collect();
    Encoded::from_parts(
        enc.table().clone(),
        enc.n_symbols() as u32,
        enc.block_len() as u32,
        enc.states().to_vec(),
        offsets,
        packed,
        words16.len() as u32,
    )
    .unwrap()
}

#[test]
fn missing_word_is_reported() {
    let (symbols, enc) = sample();
    let bad = with_block2_words(&enc, |w| {
        w.pop();
    });
    assert!(matches!(bad.decode(), Err(RansError::WordsExhausted { block: 2, .. })));
    let mut out = vec![0; 1000];
    bad.decode_block(1, &mut out).unwrap();
    assert_eq!(out, symbols[1000..2000]);
    bad.decode_block(3, &mut out).unwrap();
    assert_eq!(out, symbols[3000..4000]);
}

#[test]
fn leftover_word_is_reported() {
    let (_, enc) = sample();
    let count = enc.offsets()[3] - enc.offsets()[2];
    let bad = with_block2_words(&enc, |w| w.push(0x1234));
    assert_eq!(bad.decode(), Err(RansError::LeftoverWords { block: 2, used: count, count: count + 1 }));
}

#[test]
fn bad_states_are_reported() {
    let table = FreqTable::new(12, vec![0, 4096]).unwrap();
    let enc = encode(&[1; 100], &table, 64).unwrap();
    let rebuild = |states: Vec<u32>| {
        Encoded::from_parts(table.clone(), 100, 64, states, enc.offsets().to_vec(), vec![], 0).unwrap()
    };
    let mut states = enc.states().to_vec();
    states[32 + 3] += 5;
    assert_eq!(
        rebuild(states.clone()).decode(),
        Err(RansError::FinalState { block: 1, lane: 3, state: STATE_LOWER + 5 })
    );
    states[7] = 5;
    let mut out = vec![0; 64];
    assert_eq!(rebuild(states).decode_block(0, &mut out), Err(RansError::InitialState { block: 0, lane: 7, state: 5 }));
}

#[test]
fn api_misuse_is_reported() {
    let (_, enc) = sample();
    let mut out = vec![0; 10];
    assert_eq!(enc.decode_into(&mut out), Err(RansError::Length { what: "output", expected: 5000, actual: 10 }));
    assert_eq!(enc.decode_block(5, &mut out), Err(RansError::BlockIndex { block: 5, n_blocks: 5 }));
    assert!(matches!(enc.decode_block(4, &mut out), Err(RansError::Length { .. })));
    let parts = |states: usize, offsets: Vec<u32>, words: usize, num_words: u32| {
        Encoded::from_parts(
            enc.table().clone(),
            5000,
            1000,
            vec![STATE_LOWER; states],
            offsets,
            vec![0; words],
            num_words,
        )
    };
    assert!(matches!(parts(31 * 5, vec![0; 6], 0, 0), Err(RansError::Length { what: "states", .. })));
    assert!(matches!(parts(32 * 5, vec![0; 5], 0, 0), Err(RansError::Length { what: "offsets", .. })));
    assert!(matches!(parts(32 * 5, vec![0; 6], 1, 3), Err(RansError::Length { what: "packed words", .. })));
    assert!(matches!(parts(32 * 5, vec![0, 2, 1, 3, 3, 3], 2, 3), Err(RansError::Offset { block: 1, .. })));
    assert!(matches!(parts(32 * 5, vec![1, 1, 1, 3, 3, 3], 2, 3), Err(RansError::Offset { block: 0, .. })));
    assert!(matches!(parts(32 * 5, vec![0, 1, 1, 2, 2, 2], 2, 3), Err(RansError::Offset { block: 4, .. })));
    assert_eq!(
        Encoded::from_parts(enc.table().clone(), 5, 0, vec![], vec![0], vec![], 0),
        Err(RansError::ZeroBlockLen)
    );
}

#[test]
fn serialized_form_is_checked() {
    let (_, enc) = sample();
    let bytes = enc.to_bytes();
    assert_eq!(&bytes[..4], b"RANS");
    let err = |b: &[u8]| match Encoded::from_bytes(b) {
        Err(RansError::Format { msg, .. }) => msg,
        other => panic!("{other:?}"),
    };
    assert_eq!(err(&bytes[..20]), "truncated header");
    assert_eq!(err(&bytes[..bytes.len() - 4]), "length does not match the header");
    let mut b = bytes.clone();
    b[0] = b'X';
    assert_eq!(err(&b), "bad magic");
    let mut b = bytes.clone();
    *b.last_mut().unwrap() ^= 1;
    assert_eq!(err(&b), "checksum mismatch");
    let mut b = bytes.clone();
    b[7] = 16;
    assert_eq!(err(&b), "lane count is not 32");
}

#[test]
fn crate_error_wraps_rans_errors() {
    let e: crate::Error = RansError::ZeroBlockLen.into();
    assert!(matches!(e, crate::Error::Rans(RansError::ZeroBlockLen)));
    assert_eq!(e.to_string(), "rANS: block length must be at least 1");
}

#[test]
fn gpu_params_match_the_stream() {
    let (_, enc) = sample();
    let p = enc.gpu_params();
    assert_eq!(p, GpuParams { n_symbols: 5000, block_len: 1000, n_blocks: 5, prob_bits: 12 });
    assert_eq!(bytemuck::bytes_of(&p).len(), 16);
}
